/**
 * The gateway from the outside: health (`/healthz`, `/readyz`), the API probe
 * (`/v1/models` with and without the bearer), bounded and reported waits, and
 * the log lines a failure shows.
 *
 * @module
 */
import { EctoError, UsageError } from "../core/errors.ts";
import { type EventSink, ignoreEvents } from "../core/events.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import { poll, sleep as timerSleep } from "../core/poll.ts";

/** `fetch` as ecto injects it. */
export type Fetch = typeof fetch;

/** Where ecto appends the output of a gateway it starts itself. */
export const GATEWAY_LOG_PATH = "/tmp/openclaw-gateway.log";
/** Default bound for a gateway to become ready after a (re)start. */
export const GATEWAY_READY_TIMEOUT_MS = 120_000;
/** Default bound for a hot config change to show up. */
export const LIVE_TIMEOUT_MS = 30_000;

/** ecto's bounds on waiting for the gateway (a slow machine may need longer ones). */
export interface GatewayLimits {
  /** Bound for the gateway to become ready after a (re)start. */
  readyMs: number;
  /** Bound for a hot config change to show up. */
  liveMs: number;
}

/**
 * The bounds, from `ECTO_GATEWAY_READY_TIMEOUT` and `ECTO_GATEWAY_LIVE_TIMEOUT` (seconds) when
 * set: a Raspberry Pi, or a machine busy with other work, can need more than the defaults.
 *
 * @throws {UsageError} when a value is not a positive number of seconds.
 */
export function gatewayLimits(env: EnvLookup): GatewayLimits {
  const seconds = (name: string, fallbackMs: number) => {
    const raw = env(name);
    if (raw === undefined || raw === "") return fallbackMs;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) {
      throw new UsageError(`${name} must be a positive number of seconds, not "${raw}".`, {
        fix: `unset ${name} (default ${fallbackMs / 1000} s), or set it to e.g. ${
          fallbackMs / 500
        }`,
      });
    }
    return Math.round(value * 1000);
  };
  return {
    readyMs: seconds("ECTO_GATEWAY_READY_TIMEOUT", GATEWAY_READY_TIMEOUT_MS),
    liveMs: seconds("ECTO_GATEWAY_LIVE_TIMEOUT", LIVE_TIMEOUT_MS),
  };
}

/** What ecto needs around the gateway: the injected shell, fetch, env, clock, events. */
export interface GatewayDeps {
  /** The injected dax `$`. */
  $: Shell;
  /** The injected `fetch`. */
  fetch: Fetch;
  /** The environment the gateway runs with (HOME, OPENCLAW_*). */
  env: EnvLookup;
  /** Where progress goes. */
  events?: EventSink;
  /** Clock, ms (tests move it). */
  now?: () => number;
  /** Sleep (tests make it move the clock). */
  sleep?: (ms: number) => Promise<void>;
  /** ecto's wait bounds (default {@link GATEWAY_READY_TIMEOUT_MS}, {@link LIVE_TIMEOUT_MS}). */
  limits?: GatewayLimits;
}

/**
 * One bounded request: its status, `timeout` (connected, no answer in time: a loaded gateway, or
 * one busy applying a change) or `refused` (no connection: nothing listens).
 */
async function answer(
  fetchFn: Fetch,
  url: string,
  init: RequestInit = {},
  timeoutMs = 3_000,
): Promise<number | "timeout" | "refused"> {
  try {
    const response = await fetchFn(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.status;
  } catch (error) {
    return error instanceof DOMException && error.name === "TimeoutError" ? "timeout" : "refused";
  }
}

async function status(
  fetchFn: Fetch,
  url: string,
  init: RequestInit = {},
  timeoutMs = 3_000,
): Promise<number | null> {
  const got = await answer(fetchFn, url, init, timeoutMs);
  return typeof got === "number" ? got : null;
}

/** The gateway's liveness and readiness. */
export interface GatewayHealth {
  /** `/healthz` answered 200: the HTTP server is up. */
  live: boolean;
  /** `/readyz` answered 200: ready to take traffic. */
  ready: boolean;
  /**
   * `/healthz` answered at all, or connected and timed out: a gateway is there, if busy. Only a
   * refused connection means it is stopped (a missed `/healthz` under load once had ecto report a
   * busy gateway as stopped and leave the change unproven).
   */
  running: boolean;
}

/** Checks `/healthz` and `/readyz` (no auth). */
export async function gatewayHealth(fetchFn: Fetch, url: string): Promise<GatewayHealth> {
  const [healthz, readyz] = await Promise.all([
    answer(fetchFn, `${url}/healthz`),
    answer(fetchFn, `${url}/readyz`),
  ]);
  return { live: healthz === 200, ready: readyz === 200, running: healthz !== "refused" };
}

/**
 * {@link GatewayHealth.running} alone (`/healthz` only), for after a write: a busy gateway is
 * waited for (the bounded wait that follows decides), a stopped one is not.
 */
export async function gatewayRunning(fetchFn: Fetch, url: string): Promise<boolean> {
  return (await answer(fetchFn, `${url}/healthz`)) !== "refused";
}

/** Whether `/readyz` answers 200 within 2 s (the gateway takes traffic). */
export async function gatewayReady(fetchFn: Fetch, url: string): Promise<boolean> {
  return (await status(fetchFn, `${url}/readyz`, {}, 2_000)) === 200;
}

/** What `GET /v1/models` says with and without the bearer credential. */
export interface GatewayApiProbe {
  /**
   * - `ok`: 200 with the credential, 401 without;
   * - `endpoint-disabled`: 404 (chat completions off);
   * - `credential-rejected`: 401 with the credential;
   * - `open`: 200 without any credential (auth mode none);
   * - `unreachable`: no HTTP answer;
   * - `unexpected`: anything else.
   */
  state: "ok" | "endpoint-disabled" | "credential-rejected" | "open" | "unreachable" | "unexpected";
  /** Status with the credential (`null`: not asked or no answer). */
  withCredential: number | null;
  /** Status without a credential (`null`: no answer). */
  withoutCredential: number | null;
}

/**
 * Probes the OpenAI-compatible API: `GET /v1/models` without auth first
 * (missing credentials do not count towards the gateway's failed-auth delay),
 * then with `Authorization: Bearer <credential>`.
 */
export async function probeGatewayApi(
  fetchFn: Fetch,
  url: string,
  credential: string | undefined,
): Promise<GatewayApiProbe> {
  const withoutCredential = await status(fetchFn, `${url}/v1/models`);
  if (withoutCredential === null) {
    return { state: "unreachable", withCredential: null, withoutCredential };
  }
  if (withoutCredential === 404) {
    return { state: "endpoint-disabled", withCredential: null, withoutCredential };
  }
  if (withoutCredential === 200) return { state: "open", withCredential: null, withoutCredential };
  if (credential === undefined) {
    return { state: "unexpected", withCredential: null, withoutCredential };
  }
  const withCredential = await status(fetchFn, `${url}/v1/models`, {
    headers: { authorization: `Bearer ${credential}` },
  }, 15_000);
  const state = withCredential === 200 && withoutCredential === 401
    ? "ok"
    : withCredential === 401
    ? "credential-rejected"
    : withCredential === null
    ? "unreachable"
    : "unexpected";
  return { state, withCredential, withoutCredential };
}

/**
 * Polls `check` until it returns a value, emitting progress events about
 * every 2 s; returns the value and the time waited, or `undefined` after
 * `limitMs`.
 */
export async function waitFor<T>(
  deps: Pick<GatewayDeps, "events" | "now" | "sleep">,
  step: string,
  message: string,
  limitMs: number,
  check: () => Promise<T | undefined>,
  intervalMs = 250,
): Promise<{ value: T; elapsedMs: number } | undefined> {
  const events = deps.events ?? ignoreEvents;
  let lastReport = -Infinity;
  return await poll(check, {
    timeoutMs: limitMs,
    intervalMs,
    now: deps.now ?? Date.now,
    sleep: deps.sleep ?? timerSleep,
    onWait: (elapsedMs) => {
      if (elapsedMs - lastReport < 2_000) return;
      events({ kind: "progress", step, message, elapsedMs, limitMs });
      lastReport = elapsedMs;
    },
  });
}

/** The gateway did not become ready in time: carries its log path and last lines. */
export class GatewayNotReadyError extends EctoError {
  /** The log to read. */
  readonly logPath: string;
  /** Its last lines (secrets redacted). */
  readonly logTail: string;
  /** `limitMs` is the bound that passed; `logTail` the last lines of `logPath`. */
  constructor(url: string, limitMs: number, logPath: string, logTail: string) {
    super(
      "openclaw_gateway_not_ready",
      `The OpenClaw gateway at ${url} was not ready after ${
        Math.round(limitMs / 1000)
      } s; its log is ${logPath}.${logTail ? `\nLast lines of ${logPath}:\n${logTail}` : ""}`,
      {
        fix:
          `Read ${logPath}, fix what it reports, then run \`openclaw gateway run\` or ecto again.`,
      },
    );
    this.name = "GatewayNotReadyError";
    this.logPath = logPath;
    this.logTail = logTail;
  }
}

/** The last `lines` lines of a log, colour codes stripped, secrets redacted. */
export async function readLogTail(
  path: string,
  lines = 20,
  secrets: readonly string[] = [],
): Promise<string> {
  try {
    const info = await Deno.stat(path);
    const file = await Deno.open(path, { read: true });
    try {
      const size = info.size;
      const start = Math.max(0, size - 64 * 1024);
      await file.seek(start, Deno.SeekMode.Start);
      const buf = new Uint8Array(size - start);
      let read = 0;
      while (read < buf.length) {
        const n = await file.read(buf.subarray(read));
        if (n === null) break;
        read += n;
      }
      // deno-lint-ignore no-control-regex
      let text = new TextDecoder().decode(buf.subarray(0, read)).replace(/\x1b\[[0-9;]*m/g, "");
      for (const s of secrets) if (s) text = text.split(s).join("<redacted>");
      return text.trimEnd().split("\n").filter((l) => l.trim()).slice(-lines).map(logLine)
        .join("\n");
    } finally {
      file.close();
    }
  } catch {
    return "";
  }
}

/** OpenClaw's file log is JSON lines: show `time message` for those, other lines as they are. */
function logLine(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const entry = JSON.parse(line) as { time?: unknown; message?: unknown };
    if (typeof entry.message === "string") {
      return `${typeof entry.time === "string" ? `${entry.time} ` : ""}${entry.message}`;
    }
  } catch { /* not JSON after all */ }
  return line;
}

/** The shared log file of gateways ecto did not start: `/tmp/openclaw/openclaw-YYYY-MM-DD.log`. */
export function openClawDailyLogPath(date: Date, profile?: string): string {
  const day = date.toISOString().slice(0, 10);
  return `/tmp/openclaw/openclaw-${profile ? `${profile}-` : ""}${day}.log`;
}

/**
 * Waits for `/readyz` 200, reporting progress; on timeout throws
 * {@link GatewayNotReadyError} with `logPath` and its last lines.
 */
export async function waitForGatewayReady(
  deps: Pick<GatewayDeps, "fetch" | "events" | "now" | "sleep" | "limits">,
  url: string,
  opts: { limitMs?: number; logPath: string; step?: string; secrets?: string[] },
): Promise<number> {
  const limitMs = opts.limitMs ?? deps.limits?.readyMs ?? GATEWAY_READY_TIMEOUT_MS;
  const waited = await waitFor(
    deps,
    opts.step ?? "openclaw.ready",
    `waiting for the OpenClaw gateway at ${url} to become ready`,
    limitMs,
    async () => (await status(deps.fetch, `${url}/readyz`)) === 200 ? true : undefined,
    500,
  );
  if (!waited) {
    throw new GatewayNotReadyError(
      url,
      limitMs,
      opts.logPath,
      await readLogTail(opts.logPath, 20, opts.secrets),
    );
  }
  return waited.elapsedMs;
}

/** An installed OpenClaw gateway service. */
