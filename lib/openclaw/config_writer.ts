/**
 * Who writes OpenClaw's config: the running gateway over its own API when it
 * answers (one round trip, validated, answered once applied, with
 * `changedPaths`), or `openclaw config patch --stdin` when it is down (a
 * process that takes 4–13 s here). Chosen in one place,
 * {@link chooseConfigWriter}; apply and undo share the plan, the snapshot and
 * everything else. `ECTO_CONFIG_WRITER=cli` forces the CLI (the benchmark's
 * baseline; also a way out if the API misbehaves).
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import type { EventSink } from "../core/events.ts";
import { ignoreEvents } from "../core/events.ts";
import { ectoPaths, type EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import { type ConfigPatchResult, type OpenClawCli, patchOpenClawConfig } from "./cli.ts";
import type { GatewayCredential } from "./settings.ts";
import { deviceIdentityPath, loadOrCreateDeviceIdentity } from "./device_identity.ts";
import type { SharedCredential } from "./gateway_frames.ts";
import {
  connectGateway,
  GatewayCannotApplyError,
  type GatewayRpc,
  GatewayRpcError,
  redactRpcError,
} from "./gateway_rpc.ts";
import { patchConfig } from "./config_rpc.ts";
import { poll, sleep as timerSleep } from "../core/poll.ts";
import { gatewayReady } from "./gateway_health.ts";

/** What a write did. */
export interface ConfigWriteResult extends ConfigPatchResult {
  /** Which writer wrote it. */
  via: "gateway" | "cli";
  /**
   * The gateway's `changedPaths` (`[]`: nothing changed); `undefined` from the CLI, or when a
   * restart interrupted the write (then the plan decides what a restart takes).
   */
  changedPaths?: string[] | undefined;
}

/** Writes one merge patch into OpenClaw's config. */
export interface ConfigWriter {
  /** Which it is. */
  readonly kind: "gateway" | "cli";
  /** Writes `patch` (secrets in it go nowhere but the writer); `secrets` are redacted from errors. */
  write(
    patch: Record<string, unknown>,
    opts: { secrets: string[]; configPath: string },
  ): Promise<ConfigWriteResult>;
}

/** What choosing and writing need. */
export interface ConfigWriterDeps {
  /** The injected dax `$` (for the CLI writer). */
  $: Shell;
  /** The injected `fetch` (the health check). */
  fetch: typeof fetch;
  /** The gateway's environment. */
  env: EnvLookup;
  /** Clock. */
  now?: () => number;
  /** Sleep (injected: tests move the clock). */
  sleep?: (ms: number) => Promise<void>;
  /** Where notes go. */
  events?: EventSink;
  /** Opens the gateway's WebSocket (default the built-in `WebSocket`; tests pass a fake). */
  openSocket?: (url: string) => WebSocket;
}

/** What {@link chooseConfigWriter} needs to know. */
export interface WriterTarget {
  /** The `openclaw` CLI (used only when the gateway is down). */
  cli: OpenClawCli;
  /** The gateway, `http://127.0.0.1:PORT`. */
  url: string;
  /**
   * Credentials to try in order: the one the running gateway accepts now first, then the one it
   * will accept after the patch (for a reconnect after a restart).
   */
  credentials: Array<GatewayCredential | undefined>;
  /** Whether the gateway runs without auth (then no credential is needed). */
  authNone?: boolean;
}

/** `openclaw config patch --stdin`. */
export function cliConfigWriter(deps: ConfigWriterDeps, cli: OpenClawCli): ConfigWriter {
  return {
    kind: "cli",
    async write(patch, opts) {
      const result = await patchOpenClawConfig(deps.$, cli, deps.env, patch, {
        secrets: opts.secrets,
        configPath: opts.configPath,
        ...(deps.now ? { now: deps.now } : {}),
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
      });
      return { ...result, via: "cli" };
    },
  };
}

function shared(credential: GatewayCredential | undefined): SharedCredential {
  return credential ? { kind: credential.kind, value: credential.value } : undefined;
}

/** Polls `/readyz` until 200, bounded; used after the gateway restarted under a write. */
async function waitReady(
  deps: ConfigWriterDeps,
  url: string,
  limitMs: number,
): Promise<void> {
  // At the bound the caller's next attempt reports the failure.
  await poll(async () => (await gatewayReady(deps.fetch, url)) || undefined, {
    timeoutMs: limitMs,
    intervalMs: 250,
    now: deps.now ?? Date.now,
    sleep: deps.sleep ?? timerSleep,
  });
}

/**
 * The gateway's own API, over an open operator connection. Reconnects (trying each credential)
 * when a restart closes it.
 */
export function gatewayConfigWriter(
  deps: ConfigWriterDeps,
  target: WriterTarget,
  connect: (credential: SharedCredential) => Promise<GatewayRpc>,
  first: GatewayRpc,
  connectMs = 0,
): ConfigWriter {
  const now = deps.now ?? Date.now;
  const reconnect = async () => {
    let lastError: unknown;
    for (const credential of distinct(target.credentials)) {
      try {
        return await connect(shared(credential));
      } catch (error) {
        lastError = error;
        if (!(error instanceof GatewayRpcError)) throw error;
      }
    }
    throw lastError;
  };
  return {
    kind: "gateway",
    async write(patch, opts) {
      const started = now();
      let result;
      try {
        result = await patchConfig(
          {
            connect: reconnect,
            waitReady: () => waitReady(deps, target.url, 60_000),
            now,
            sleep: deps.sleep ?? timerSleep,
          },
          patch,
          { rpc: first, note: "ecto" },
        );
      } catch (raw) {
        const error = redactRpcError(raw, opts.secrets);
        if (!(error instanceof GatewayCannotApplyError)) throw error;
        // E.g. restoring "token mode, no token": valid on disk, not runnable live. The CLI
        // writes the file; the plan's restart makes the gateway run it.
        (deps.events ?? ignoreEvents)({
          kind: "note",
          step: "openclaw.configure",
          level: "info",
          message: `The running gateway cannot apply this change live (${error.shape.message}); ` +
            "writing it with `openclaw config patch` for the gateway's restart.",
        });
        return await cliConfigWriter(deps, target.cli).write(patch, opts);
      }
      const changed = result.changedPaths;
      const timing = ` (config.get ${result.getMs} ms, config.patch ${result.patchMs} ms${
        result.attempts > 1 ? `, ${result.attempts} attempts` : ""
      })`;
      return {
        via: "gateway",
        ms: now() - started + connectMs,
        message:
          (changed === undefined
            ? "The running gateway took the patch (it restarted meanwhile)"
            : changed.length === 0
            ? "The running gateway found nothing to change"
            : `The running gateway applied ${changed.join(", ")}`) + `${timing}.`,
        changedPaths: changed,
      };
    },
  };
}

function distinct(
  credentials: Array<GatewayCredential | undefined>,
): Array<GatewayCredential | undefined> {
  const out: Array<GatewayCredential | undefined> = [];
  for (const c of credentials) {
    if (!out.some((o) => o?.value === c?.value && o?.kind === c?.kind)) out.push(c);
  }
  return out;
}

/**
 * Chooses the writer, in one place: the CLI when `ECTO_CONFIG_WRITER=cli`, when the gateway is not
 * ready, or when ecto has no credential it accepts; otherwise the gateway's API, connected now (so
 * a refusal falls back to the CLI with a note instead of failing the run).
 */
export async function chooseConfigWriter(
  deps: ConfigWriterDeps,
  target: WriterTarget,
): Promise<ConfigWriter> {
  const events = deps.events ?? ignoreEvents;
  const cli = () => cliConfigWriter(deps, target.cli);
  if (deps.env("ECTO_CONFIG_WRITER") === "cli") return cli();
  const current = target.credentials[0];
  if (!current && !target.authNone) return cli(); // no credential the running gateway accepts
  if (!(await gatewayReady(deps.fetch, target.url))) return cli();
  const started = (deps.now ?? Date.now)();
  const identity = await loadOrCreateDeviceIdentity(
    deviceIdentityPath(ectoPaths(deps.env).stateDir),
    deps.now,
  );
  const connect = (credential: SharedCredential) =>
    connectGateway({
      url: target.url,
      credential,
      identity,
      version: denoJson.version,
      ...(deps.openSocket ? { openSocket: deps.openSocket } : {}),
    });
  try {
    const first = await connect(shared(current));
    if (!first.hello.scopes.includes("operator.admin")) {
      // E.g. a pairing the user narrowed: `config.*` needs admin, so the API would refuse.
      first.close();
      throw new Error(`it granted only ${first.hello.scopes.join(", ") || "no scopes"}`);
    }
    const connectMs = (deps.now ?? Date.now)() - started;
    events({
      kind: "progress",
      step: "openclaw.configure",
      message: `connected to the running gateway's config API in ${connectMs} ms`,
    });
    return gatewayConfigWriter(deps, target, connect, first, connectMs);
  } catch (error) {
    events({
      kind: "note",
      step: "openclaw.configure",
      level: "warn",
      message: `The running gateway's config API refused ecto (${
        error instanceof Error ? error.message : String(error)
      }); writing with the slower \`openclaw config patch\` instead.`,
    });
    return cli();
  }
}

/**
 * Chooses a writer and writes `patch` with it: the one call apply and undo make.
 */
export async function writeOpenClawConfig(
  deps: ConfigWriterDeps,
  target: WriterTarget,
  patch: Record<string, unknown>,
  opts: { secrets: string[]; configPath: string },
): Promise<ConfigWriteResult> {
  const writer = await chooseConfigWriter(deps, target);
  return await writer.write(patch, opts);
}

/**
 * What it takes for a write to be live, from the plan's prediction and the gateway's answer:
 * when the gateway says nothing changed, nothing needs restarting. Pure.
 */
export function restartAfterWrite<K extends string>(
  planned: K | "none",
  written: Pick<ConfigWriteResult, "changedPaths">,
): K | "none" {
  return written.changedPaths !== undefined && written.changedPaths.length === 0 ? "none" : planned;
}
