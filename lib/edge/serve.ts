/**
 * Serving the edge handler with `Deno.serve`, on loopback only: Funnel's
 * tailscaled is on the same host, and nothing else should reach the edge
 * directly. A non-loopback address is refused with {@link EdgeListenError}.
 *
 * @module
 */
import { type Guard, startGuard } from "./_guard.ts";
import { EdgeListenError } from "./errors.ts";
import type { EdgeHandler } from "./handler.ts";
import { errorResponse } from "./routes.ts";

/** The edge's default listen address. */
export const DEFAULT_EDGE_HOSTNAME = "127.0.0.1";
import { DEFAULT_EDGE_PORT } from "../core/addresses.ts";
export { DEFAULT_EDGE_PORT };

/** A parsed listen address. */
export interface ListenAddress {
  /** A loopback address. */
  hostname: string;
  /** 0–65535 (0: any free port). */
  port: number;
}

/** Whether `hostname` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`). */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/**
 * Parses `host:port`, `[v6]:port` or a bare port (meaning 127.0.0.1) and
 * checks it is loopback. `localhost` becomes `127.0.0.1` (the address Funnel targets).
 *
 * @throws {EdgeListenError} for a non-loopback host, a missing host or a bad port.
 */
export function parseListen(listen: string): ListenAddress {
  const text = listen.trim();
  let host: string;
  let portText: string;
  if (/^\d+$/.test(text)) {
    host = DEFAULT_EDGE_HOSTNAME;
    portText = text;
  } else if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1 || text[close + 1] !== ":") {
      throw new EdgeListenError(listen, "expected [address]:port");
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon === -1 || text.indexOf(":") !== colon) {
      throw new EdgeListenError(listen, "expected host:port");
    }
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new EdgeListenError(listen, "the port is not a number from 0 to 65535");
  }
  return { hostname: checkLoopback(host, listen), port };
}

function checkLoopback(host: string, listen: string): string {
  if (host === "") throw new EdgeListenError(listen, "an empty host would mean every interface");
  if (!isLoopbackHostname(host)) throw new EdgeListenError(listen, `${host} is not loopback`);
  return host.toLowerCase() === "localhost" ? DEFAULT_EDGE_HOSTNAME : host;
}

/** Options of {@link serveEdge}. */
export interface ServeEdgeOptions {
  /** The handler; the server owns it from now on and closes it on shutdown. */
  handler: EdgeHandler;
  /** `host:port` (as in the edge config); wins over `hostname`/`port`. */
  listen?: string;
  /** Loopback hostname. Default `127.0.0.1`. */
  hostname?: string;
  /** Port; `0` picks a free one. Default 18795. */
  port?: number;
  /** How long shutdown lets in-flight streams finish before aborting them, ms. Default 10 000. */
  shutdownGraceMs?: number;
  /**
   * A request head must arrive whole within this many ms of its first byte
   * (of the connection's start, for the first request), or the connection is
   * closed. Default 10 000. `0` together with `idleTimeoutMs: 0` serves with
   * plain `Deno.serve` (no guard, one hop less).
   */
  headerTimeoutMs?: number;
  /** Connections with nothing in progress and no byte moved this long are closed, ms. Default 60 000. */
  idleTimeoutMs?: number;
  /** Clock of the guard's deadlines, ms (tests). Default `performance.now`. */
  now?: () => number;
  /** How often the guard checks deadlines, ms. Default 1000. */
  guardSweepMs?: number;
  /** Called after each guard sweep (tests wait on it). */
  onGuardSweep?: () => void;
}

/** A running edge server. `await using` shuts it down. */
export interface EdgeServer extends AsyncDisposable {
  /** The address it listens on. */
  hostname: string;
  /** The port it listens on. */
  port: number;
  /** `http://host:port` (what the Funnel route targets). */
  url: string;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Connections the guard holds open now (0 without the guard). */
  readonly guardConnections: number;
  /** Connections the guard closed: slow heads, idle. `undefined` without the guard. */
  readonly guardClosed: { header: number; idle: number } | undefined;
  /**
   * Stops accepting connections, answers new requests on open connections
   * with 503, lets in-flight requests and streams finish for up to
   * `graceMs` (default: the server's `shutdownGraceMs`), then aborts them.
   * Idempotent.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Serves `handler` on a loopback address with `Deno.serve` (no listen
 * message, no automatic compression, so event streams are never buffered).
 *
 * @throws {EdgeListenError} when `hostname` is not loopback.
 */
export function serveEdge(options: ServeEdgeOptions): EdgeServer {
  const parsed = options.listen === undefined ? undefined : parseListen(options.listen);
  const requested = parsed?.hostname ?? options.hostname ?? DEFAULT_EDGE_HOSTNAME;
  const port = parsed?.port ?? options.port ?? DEFAULT_EDGE_PORT;
  const hostname = checkLoopback(requested, `${requested}:${port}`);
  const handler = options.handler;
  const defaultGrace = options.shutdownGraceMs ?? 10_000;
  const headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const guarded = headerTimeoutMs > 0 || idleTimeoutMs > 0;
  // With the guard, Deno.serve listens on a private loopback port and the guard on the real one.
  const listener = guarded ? Deno.listen({ hostname, port, transport: "tcp" }) : undefined;
  const server = Deno.serve({
    hostname: guarded ? (hostname.includes(":") ? "::1" : "127.0.0.1") : hostname,
    port: guarded ? 0 : port,
    automaticCompression: false,
    onListen: () => {},
    onError: () => errorResponse(500, "edge_error", "The edge failed to handle the request."),
  }, handler);
  const innerAddr = server.addr as Deno.NetAddr;
  let guard: Guard | undefined;
  if (listener) {
    guard = startGuard({
      listener,
      inner: { hostname: innerAddr.hostname, port: innerAddr.port },
      headerTimeoutMs: headerTimeoutMs > 0 ? headerTimeoutMs : Infinity,
      idleTimeoutMs: idleTimeoutMs > 0 ? idleTimeoutMs : Infinity,
      ...(options.guardSweepMs !== undefined ? { sweepIntervalMs: options.guardSweepMs } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.onGuardSweep ? { onSweep: options.onGuardSweep } : {}),
    });
  }
  const addr = (listener?.addr ?? innerAddr) as Deno.NetAddr;
  const urlHost = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = defaultGrace): Promise<void> => {
    stopping ??= (async () => {
      handler.beginShutdown();
      guard?.stopAccepting();
      const stopped = server.shutdown();
      const timer = setTimeout(() => handler.abortAll(), graceMs);
      try {
        await stopped;
      } finally {
        clearTimeout(timer);
        // The inner server has closed its side: let the last relayed bytes reach clients.
        await guard?.drained(1_000);
        guard?.closeAll();
        await guard?.finished;
        await handler.close();
      }
    })();
    return stopping;
  };

  return {
    hostname: addr.hostname,
    port: addr.port,
    url: `http://${urlHost}:${addr.port}`,
    finished: guard
      ? Promise.all([server.finished, guard.finished]).then(() => {})
      : server.finished,
    get guardConnections() {
      return guard?.connections ?? 0;
    },
    get guardClosed() {
      return guard ? { ...guard.closed } : undefined;
    },
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
}
