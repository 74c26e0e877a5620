/**
 * ecto's error hierarchy. Every error carries the one sentence a user needs
 * (`message`), and where there is one, the fix (a command or a URL). `cli.ts`
 * maps them to exit codes in one place via {@link exitCodeFor}.
 *
 * Exit codes (the contract scripts and the OpenClaw skill rely on):
 * 0 ok, 1 failed, 2 usage, 3 the user must act, 4 a prerequisite is missing
 * and ecto will not install it without consent.
 *
 * @module
 */

/** Exit codes, the one place they are defined. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  actionRequired: 3,
  missingPrerequisite: 4,
} as const;

/** One of the values of {@link ExitCode}. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/** Options shared by every ecto error. */
export interface EctoErrorOptions {
  /** The command or URL that fixes the problem, when there is one. */
  fix?: string;
  /** The underlying error (shown with `--verbose`). */
  cause?: unknown;
}

/** Base class: a failure ecto understands (exit 1). */
export class EctoError extends Error {
  /** Stable machine-readable code, e.g. `tailscale_not_running`. */
  readonly code: string;
  /** The command or URL that fixes it. */
  readonly fix?: string;
  /** Exit code for this kind of failure. */
  readonly exitCode: ExitCodeValue = ExitCode.failed;

  /** Makes an error with a stable `code`, the one-sentence `message`, an optional fix and cause. */
  constructor(code: string, message: string, options: EctoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EctoError";
    this.code = code;
    if (options.fix !== undefined) this.fix = options.fix;
  }
}

/** Bad command-line input (exit 2). */
export class UsageError extends EctoError {
  /** Always `ExitCode.usage` (2). */
  override readonly exitCode: ExitCodeValue = ExitCode.usage;
  /** Makes a usage error (code `usage`) with the one-sentence `message`. */
  constructor(message: string, options: EctoErrorOptions = {}) {
    super("usage", message, options);
    this.name = "UsageError";
  }
}

/**
 * The user must do something ecto cannot do for them (exit 3): open a login
 * URL, enable Funnel in the admin console, grant sudo, or give consent.
 */
export class ActionRequiredError extends EctoError {
  /** Always `ExitCode.actionRequired` (3). */
  override readonly exitCode: ExitCodeValue = ExitCode.actionRequired;
  /** A URL the user has to visit, when the action is a web page. */
  readonly url?: string;
  /** Makes the error; `options.url` is the page the user must open, when there is one. */
  constructor(code: string, message: string, options: EctoErrorOptions & { url?: string } = {}) {
    super(code, message, options);
    this.name = "ActionRequiredError";
    if (options.url !== undefined) this.url = options.url;
  }
}

/** A prerequisite is missing and ecto will not install it without consent (exit 4). */
export class MissingPrerequisiteError extends EctoError {
  /** Always `ExitCode.missingPrerequisite` (4). */
  override readonly exitCode: ExitCodeValue = ExitCode.missingPrerequisite;
  /** Makes the error with a stable `code` and the one-sentence `message`. */
  constructor(code: string, message: string, options: EctoErrorOptions = {}) {
    super(code, message, options);
    this.name = "MissingPrerequisiteError";
  }
}

/**
 * A program ecto ran failed unexpectedly. Carries the tool, its exit code and
 * the tail of its stderr (never argv, which could hold a secret).
 */
export class ToolError extends EctoError {
  /** The program, e.g. `tailscale`. */
  readonly tool: string;
  /** Its exit code. */
  readonly toolExitCode: number;
  /** The last lines of its stderr. */
  readonly stderrTail: string;
  /**
   * Makes the error (code `<tool>_failed`); keeps only the last 8 non-empty
   * lines of `stderr`.
   */
  constructor(
    tool: string,
    toolExitCode: number,
    stderr: string,
    message: string,
    options: EctoErrorOptions = {},
  ) {
    super(`${tool}_failed`, message, options);
    this.name = "ToolError";
    this.tool = tool;
    this.toolExitCode = toolExitCode;
    this.stderrTail = tail(stderr, 8);
  }
}

/** The exit code for any thrown value: ecto errors know theirs, anything else is 1. */
export function exitCodeFor(error: unknown): ExitCodeValue {
  return error instanceof EctoError ? error.exitCode : ExitCode.failed;
}

/** The last `lines` non-empty lines of a text. */
export function tail(text: string, lines: number): string {
  return text.split("\n").filter((l) => l.trim() !== "").slice(-lines).join("\n");
}

/** The error and its `cause` chain, outermost first (at most 10 deep, so a cycle ends). */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && chain.length < 10; e = (e as Error)?.cause) {
    chain.push(e);
    if (!(e instanceof Error)) break;
  }
  return chain;
}
