/**
 * The handle every tailscale operation takes ({@link TailscaleCli}) and the
 * read-only queries: version, status, serve config.
 *
 * @module
 */
import { EctoError, ToolError } from "../core/errors.ts";
import type { Shell } from "../core/shell.ts";
import { exec, type ExecOptions, type ExecResult } from "./_exec.ts";
import { daemonError, type PlatformHint } from "./diagnose.ts";
import { parseServeConfig, type ServeConfig } from "./serve_config.ts";
import { parseStatusJson, type TailscaleStatus } from "./status.ts";
import { parseVersionOutput, type TailscaleVersion } from "./version.ts";

/** How ecto runs the tailscale CLI. */
export interface TailscaleCli {
  /** The injected dax `$`. */
  $: Shell;
  /** The CLI's path (or a bare name that `$` resolves, e.g. a registered fake `tailscale`). */
  path: string;
  /**
   * Extra environment for the CLI process. `TS_AUTHKEY` is always removed:
   * ecto reads it itself and passes keys only as `--auth-key=file:`.
   */
  env?: Record<string, string>;
  /** Platform facts for fixes (start command, operator user). */
  platform: PlatformHint;
  /** Bound for quick commands (status, version, serve config), default 30 s. */
  commandTimeoutMs?: number;
}

/** Options for {@link tailscaleCli}. */
export interface TailscaleCliOptions {
  /** The injected dax `$`. */
  $: Shell;
  /** The CLI path, usually `TailscaleInstall.path`. */
  path: string;
  /** Extra environment for the CLI (e.g. a test double's `env()`). */
  env?: Record<string, string>;
  /** Defaults: `os` from `Deno.build.os`, variant `unknown`, user `$USER`, command `tailscale`. */
  platform?: Partial<PlatformHint>;
  /** Bound for quick commands, default 30 s. */
  commandTimeoutMs?: number;
}

/** Builds a {@link TailscaleCli} with defaults filled in. */
export function tailscaleCli(options: TailscaleCliOptions): TailscaleCli {
  const platform: PlatformHint = {
    os: options.platform?.os ?? Deno.build.os,
    variant: options.platform?.variant ?? "unknown",
  };
  if (options.platform?.user !== undefined) platform.user = options.platform.user;
  if (options.platform?.command !== undefined) platform.command = options.platform.command;
  if (options.platform?.version !== undefined) platform.version = options.platform.version;
  const cli: TailscaleCli = { $: options.$, path: options.path, platform };
  if (options.env) cli.env = options.env;
  if (options.commandTimeoutMs !== undefined) cli.commandTimeoutMs = options.commandTimeoutMs;
  return cli;
}

/** The child environment: the caller's extras, and never `TS_AUTHKEY`. */
export function childEnv(cli: TailscaleCli): Record<string, string | undefined> {
  return { ...cli.env, TS_AUTHKEY: undefined };
}

/** Runs the CLI with `args`, capturing output; never throws for a non-zero exit. */
export function runTailscale(
  cli: TailscaleCli,
  args: readonly string[],
  options: Omit<ExecOptions, "env"> = {},
): Promise<ExecResult> {
  return exec(cli.$, [cli.path, ...args], {
    timeoutMs: cli.commandTimeoutMs ?? 30_000,
    ...options,
    env: childEnv(cli),
  });
}

/** A {@link ToolError} for an unexpected CLI failure (no argv: it may hold secrets). */
export function toolError(what: string, result: ExecResult): ToolError {
  return new ToolError(
    "tailscale",
    result.code,
    result.stderr,
    result.killed
      ? `tailscale ${what} did not finish in time.`
      : `tailscale ${what} failed (exit ${result.code}).`,
    { cause: result.stderr.trim() || result.stdout.trim() || undefined },
  );
}

/**
 * `tailscale version --json`, falling back to plain `tailscale version` on
 * CLIs without `--json` (before 1.36).
 */
export async function getVersion(cli: TailscaleCli): Promise<TailscaleVersion> {
  const json = await runTailscale(cli, ["version", "--json"]);
  if (json.code === 0) {
    try {
      return parseVersionOutput(json.stdout);
    } catch { /* fall back to the plain form */ }
  }
  const plain = await runTailscale(cli, ["version"]);
  if (plain.code !== 0) {
    throw daemonError(`${plain.stderr}\n${plain.stdout}`, cli.platform, plain.stderr) ??
      toolError("version", plain);
  }
  try {
    return parseVersionOutput(plain.stdout);
  } catch (error) {
    const daemon = daemonError(plain.stdout, cli.platform, plain.stdout);
    if (daemon) throw daemon;
    throw new EctoError(
      "tailscale_output",
      "tailscale version printed something ecto cannot read.",
      {
        cause: error,
      },
    );
  }
}

/**
 * `tailscale status --json` parsed. Throws `tailscale_not_running`
 * (exit 3, fix = the start command) when the daemon is unreachable.
 */
export async function getStatus(cli: TailscaleCli): Promise<TailscaleStatus> {
  return statusFromResult(cli, await runTailscale(cli, STATUS_ARGS));
}

/** The argv tail that prints the status. */
export const STATUS_ARGS: readonly string[] = ["status", "--json"];

/**
 * What a finished `tailscale status --json` run says ({@link getStatus} without the run: a
 * caller may start the run before it knows the CLI's platform).
 */
export function statusFromResult(cli: TailscaleCli, result: ExecResult): TailscaleStatus {
  // The app's CLI prints its own start failure on stdout, so both streams are read.
  const both = `${result.stderr}\n${result.stdout}`;
  if (result.code !== 0 || result.stdout.trim() === "") {
    throw daemonError(both, cli.platform, result.stderr) ?? toolError("status", result);
  }
  try {
    return parseStatusJson(result.stdout);
  } catch (error) {
    const daemon = daemonError(both, cli.platform, result.stdout);
    if (daemon) throw daemon;
    throw new EctoError(
      "tailscale_output",
      "tailscale status printed something ecto cannot read.",
      {
        cause: error,
      },
    );
  }
}

/** `tailscale funnel status --json` parsed (works in any backend state). */
export async function getServeConfig(cli: TailscaleCli): Promise<ServeConfig> {
  return serveConfigFromResult(cli, await runTailscale(cli, SERVE_CONFIG_ARGS));
}

/** The argv tail that prints the serve config. */
export const SERVE_CONFIG_ARGS: readonly string[] = ["funnel", "status", "--json"];

/** What a finished `tailscale funnel status --json` run says ({@link getServeConfig} without the run). */
export function serveConfigFromResult(cli: TailscaleCli, result: ExecResult): ServeConfig {
  if (result.code !== 0) {
    throw daemonError(`${result.stderr}\n${result.stdout}`, cli.platform, result.stderr) ??
      toolError("funnel status", result);
  }
  try {
    return parseServeConfig(result.stdout);
  } catch (error) {
    throw new EctoError(
      "tailscale_output",
      "tailscale funnel status printed something ecto cannot read.",
      { cause: error },
    );
  }
}
