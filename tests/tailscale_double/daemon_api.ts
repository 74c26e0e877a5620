/**
 * The double's stand-in for the LocalAPI: reading state the way the CLI's
 * `local.Client` would (with the daemon-down and version-mismatch texts), and
 * the serve-config write with its permission, ETag and daemon-side checks.
 *
 * @module
 */

import { accessDenied, CliError, err } from "./cli_io.ts";
import {
  canonical,
  findConfig,
  isFunnelOn,
  type ServeConfig,
  serveTypeOf,
} from "./serve_config.ts";
import {
  type DoubleState,
  pruneDeadSessions,
  readState,
  updateState,
  withLock,
  writeState,
} from "./state.ts";
import { daemonVersion } from "./status_json.ts";
import { atLeast, longVersion } from "./version_info.ts";

/** Per-invocation context of the CLI. */
export interface Ctx {
  dir: string;
  /** `--socket` or the OS default. */
  socket?: string;
  /** Cleaned-up argument list (for the access-denied hint). */
  args: string[];
  /** Running as root (`TS_DOUBLE_SUDO=1`): writes always allowed, no hint. */
  root: boolean;
  warned: boolean;
}

/** The daemon is unreachable: `raw` is the LocalAPI error, `fixed` the diagnosed text. */
export class DaemonDown extends CliError {
  constructor(raw: string, readonly fixed: string) {
    super(raw);
  }
}

function socketPath(ctx: Ctx, state: DoubleState): string {
  if (ctx.socket) return ctx.socket;
  return state.options.os === "macOS"
    ? "/var/run/tailscaled.socket"
    : "/var/run/tailscale/tailscaled.sock";
}

/** `fixTailscaledConnectError` when no daemon process exists. */
export function fixedConnectText(state: DoubleState): string {
  return state.options.os === "macOS"
    ? "failed to connect to local Tailscale service; is Tailscale running?"
    : "failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)";
}

/** The raw `local.Client` dial error for `path`. */
export function rawConnectText(ctx: Ctx, state: DoubleState, path: string): string {
  // `client/local/local.go`: the systemd hint replaces "not running?" on systemd Linux.
  const hint = state.options.os === "linux" && state.options.staleSocket
    ? "systemd tailscaled.service not running."
    : "not running?";
  return `Failed to connect to local Tailscale daemon for ${path}; ${hint} Error: dial unix ${
    socketPath(ctx, state)
  }: connect: no such file or directory`;
}

/** `fixTailscaledConnectError` when a daemon process exists (`cmd/tailscale/cli/diag.go`). */
export function runningAsText(ctx: Ctx, state: DoubleState, path: string): string {
  const pid = state.options.os === "linux" ? 1430 : 46381;
  return `failed to connect to local tailscaled (which appears to be running as ${state.options.staleSocket}, pid ${pid}). Got error: ${
    rawConnectText(ctx, state, path)
  }`;
}

/** Whether the daemon cannot be reached: not running, or running behind a stale socket. */
export function unreachable(state: DoubleState): boolean {
  return !state.options.daemonRunning || state.options.staleSocket !== "";
}

/** The diagnosed text for an unreachable daemon. */
export function unreachableText(ctx: Ctx, state: DoubleState, path: string): string {
  return state.options.daemonRunning && state.options.staleSocket
    ? runningAsText(ctx, state, path)
    : fixedConnectText(state);
}

/**
 * The Standalone app's Keychain trap (1.98+): with `EncryptState` on and a
 * failing Keychain, writes are acknowledged and nothing is kept.
 */
export function stateIsLost(state: DoubleState): boolean {
  const o = state.options;
  return o.os === "macOS" && o.macVariant === "macsys" && atLeast(daemonVersion(state), "1.98") &&
    o.keychainBroken && o.encryptState;
}

/** Reads the state as a LocalAPI call to `path` would see it. */
export async function localApi(ctx: Ctx, path: string): Promise<DoubleState> {
  const state = await readState(ctx.dir);
  if (unreachable(state)) {
    throw new DaemonDown(rawConnectText(ctx, state, path), unreachableText(ctx, state, path));
  }
  pruneDeadSessions(state);
  warnVersionMismatch(ctx, state);
  return state;
}

/** `Warning: client version … != tailscaled server version …`, once per run. */
export function warnVersionMismatch(ctx: Ctx, state: DoubleState): void {
  if (ctx.warned) return;
  const client = longVersion(state.options.version);
  const server = longVersion(daemonVersion(state));
  if (client === server) return;
  ctx.warned = true;
  err(`Warning: client version "${client}" != tailscaled server version "${server}"\n`);
}

/** Whether the caller may write prefs / serve config. */
export function canWrite(ctx: Ctx, state: DoubleState): boolean {
  // `ipn/ipnauth`: on macOS the open-source tailscaled also lets the `admin` group write.
  const admin = state.options.os === "macOS" && state.options.macVariant === "darwin" &&
    state.options.adminGroup;
  return ctx.root || state.options.operatorOk || admin;
}

/** Mutates prefs-like state under the lock, with the LocalAPI's checks. */
export async function editPrefs(
  ctx: Ctx,
  path: string,
  denied: string,
  fn: (state: DoubleState) => void,
): Promise<DoubleState> {
  return await withLock(ctx.dir, async () => {
    const state = await readState(ctx.dir);
    if (unreachable(state)) {
      throw new DaemonDown(rawConnectText(ctx, state, path), unreachableText(ctx, state, path));
    }
    if (!canWrite(ctx, state)) throw accessDenied("", denied);
    fn(state);
    state.generation++;
    await writeState(ctx.dir, state);
    return state;
  });
}

/** Thrown for HTTP 412 from the serve-config endpoint. */
export class EtagMismatch extends CliError {}

/**
 * `POST /localapi/v0/serve-config` as the CLI's `SetServeConfig` sees it:
 * errors are prefixed `sending serve config: `. `readConfig` is the config the
 * CLI read earlier (its ETag); `sessionPid` registers a new foreground session.
 */
export async function setServeConfig(
  ctx: Ctx,
  config: ServeConfig,
  readConfig: ServeConfig | undefined,
  session?: { id: string; pid: number },
): Promise<void> {
  const prefix = "sending serve config: ";
  await withLock(ctx.dir, async () => {
    const state = await readState(ctx.dir);
    if (unreachable(state)) {
      throw new CliError(prefix + rawConnectText(ctx, state, "/localapi/v0/serve-config"));
    }
    if (!canWrite(ctx, state)) throw accessDenied(prefix, "serve config denied");
    pruneDeadSessions(state);
    if (
      readConfig &&
      JSON.stringify(canonical(readConfig)) !== JSON.stringify(canonical(state.serve))
    ) {
      throw new EtagMismatch(prefix + "Preconditions failed: etag mismatch");
    }
    if (isFunnelOn(config) && state.options.shieldsUp) {
      throw new CliError(
        prefix + "updating config: Unable to turn on Funnel while shields-up is enabled",
      );
    }
    if (atLeast(daemonVersion(state), "1.92")) {
      const problem = validateUpdate(state.serve, config);
      if (problem) throw new CliError(prefix + "updating config: " + problem);
    }
    if (stateIsLost(state)) return; // acknowledged, never stored
    state.serve = canonical(config);
    // Sessions missing from the new config are closed by the daemon.
    for (const id of Object.keys(state.foreground)) {
      if (!state.serve.Foreground?.[id]) delete state.foreground[id];
    }
    if (session) state.foreground[session.id] = session.pid;
    state.generation++;
    await writeState(ctx.dir, state);
  });
}

/** `validateServeConfigUpdate` (daemon side, 1.92+). */
export function validateUpdate(existing: ServeConfig, incoming: ServeConfig): string | undefined {
  for (const [id, fg] of Object.entries(incoming.Foreground ?? {})) {
    if (existing.Foreground?.[id]) continue;
    for (const port of Object.keys(fg.TCP ?? {})) {
      if (findConfig(existing, Number(port))) return `listener already exists for port ${port}`;
    }
  }
  for (const port of Object.keys(incoming.TCP ?? {})) {
    for (const fg of Object.values(existing.Foreground ?? {})) {
      if (fg.TCP?.[port]) return `foreground listener already exists for port ${port}`;
    }
  }
  for (const [port, h] of Object.entries(incoming.TCP ?? {})) {
    const found = findConfig(existing, Number(port));
    if (!found) continue;
    const have = serveTypeOf(found.config.TCP?.[port]);
    const want = serveTypeOf(h);
    if (have !== want) {
      return `want to serve "${want}", but port ${port} is already serving "${have}"`;
    }
  }
  return undefined;
}

/** Removes foreground session `id` (the daemon noticed its CLI went away). */
export async function endSession(dir: string, id: string): Promise<void> {
  await updateState(dir, (state) => {
    delete state.foreground[id];
    if (state.serve.Foreground) {
      delete state.serve.Foreground[id];
      if (Object.keys(state.serve.Foreground).length === 0) delete state.serve.Foreground;
    }
  });
}
