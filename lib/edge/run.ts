/**
 * `ecto edge run`: the edge in the foreground. Builds the key store, the
 * gateway token source and the audit log from an {@link EdgeConfig}, serves
 * on loopback, and resolves after SIGTERM/SIGINT (or `signal`) once in-flight
 * streams have finished (bounded) and everything is flushed.
 *
 * The config is a small JSON file (`ectoPaths(env).edgeConfigFile`) written by
 * `ecto connect` and passed to the supervised process as `--config <file>`.
 *
 * @module
 */
import { ensurePrivateDir, readJsonIfExists, writeJsonAtomic } from "../core/atomic_file.ts";
import { type EventSink, ignoreEvents } from "../core/events.ts";
import { ectoPaths, type EnvLookup } from "../core/paths.ts";
import { startIdleReclaimer } from "./_reclaim.ts";
import { AuditLog } from "./audit.ts";
import { EdgeConfigError } from "./errors.ts";
import { createEdgeHandler, type EdgeFetch } from "./handler.ts";
import { KeyStore } from "./keys.ts";
import type { KeyLimits } from "./limits.ts";
import { type EdgeServer, isLoopbackHostname, parseListen, serveEdge } from "./serve.ts";
import { createConfigTokenSource } from "./token_source.ts";
import { UsageMeter } from "../usage/meter.ts";

/** What the supervised edge runs with. */
export interface EdgeConfig {
  /** Loopback `host:port`, e.g. `"127.0.0.1:18795"`. */
  listen: string;
  /** The gateway, e.g. `"http://127.0.0.1:18789"`. */
  upstream: string;
  /** OpenClaw's config file (the gateway token is read from it). */
  openclawConfigPath: string;
  /** ecto's state directory (keys file, audit log). */
  stateDir: string;
  /** Publish `POST /v1/responses` too. */
  enableResponses?: boolean;
  /** Upstream read timeout, ms (default 600 000). */
  upstreamTimeoutMs?: number;
  /** Per-role default key limits (owner, client). */
  keyLimits?: { owner?: KeyLimits; client?: KeyLimits };
  /** A request head must arrive whole within this many ms (default 10 000; 0: no limit). */
  headerTimeoutMs?: number;
  /** Connections idle between requests this long are closed, ms (default 60 000; 0: never). */
  idleTimeoutMs?: number;
}

export { DEFAULT_EDGE_LISTEN } from "../core/addresses.ts";
/** The default gateway address. */
export const DEFAULT_EDGE_UPSTREAM = "http://127.0.0.1:18789";

/**
 * Checks an edge config value (listen must be loopback; upstream an http(s)
 * URL, and plain http only to this machine).
 *
 * @throws {EdgeConfigError} naming the first bad field.
 * @throws {EdgeListenError} when `listen` is not loopback.
 */
export function validateEdgeConfig(value: unknown): EdgeConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EdgeConfigError("The edge config is not a JSON object.");
  }
  const v = value as Record<string, unknown>;
  for (const field of ["listen", "upstream", "openclawConfigPath", "stateDir"] as const) {
    if (typeof v[field] !== "string" || v[field] === "") {
      throw new EdgeConfigError(`The edge config has no \`${field}\`.`);
    }
  }
  parseListen(v.listen as string);
  let upstream: URL;
  try {
    upstream = new URL(v.upstream as string);
  } catch (cause) {
    throw new EdgeConfigError(`The edge config's upstream is not a URL.`, { cause });
  }
  if (upstream.protocol !== "http:" && upstream.protocol !== "https:") {
    throw new EdgeConfigError("The edge config's upstream must be an http:// or https:// URL.");
  }
  if (upstream.protocol === "http:" && !isLoopbackHostname(upstream.hostname)) {
    // The gateway token would cross the network in clear text.
    throw new EdgeConfigError(
      `The edge config's upstream ${upstream.host} is not on this machine; use https:// for a remote gateway.`,
    );
  }
  if (v.enableResponses !== undefined && typeof v.enableResponses !== "boolean") {
    throw new EdgeConfigError("The edge config's `enableResponses` must be true or false.");
  }
  if (
    v.upstreamTimeoutMs !== undefined &&
    !(typeof v.upstreamTimeoutMs === "number" && v.upstreamTimeoutMs > 0)
  ) {
    throw new EdgeConfigError("The edge config's `upstreamTimeoutMs` must be a positive number.");
  }
  for (const field of ["headerTimeoutMs", "idleTimeoutMs"] as const) {
    const ms = v[field];
    if (ms !== undefined && !(typeof ms === "number" && ms >= 0 && Number.isFinite(ms))) {
      throw new EdgeConfigError(`The edge config's \`${field}\` must be a number of ms (0: off).`);
    }
  }
  const config: EdgeConfig = {
    listen: v.listen as string,
    upstream: v.upstream as string,
    openclawConfigPath: v.openclawConfigPath as string,
    stateDir: v.stateDir as string,
  };
  if (v.enableResponses !== undefined) config.enableResponses = v.enableResponses as boolean;
  if (v.upstreamTimeoutMs !== undefined) config.upstreamTimeoutMs = v.upstreamTimeoutMs as number;
  if (v.headerTimeoutMs !== undefined) config.headerTimeoutMs = v.headerTimeoutMs as number;
  if (v.idleTimeoutMs !== undefined) config.idleTimeoutMs = v.idleTimeoutMs as number;
  if (v.keyLimits !== undefined) {
    if (typeof v.keyLimits !== "object" || v.keyLimits === null) {
      throw new EdgeConfigError("The edge config's `keyLimits` must be an object.");
    }
    config.keyLimits = v.keyLimits as EdgeConfig["keyLimits"] & object;
  }
  return config;
}

/**
 * Reads and validates the edge config at `path`.
 *
 * @throws {EdgeConfigError} when it is missing or invalid.
 */
export async function loadEdgeConfig(path: string): Promise<EdgeConfig> {
  let value: unknown;
  try {
    value = await readJsonIfExists<unknown>(path);
  } catch (cause) {
    throw new EdgeConfigError(`The edge config ${path} is not valid JSON.`, {
      cause,
      fix: "Run `ecto connect` again to rewrite it.",
    });
  }
  if (value === undefined) {
    throw new EdgeConfigError(`There is no edge config at ${path}.`, {
      fix: "Run `ecto connect` first.",
    });
  }
  return validateEdgeConfig(value);
}

/** Writes the edge config atomically (0600, its directory 0700). */
export async function saveEdgeConfig(path: string, config: EdgeConfig): Promise<void> {
  const valid = validateEdgeConfig(config);
  await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
  await writeJsonAtomic(path, valid);
}

/** Options of {@link runEdge}. */
export interface RunEdgeOptions {
  /** Environment lookup (`HOME`, `OPENCLAW_GATEWAY_TOKEN`). Default `Deno.env.get`. */
  env?: EnvLookup;
  /** Progress events (listening, stopping). Default: dropped. */
  events?: EventSink;
  /** Stops the edge when aborted (besides SIGTERM/SIGINT). */
  signal?: AbortSignal;
  /** Install SIGTERM/SIGINT handlers. Default `true`. */
  handleSignals?: boolean;
  /** How long in-flight streams may finish on shutdown, ms. Default 10 000. */
  shutdownGraceMs?: number;
  /** Called once the server listens (tests use it to learn the port when `listen` ends in `:0`). */
  onListen?: (server: EdgeServer) => void;
  /** Injected `fetch` for the gateway (tests). */
  fetch?: EdgeFetch;
}

/**
 * Runs the edge in the foreground until SIGTERM/SIGINT or `options.signal`;
 * resolves after a graceful shutdown (streams get `shutdownGraceMs`, then
 * are aborted; keys' `lastUsed`, the audit log and the usage database are flushed).
 *
 * @throws {EdgeListenError} for a non-loopback `listen`.
 * @throws {KeyStoreError} when the key file is invalid.
 */
export async function runEdge(config: EdgeConfig, options: RunEdgeOptions = {}): Promise<void> {
  const valid = validateEdgeConfig(config);
  const { hostname, port } = parseListen(valid.listen);
  const events = options.events ?? ignoreEvents;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const paths = ectoPaths((name) =>
    name === "ECTO_STATE_DIR" ? valid.stateDir : env(name) ?? (name === "HOME" ? "/" : undefined)
  );

  const keys = await KeyStore.open(paths.keysFile);
  let audit: AuditLog | undefined;
  let usage: UsageMeter | undefined;
  let server: EdgeServer | undefined;
  const removers: Array<() => void> = [];
  try {
    audit = await AuditLog.open(paths.auditLog);
    // Budgets need today's counts: a usage database that cannot be opened stops the edge.
    usage = await UsageMeter.open(paths.usageDb);
    const handler = createEdgeHandler({
      usage,
      upstream: valid.upstream,
      keys,
      tokenSource: createConfigTokenSource(valid.openclawConfigPath, { env }),
      audit: audit.sink,
      ...(valid.enableResponses !== undefined ? { enableResponses: valid.enableResponses } : {}),
      ...(valid.upstreamTimeoutMs !== undefined
        ? { upstreamTimeoutMs: valid.upstreamTimeoutMs }
        : {}),
      ...(valid.keyLimits ? { keyLimits: valid.keyLimits } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const s = serveEdge({
      handler,
      hostname,
      port,
      ...(options.shutdownGraceMs !== undefined
        ? { shutdownGraceMs: options.shutdownGraceMs }
        : {}),
      ...(valid.headerTimeoutMs !== undefined ? { headerTimeoutMs: valid.headerTimeoutMs } : {}),
      ...(valid.idleTimeoutMs !== undefined ? { idleTimeoutMs: valid.idleTimeoutMs } : {}),
    });
    server = s;
    removers.push(startIdleReclaimer(handler));
    events({
      kind: "step",
      step: "edge.listen",
      status: "done",
      detail: `The edge listens on ${s.url} in front of ${valid.upstream}.`,
    });
    options.onListen?.(s);

    const stopRequested = new Promise<string>((resolve) => {
      if (options.signal) {
        if (options.signal.aborted) resolve("abort");
        const onAbort = () => resolve("abort");
        options.signal.addEventListener("abort", onAbort, { once: true });
        removers.push(() => options.signal?.removeEventListener("abort", onAbort));
      }
      if (options.handleSignals !== false) {
        const signals: Deno.Signal[] = Deno.build.os === "windows"
          ? ["SIGINT"]
          : ["SIGTERM", "SIGINT"];
        for (const sig of signals) {
          const listener = () => resolve(sig);
          Deno.addSignalListener(sig, listener);
          removers.push(() => Deno.removeSignalListener(sig, listener));
        }
      }
    });
    const why = await Promise.race([stopRequested, s.finished.then(() => "finished")]);
    events({
      kind: "step",
      step: "edge.stop",
      status: "start",
      detail: `Stopping the edge (${why}); letting open streams finish.`,
    });
    await s.shutdown();
    events({ kind: "step", step: "edge.stop", status: "done", detail: "The edge stopped." });
  } finally {
    for (const remove of removers) remove();
    await server?.shutdown().catch(() => {});
    await keys.close().catch(() => {});
    await audit?.close().catch(() => {});
    await usage?.close().catch(() => {});
  }
}
