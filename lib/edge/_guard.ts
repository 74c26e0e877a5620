/**
 * The edge's connection guard: header-read and idle timeouts, which
 * `Deno.serve` does not have. It accepts the public-facing loopback
 * connections itself and relays each to the `Deno.serve` behind it on a
 * private loopback port, watching message boundaries in both directions
 * ({@link Framer}):
 *
 * - a request head must arrive whole within `headerTimeoutMs` of its first
 *   byte (of the connection's start, for the first request): slow-header
 *   connections are closed;
 * - a connection with no request or response in progress and no byte moved
 *   for `idleTimeoutMs` is closed (a silent event stream is in progress, so it
 *   stays).
 *
 * Deadlines are checked by one sweep every `sweepIntervalMs` on the injected
 * clock. Each connection holds 12 KiB of relay buffers (4 KiB up, 8 KiB down),
 * so 1,000 open streams cost about 12 MB more than `Deno.serve` alone.
 *
 * @module
 */
import { CONTENT_LENGTH_ERROR, Framer } from "./_framing.ts";

/** The answer to a request whose Content-Length fields are repeated or disagree (smuggling). */
const BAD_LENGTH = new TextEncoder().encode(
  (() => {
    const body = JSON.stringify({
      error: {
        message: "The request has a repeated, conflicting or malformed Content-Length header.",
        type: "invalid_request_error",
        code: "invalid_content_length",
      },
    });
    return `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
  })(),
);

/** Options of {@link startGuard}. */
export interface GuardOptions {
  /** The listener the guard accepts on. */
  listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  /** Where the real server listens (loopback). */
  inner: { hostname: string; port: number };
  /** A whole request head within this many ms. */
  headerTimeoutMs: number;
  /** Close connections idle this long between requests, ms. */
  idleTimeoutMs: number;
  /** Sweep interval, ms. Default 1000. */
  sweepIntervalMs?: number;
  /** Clock, ms. Default `performance.now`. */
  now?: () => number;
  /** Called after every sweep (tests wait on it instead of a sleep). */
  onSweep?: () => void;
}

/** A running guard. */
export interface Guard {
  /** Open guarded connections. */
  readonly connections: number;
  /** Connections closed for a slow head / for idleness so far. */
  readonly closed: { header: number; idle: number };
  /** Stops accepting; open connections end when the inner server closes them. */
  stopAccepting(): void;
  /** Closes every connection now. */
  closeAll(): void;
  /** Resolves once every connection has ended (the inner server closed them), or after `ms`. */
  drained(ms: number): Promise<void>;
  /** Resolves when the accept loop has ended. */
  finished: Promise<void>;
}

interface Watched {
  headSince: number | undefined;
  lastActivity: number;
  outstanding: number;
  requests: Framer;
  close(): void;
}

/** Starts the guard; see the module documentation. */
export function startGuard(options: GuardOptions): Guard {
  const now = options.now ?? (() => performance.now());
  const watched = new Set<Watched>();
  const closed = { header: 0, idle: 0 };
  let accepting = true;
  let drainWaiters: Array<() => void> = [];
  const ended = () => {
    if (watched.size > 0) return;
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const w of waiters) w();
  };

  const sweep = () => {
    const t = now();
    for (const w of watched) {
      if (w.headSince !== undefined && t - w.headSince > options.headerTimeoutMs) {
        closed.header++;
        w.close();
      } else if (
        w.outstanding === 0 && w.headSince === undefined && w.requests.idle &&
        t - w.lastActivity > options.idleTimeoutMs
      ) {
        closed.idle++;
        w.close();
      }
    }
    options.onSweep?.();
  };
  const timer = setInterval(sweep, options.sweepIntervalMs ?? 1000);
  Deno.unrefTimer(timer);

  const serveOne = async (client: Deno.TcpConn): Promise<void> => {
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname: options.inner.hostname, port: options.inner.port });
    } catch {
      client.close();
      return;
    }
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const methods: string[] = [];
    const requests = new Framer("request");
    const responses = new Framer("response", methods);
    let done = false;
    const w: Watched = {
      headSince: now(),
      lastActivity: now(),
      outstanding: 0,
      requests,
      close: () => {
        if (done) return;
        done = true;
        watched.delete(w);
        ended();
        try {
          client.close();
        } catch { /* already closed */ }
        try {
          upstream.close();
        } catch { /* already closed */ }
      },
    };
    watched.add(w);

    const clientToServer = async () => {
      const buf = new Uint8Array(4 * 1024);
      while (!done) {
        const n = await client.read(buf).catch(() => null);
        if (n === null) break;
        const chunk = buf.subarray(0, n);
        const t = now();
        w.lastActivity = t;
        const seen = requests.feed(chunk);
        if (seen.error) {
          // Nothing of this head goes on; a length dispute gets the same answer the handler gives.
          if (seen.error === CONTENT_LENGTH_ERROR) {
            await writeAll(client, BAD_LENGTH).catch(() => {});
          }
          w.close();
          break;
        }
        for (const head of seen.heads) {
          methods.push(head.method ?? "GET");
          w.outstanding++;
        }
        // A head in progress keeps the deadline its first byte set (the connection's
        // start, for the first one); a finished head clears it.
        if (requests.midHead) w.headSince ??= t;
        else if (seen.heads.length > 0 || requests.idle) w.headSince = undefined;
        try {
          await writeAll(upstream, chunk);
        } catch {
          break;
        }
      }
      // The client finished sending: let the answer come back, then end.
      try {
        await upstream.closeWrite();
      } catch { /* closed */ }
    };
    const serverToClient = async () => {
      const buf = new Uint8Array(8 * 1024);
      while (!done) {
        const n = await upstream.read(buf).catch(() => null);
        if (n === null) break;
        const chunk = buf.subarray(0, n);
        w.lastActivity = now();
        const seen = responses.feed(chunk);
        w.outstanding = Math.max(0, w.outstanding - seen.completed);
        try {
          await writeAll(client, chunk);
        } catch {
          break;
        }
      }
      w.close();
    };
    await Promise.all([clientToServer(), serverToClient()]);
    w.close();
  };

  const finished = (async () => {
    try {
      for await (const conn of options.listener) {
        if (!accepting) {
          conn.close();
          continue;
        }
        void serveOne(conn);
      }
    } catch {
      // listener closed
    } finally {
      clearInterval(timer);
    }
  })();

  return {
    get connections() {
      return watched.size;
    },
    closed,
    stopAccepting() {
      if (!accepting) return;
      accepting = false;
      try {
        options.listener.close();
      } catch { /* closed */ }
    },
    closeAll() {
      for (const w of watched) w.close();
    },
    drained(ms: number): Promise<void> {
      if (watched.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        drainWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    finished,
  };
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
