/**
 * Installing Tailscale and starting its daemon, only with the user's
 * explicit consent. Every command runs through the injected `$` (tests
 * register fake `brew`, `sudo`, `systemctl`, `curl`, `sh`, `open`).
 *
 * @module
 */
import {
  ActionRequiredError,
  EctoError,
  MissingPrerequisiteError,
  ToolError,
} from "../core/errors.ts";
import { type EventSink, ignoreEvents } from "../core/events.ts";
import type { Consent, ConsentRequest } from "../core/context.ts";
import type { Shell } from "../core/shell.ts";
import { delay, exec, type ExecResult } from "./_exec.ts";
import type { StartHint } from "./diagnose.ts";
import type { TailscaleInstall } from "./locate.ts";
import { getStatus, type TailscaleCli } from "./runner.ts";

/** A command ecto asks permission to run (one shape for every layer, see `lib/core/context.ts`). */
export type ConsentAction = ConsentRequest;

/** The official Linux install route. */
export const LINUX_INSTALL_COMMAND = "curl -fsSL https://tailscale.com/install.sh | sh";
/** The macOS download page (for machines without Homebrew). */
export const MAC_DOWNLOAD_URL = "https://tailscale.com/download/mac";

/** Options shared by {@link installTailscale} and {@link startTailscaleDaemon}. */
export interface PrivilegedOptions {
  /** The injected dax `$`. */
  $: Shell;
  /** Asked before every command that changes the system. */
  consent: Consent;
  /** Default `Deno.build.os`. */
  os?: string;
  /** True when a person is at a terminal (sudo may then ask for a password). */
  interactive?: boolean;
  /** Whether ecto runs as root (no sudo needed). Default `Deno.uid() === 0`. */
  isRoot?: boolean;
  /** Extra environment for the commands. */
  env?: Record<string, string>;
  /** Progress events. */
  events?: EventSink;
  /** Bound on each command (default 10 minutes: installs download packages). */
  commandTimeoutMs?: number;
}

function isRoot(options: PrivilegedOptions): boolean {
  return options.isRoot ?? (Deno.uid() === 0);
}

function failed(tool: string, what: string, result: ExecResult): ToolError {
  return new ToolError(tool, result.code, result.stderr, `${what} failed (exit ${result.code}).`, {
    cause: result.stderr.trim() || undefined,
  });
}

/**
 * Makes sure `sudo` can run: no-op for root; with a terminal sudo may ask
 * for a password; without one, `sudo -n true` must succeed, else
 * `ActionRequiredError` `sudo_required` whose fix is `command`.
 */
export async function ensureSudo(options: PrivilegedOptions, command: string): Promise<void> {
  if (isRoot(options) || options.interactive) return;
  const probe = await exec(options.$, ["sudo", "-n", "true"], {
    timeoutMs: 15_000,
    ...(options.env ? { env: options.env } : {}),
  });
  if (probe.code === 0) return;
  throw new ActionRequiredError(
    "sudo_required",
    "This step needs administrator rights and sudo cannot ask for a password without a terminal; run it yourself, then run ecto again.",
    { fix: command },
  );
}

function stripSudo(command: string, root: boolean): string {
  return root ? command.replace(/^sudo /, "") : command;
}

async function runConsented(
  options: PrivilegedOptions,
  argv: string[],
  what: string,
  tool: string,
): Promise<void> {
  const result = await exec(options.$, argv, {
    timeoutMs: options.commandTimeoutMs ?? 10 * 60_000,
    ...(options.env ? { env: options.env } : {}),
    ...(options.interactive ? { inheritStdio: true } : {}),
  });
  if (result.code !== 0) throw failed(tool, what, result);
}

/**
 * Installs Tailscale after consent. macOS: `brew install tailscale` (needs
 * Homebrew; without it, `MissingPrerequisiteError` pointing at the app
 * download). Linux: the official install script. Declined consent →
 * `MissingPrerequisiteError` `tailscale_missing` (exit 4) whose fix is the
 * exact command. The caller locates the CLI again afterwards.
 */
export async function installTailscale(options: PrivilegedOptions): Promise<void> {
  const os = options.os ?? Deno.build.os;
  const events = options.events ?? ignoreEvents;
  const step = "tailscale.install";
  const installing = (command: string) =>
    events({ kind: "progress", step, message: `Installing Tailscale: ${command}` });
  if (os === "darwin") {
    const brew = await exec(options.$, ["brew", "--version"], {
      timeoutMs: 30_000,
      ...(options.env ? { env: options.env } : {}),
    }).catch(() => undefined);
    if (!brew || brew.code !== 0) {
      throw new MissingPrerequisiteError(
        "tailscale_missing",
        "Tailscale is not installed and Homebrew is not available to install it.",
        { fix: `install the Tailscale app from ${MAC_DOWNLOAD_URL}` },
      );
    }
    const action = {
      id: "tailscale.install",
      description: "Install Tailscale (open-source tailscaled) with Homebrew.",
      command: "brew install tailscale",
    };
    if (!(await options.consent(action))) {
      throw new MissingPrerequisiteError("tailscale_missing", "Tailscale is not installed.", {
        fix: action.command,
      });
    }
    installing(action.command);
    await runConsented(options, ["brew", "install", "tailscale"], "brew install tailscale", "brew");
    return;
  }
  if (os === "linux") {
    const action = {
      id: "tailscale.install",
      description:
        "Install Tailscale with the official install script (it uses sudo for the package manager).",
      command: LINUX_INSTALL_COMMAND,
    };
    if (!(await options.consent(action))) {
      throw new MissingPrerequisiteError("tailscale_missing", "Tailscale is not installed.", {
        fix: action.command,
      });
    }
    await ensureSudo(options, action.command);
    installing(action.command);
    const script = await exec(options.$, ["curl", "-fsSL", "https://tailscale.com/install.sh"], {
      timeoutMs: 120_000,
      ...(options.env ? { env: options.env } : {}),
    });
    if (script.code !== 0 || script.stdout.trim() === "") {
      throw failed("curl", "Downloading https://tailscale.com/install.sh", script);
    }
    let builder = options.$`sh`.stdinText(script.stdout).noThrow();
    if (options.env) builder = builder.env(options.env);
    builder = options.interactive
      ? builder.stdout("inherit").stderr("inherit")
      : builder.stdout("piped").stderr("piped");
    const ran = await builder.timeout(options.commandTimeoutMs ?? 10 * 60_000);
    if (ran.code !== 0) {
      throw new ToolError(
        "sh",
        ran.code,
        options.interactive ? "" : ran.stderr,
        `The Tailscale install script failed (exit ${ran.code}).`,
        { fix: action.command },
      );
    }
    return;
  }
  throw new MissingPrerequisiteError(
    "tailscale_missing",
    `Tailscale is not installed and ecto cannot install it on ${os}.`,
    { fix: "install Tailscale from https://tailscale.com/download" },
  );
}

/** Options for {@link startTailscaleDaemon}: the shell (and default environment) come from the CLI handle. */
export interface StartDaemonOptions extends Omit<PrivilegedOptions, "$"> {
  /** How long to wait for `tailscale status` to answer afterwards (default 30 s). */
  waitMs?: number;
  /** Poll interval of that wait (default 1 s). */
  pollIntervalMs?: number;
}

function argvOf(command: string): string[] {
  return command.split(" ");
}

/**
 * Starts the daemon after consent, per variant: `open -a Tailscale` (app),
 * `sudo brew services start tailscale` (Homebrew), `sudo systemctl enable
 * --now tailscaled` (Linux); `sudo` is dropped when running as root and
 * checked with `sudo -n true` without a terminal. Then waits (bounded) until
 * `tailscale status` answers. Declined consent or no sudo →
 * `ActionRequiredError` (`tailscale_not_running` / `sudo_required`) whose fix
 * is the exact command.
 */
export async function startTailscaleDaemon(
  install: Pick<TailscaleInstall, "startHint">,
  cli: TailscaleCli,
  startOptions: StartDaemonOptions,
): Promise<void> {
  const options: PrivilegedOptions = {
    ...startOptions,
    $: cli.$,
    ...(cli.env && !startOptions.env ? { env: cli.env } : {}),
  };
  const events = options.events ?? ignoreEvents;
  const step = "tailscale.daemon";
  const root = isRoot(options);
  const hint: StartHint = install.startHint;
  const command = stripSudo(hint.command, root);
  const action = {
    id: "tailscale.start",
    description: `Start Tailscale: ${hint.description}.`,
    command,
  };
  if (!(await options.consent(action))) {
    throw new ActionRequiredError("tailscale_not_running", "The Tailscale daemon is not running.", {
      fix: command,
    });
  }
  if (command.startsWith("sudo ")) await ensureSudo(options, command);
  events({ kind: "progress", step, message: `Starting Tailscale: ${command}` });
  await runConsented(options, argvOf(command), command, argvOf(command)[0]);
  const deadline = Date.now() + (startOptions.waitMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      await getStatus(cli);
      return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await delay(startOptions.pollIntervalMs ?? 1000);
  }
  throw new EctoError(
    "tailscale_not_running",
    `The Tailscale daemon did not answer after \`${command}\`.`,
    { fix: command, cause: lastError },
  );
}
