/**
 * Running the `openclaw` CLI: finding it, giving it the gateway's own
 * environment (HOME, OPENCLAW_* — otherwise it edits another file or refuses
 * to restart), and the one write ecto does: `openclaw config patch --stdin`
 * (secrets go through stdin, never argv).
 *
 * @module
 */
import {
  ActionRequiredError,
  EctoError,
  MissingPrerequisiteError,
  tail,
  ToolError,
} from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import { sleep } from "../core/poll.ts";

/** The command that installs OpenClaw (docs/install). */
export const OPENCLAW_INSTALL_COMMAND = "npm install -g openclaw@latest --allow-scripts=openclaw";

/** Where the `openclaw` CLI is. */
export interface OpenClawCli {
  /** Absolute path (or, in tests, a name registered on the injected `$`). */
  bin: string;
  /** How it was found (`given`: passed in by the caller). */
  source: "ECTO_OPENCLAW" | "PATH" | "given";
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return false;
    return Deno.build.os === "windows" || info.mode === null || (info.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Finds the `openclaw` CLI: `$ECTO_OPENCLAW` when set, else the first
 * executable `openclaw` on `PATH`.
 *
 * @throws {MissingPrerequisiteError} (exit 4) with the install command when
 *   there is none, or when `ECTO_OPENCLAW` points at nothing executable.
 */
export async function locateOpenClaw(env: EnvLookup): Promise<OpenClawCli> {
  const explicit = env("ECTO_OPENCLAW");
  if (explicit) {
    if (await isExecutableFile(explicit)) return { bin: explicit, source: "ECTO_OPENCLAW" };
    throw new MissingPrerequisiteError(
      "openclaw_not_installed",
      `ECTO_OPENCLAW is set to ${explicit}, which is not an executable file.`,
      { fix: `Point ECTO_OPENCLAW at the openclaw binary, or unset it to use the one on PATH.` },
    );
  }
  const sep = Deno.build.os === "windows" ? ";" : ":";
  const names = Deno.build.os === "windows" ? ["openclaw.cmd", "openclaw.exe", "openclaw"] : [
    "openclaw",
  ];
  for (const dir of (env("PATH") ?? "").split(sep)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = `${dir}/${name}`;
      if (await isExecutableFile(candidate)) return { bin: candidate, source: "PATH" };
    }
  }
  throw new MissingPrerequisiteError(
    "openclaw_not_installed",
    "OpenClaw is not installed: there is no `openclaw` on PATH.",
    { fix: OPENCLAW_INSTALL_COMMAND },
  );
}

/**
 * Variables that decide which gateway/config the CLI acts on, or how it runs.
 * ecto passes exactly what its environment lookup says for these (unset ones
 * are removed), so the CLI acts on the same gateway ecto inspected.
 */
export const OPENCLAW_ENV_NAMES = [
  "HOME",
  "PATH",
  "USER",
  "LOGNAME",
  "LANG",
  "TMPDIR",
  "XDG_CONFIG_HOME",
  "XDG_RUNTIME_DIR",
  "DBUS_SESSION_BUS_ADDRESS",
  "OPENCLAW_HOME",
  "OPENCLAW_STATE_DIR",
  "OPENCLAW_CONFIG_PATH",
  "OPENCLAW_PROFILE",
  "OPENCLAW_LAUNCHD_LABEL",
  "OPENCLAW_SYSTEMD_UNIT",
  "OPENCLAW_GATEWAY_PORT",
  "OPENCLAW_GATEWAY_TOKEN",
  "OPENCLAW_GATEWAY_PASSWORD",
  "OPENCLAW_CONFIG_READONLY",
  "OPENCLAW_NIX_MODE",
  "OPENCLAW_AGENT_DIR",
  "OPENCLAW_DISABLE_BONJOUR",
  "OPENCLAW_NO_AUTO_UPDATE",
  "OPENCLAW_NO_RESPAWN",
  "OPENCLAW_SUPERVISOR_MODE",
  "OPENCLAW_LOAD_SHELL_ENV",
] as const;

/** The environment for an `openclaw` command: {@link OPENCLAW_ENV_NAMES} from `env`, unset when absent. */
export function openClawCommandEnv(env: EnvLookup): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of OPENCLAW_ENV_NAMES) out[name] = env(name);
  out.NO_COLOR = "1";
  out.FORCE_COLOR = "0";
  return out;
}

/** The result of one `openclaw` run. */
export interface OpenClawRun {
  /** Exit code. */
  code: number;
  /** Standard output (secrets redacted). */
  stdout: string;
  /** Standard error (secrets redacted). */
  stderr: string;
  /** Wall-clock duration. */
  ms: number;
}

/** Options of {@link runOpenClaw}. */
export interface RunOpenClawOptions {
  /** Text for stdin (how secrets reach the CLI). */
  stdin?: string;
  /** Bound of the run, default 120 s (the CLI takes 2–14 s; 30 s for `gateway restart`). */
  timeoutMs?: number;
  /** Strings to blank out of stdout/stderr (the secret sent on stdin). */
  redact?: string[];
  /** Clock for the duration (tests). */
  now?: () => number;
}

/** Replaces every occurrence of each secret with `<redacted>`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join("<redacted>");
  return out;
}

/**
 * Runs `openclaw <args>` with the gateway's environment. Never throws on a
 * non-zero exit (that is an answer); throws {@link ToolError} when the
 * program cannot run or times out.
 */
export async function runOpenClaw(
  $: Shell,
  cli: OpenClawCli,
  env: EnvLookup,
  args: string[],
  opts: RunOpenClawOptions = {},
): Promise<OpenClawRun> {
  const now = opts.now ?? Date.now;
  const started = now();
  let command = $`${cli.bin} ${args}`
    .env(openClawCommandEnv(env))
    .stdout("piped")
    .stderr("piped")
    .noThrow()
    .timeout(opts.timeoutMs ?? 120_000);
  command = opts.stdin === undefined ? command.stdin("null") : command.stdinText(opts.stdin);
  let result;
  try {
    result = await command;
  } catch (error) {
    throw new ToolError(
      "openclaw",
      -1,
      redact(String(error), opts.redact),
      `Running \`openclaw ${args[0] ?? ""}\` failed: ${
        redact(String((error as Error).message ?? error), opts.redact)
      }`,
    );
  }
  const stdout = redact(result.stdout, opts.redact);
  const stderr = redact(result.stderr, opts.redact);
  if (result.code === 124) {
    throw new ToolError(
      "openclaw",
      124,
      stderr,
      `\`openclaw ${args.slice(0, 2).join(" ")}\` did not finish within ${
        Math.round((opts.timeoutMs ?? 120_000) / 1000)
      } s.`,
    );
  }
  return { code: result.code, stdout, stderr, ms: now() - started };
}

/** Parses the first JSON object in CLI output (the CLI may print warnings before it). */
export function parseCliJson(text: string): unknown {
  const start = text.indexOf("{");
  if (start < 0) return undefined;
  try {
    return JSON.parse(text.slice(start));
  } catch {
    // Trailing text after the JSON: try up to the last closing brace.
    const end = text.lastIndexOf("}");
    try {
      return JSON.parse(text.slice(start, end + 1));
    } catch {
      return undefined;
    }
  }
}

/** The refusal of a read-only managed config, before anything is written. */
export function configReadOnlyError(
  env: EnvLookup,
  configPath: string,
  patchKeys: string[],
): ActionRequiredError | undefined {
  const keys = patchKeys.length ? ` (${patchKeys.join(", ")})` : "";
  if (env("OPENCLAW_NIX_MODE") === "1") {
    return new ActionRequiredError(
      "openclaw_config_readonly",
      `OpenClaw runs in Nix mode (OPENCLAW_NIX_MODE=1), so ${configPath} is managed by Nix and ecto will not change it.`,
      { fix: `Set these keys in your Nix OpenClaw config${keys}, rebuild, then run ecto again.` },
    );
  }
  if (env("OPENCLAW_CONFIG_READONLY") === "1") {
    return new ActionRequiredError(
      "openclaw_config_readonly",
      `OpenClaw's config ${configPath} is marked read-only (OPENCLAW_CONFIG_READONLY=1), so ecto will not change it.`,
      { fix: `Set these keys where the config is generated${keys}, then run ecto again.` },
    );
  }
  return undefined;
}

/**
 * Checks that `configPath` can be written the way OpenClaw writes it (a
 * temp file in the same directory, then rename).
 *
 * @throws {EctoError} `openclaw_config_not_writable` naming the file and the fix.
 */
export async function assertConfigWritable(configPath: string): Promise<void> {
  const dir = configPath.slice(0, configPath.lastIndexOf("/")) || "/";
  const fail = (why: string, cause?: unknown) =>
    new EctoError("openclaw_config_not_writable", `OpenClaw config ${configPath} ${why}.`, {
      fix:
        `Make it writable by this user (ls -l ${configPath}; chmod u+w ${configPath}), or run ecto as the user who owns it.`,
      cause,
    });
  try {
    const info = await Deno.lstat(configPath);
    if (info.isSymlink) {
      throw new EctoError(
        "openclaw_config_not_writable",
        `OpenClaw config ${configPath} is a symlink, which OpenClaw does not write through.`,
        { fix: `Point OPENCLAW_CONFIG_PATH at the real file: ${await Deno.realPath(configPath)}` },
      );
    }
    if (info.mode !== null && (info.mode & 0o200) === 0) throw fail("is read-only");
    const file = await Deno.open(configPath, { write: true });
    file.close();
  } catch (error) {
    if (error instanceof EctoError) throw error;
    if (!(error instanceof Deno.errors.NotFound)) throw fail("is not writable", error);
  }
  // The directory must take a temp file + rename (OpenClaw creates a missing one).
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw fail(`cannot be created: ${dir} is not a directory`);
    }
  } catch (error) {
    if (error instanceof EctoError) throw error;
    if (error instanceof Deno.errors.NotFound) return;
    throw fail("cannot be checked", error);
  }
  const probe = `${dir}/.ecto-write-test-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(probe, { write: true, createNew: true, mode: 0o600 });
    file.close();
    await Deno.remove(probe);
  } catch (error) {
    throw fail(`cannot be replaced: its directory ${dir} is not writable`, error);
  }
}

/**
 * Refuses a read-only managed or unwritable config before anything is
 * written: the guard apply and undo both run first.
 *
 * @throws {ActionRequiredError} `openclaw_config_readonly`.
 * @throws {EctoError} `openclaw_config_not_writable`.
 */
export async function assertConfigChangeable(
  env: EnvLookup,
  configPath: string,
  patchKeys: string[],
): Promise<void> {
  const readOnly = configReadOnlyError(env, configPath, patchKeys);
  if (readOnly) throw readOnly;
  await assertConfigWritable(configPath);
}

/** Whether OpenClaw refused a write because the file changed under it (nothing was written). */
export function isConcurrentWrite(output: string): boolean {
  return /changed since last load|changed while this command was writing/i.test(output);
}

/** Result of {@link patchOpenClawConfig}. */
export interface ConfigPatchResult {
  /** How long the CLI took. */
  ms: number;
  /** The CLI's hint, e.g. `Applied 2 config update(s). Restart the gateway to apply.` — a prediction, not a receipt. */
  message: string;
}

/**
 * `openclaw config patch --stdin` with `patch` as JSON on stdin: one
 * validated write. Secrets in `patch` never reach argv or the error text.
 *
 * @throws {ToolError} with the CLI's (redacted) stderr when it refuses.
 */
export async function patchOpenClawConfig(
  $: Shell,
  cli: OpenClawCli,
  env: EnvLookup,
  patch: Record<string, unknown>,
  opts: {
    secrets?: string[];
    configPath?: string;
    now?: () => number;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<ConfigPatchResult> {
  const secrets = opts.secrets ?? [];
  const attempt = () =>
    runOpenClaw($, cli, env, ["config", "patch", "--stdin"], {
      stdin: JSON.stringify(patch),
      redact: secrets,
      ...(opts.now ? { now: opts.now } : {}),
    });
  let run = await attempt();
  // Another writer (the user's own `openclaw config`, or an interrupted earlier run) changed
  // the file mid-write: OpenClaw refused without writing. The patch is a merge, so re-applying
  // it on the new file is safe.
  for (
    let retry = 0;
    retry < 3 && run.code !== 0 && isConcurrentWrite(run.stderr + run.stdout);
    retry++
  ) {
    await (opts.sleep ?? sleep)(1_000);
    run = await attempt();
  }
  if (run.code !== 0) {
    const detail = tail(run.stderr || run.stdout, 1) || `exit code ${run.code}`;
    throw new ToolError(
      "openclaw",
      run.code,
      run.stderr || run.stdout,
      `\`openclaw config patch\` refused the change${
        opts.configPath ? ` to ${opts.configPath}` : ""
      }: ${detail}`,
    );
  }
  const message = run.stdout.split("\n").map((l) => l.trim()).filter(Boolean).at(-1) ?? "";
  return { ms: run.ms, message };
}
