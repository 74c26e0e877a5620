/**
 * How the edge talks to the gateway.
 *
 * {@link UpstreamClient} is the narrow interface the handler uses. Two
 * implementations:
 *
 * - {@link createHttp1Upstream}: a small HTTP/1.1 client over `Deno.connect`
 *   with its own keep-alive pool. The default for `http://` upstreams: on
 *   this path it needs about half the CPU of `fetch` per request (measured:
 *   ~40 µs vs ~80 µs for a small JSON response), which is most of the edge's
 *   cost. It never reuses a connection idle for more than `poolIdleTimeoutMs`
 *   (2.5 s, under the gateway's `Keep-Alive: timeout=5`), knows exactly
 *   whether any response byte arrived (so a request that raced a keep-alive
 *   close is retried once, safely), streams chunked bodies (SSE) piece by
 *   piece as they arrive, and reads small bodies of known length whole.
 * - {@link fetchUpstream}: the same interface over `fetch` (an injected one in
 *   tests, or Deno's with a dedicated `Deno.HttpClient` for `https://`).
 *
 * @module
 */
import type { HeaderPairs } from "./routes.ts";

/** One request to the gateway. */
export interface UpstreamRequest {
  /** `GET` or `POST`. */
  method: string;
  /** Path (and query) on the gateway, already canonical. */
  path: string;
  /** Headers to send (lower-case names); `host` and `content-length` are added by the client. */
  headers: HeaderPairs;
  /** The whole request body (the edge buffers it, so a retry can resend it). */
  body?: Uint8Array<ArrayBuffer>;
  /** Aborting it closes the connection and fails the request or its body stream. */
  signal: AbortSignal;
}

/** The gateway's answer. */
export interface UpstreamResponse {
  /** HTTP status. */
  status: number;
  /** Response headers, lower-case names, hop-by-hop ones included (the handler filters). */
  headers: HeaderPairs;
  /**
   * The body: read whole (`Uint8Array`) when it has a known length of at most
   * `bufferLimit` bytes and is not an event stream; otherwise a stream that
   * yields data as it arrives; `null` when there is none.
   */
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
}

/** What the handler needs from a gateway client. */
export interface UpstreamClient {
  /** Sends one request; rejects when no response head arrived (after its own retry). */
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
  /** Closes pooled connections; in-flight requests are ended by aborting their signals. */
  close(): void;
}

/** Options of {@link createHttp1Upstream}. */
export interface Http1UpstreamOptions {
  /** Pooled connections idle longer than this are closed, never reused, ms. Default 2500. */
  poolIdleTimeoutMs?: number;
  /** Idle connections kept at most. Default 64. */
  maxIdle?: number;
  /** Bodies of known length up to this size are read whole. Default 1 MiB. */
  bufferLimit?: number;
  /** Largest response head accepted, bytes. Default 64 KiB. */
  maxHeadBytes?: number;
  /** Clock for idle accounting, ms. Default `performance.now`. */
  now?: () => number;
}

/** The connection failed before any byte of a response arrived (safe to retry once). */
export class NoResponseError extends Error {
  /** Whether the connection had served earlier requests (a keep-alive race is likely). */
  readonly reused: boolean;
  /** `reused`: whether the connection had served requests before. */
  constructor(message: string, reused: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = "NoResponseError";
    this.reused = reused;
  }
}

/** The gateway sent something that is not HTTP/1.1 as we know it. */
export class UpstreamProtocolError extends Error {
  /** What was wrong, in one sentence. */
  constructor(message: string) {
    super(message);
    this.name = "UpstreamProtocolError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CR = 13;
const LF = 10;

class Connection {
  readonly conn: Deno.TcpConn;
  /** Small to start (a gateway response head is ~400 bytes; 1,000 open streams hold 1,000 of these). */
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(4096);
  start = 0;
  end = 0;
  reused = false;
  idleSince = 0;
  closed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Reads more bytes into the buffer; false on end of stream. */
  async fill(maxBuffer: number): Promise<boolean> {
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    } else if (this.end === this.buf.length) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        if (this.buf.length >= maxBuffer) {
          throw new UpstreamProtocolError("the gateway's response head is too large");
        }
        const bigger = new Uint8Array(this.buf.length * 2);
        bigger.set(this.buf.subarray(0, this.end));
        this.buf = bigger;
      }
    }
    const n = await this.conn.read(this.buf.subarray(this.end));
    if (n === null) return false;
    this.end += n;
    return true;
  }

  async writeAll(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.length) written += await this.conn.write(data.subarray(written));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

interface Head {
  status: number;
  headers: HeaderPairs;
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  eventStream: boolean;
}

/**
 * An HTTP/1.1 client for one `http://host:port` upstream with a keep-alive
 * pool; see the module documentation.
 */
export function createHttp1Upstream(
  base: string,
  options: Http1UpstreamOptions = {},
): UpstreamClient {
  const url = new URL(base);
  if (url.protocol !== "http:") throw new TypeError("createHttp1Upstream needs an http:// URL");
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 80);
  const hostHeader = url.host;
  const prefix = url.pathname.replace(/\/+$/, "");
  const idleTimeout = options.poolIdleTimeoutMs ?? 2500;
  const maxIdle = options.maxIdle ?? 64;
  const bufferLimit = options.bufferLimit ?? 1024 * 1024;
  const maxHead = options.maxHeadBytes ?? 64 * 1024;
  const now = options.now ?? (() => performance.now());
  const idle: Connection[] = [];
  let closed = false;

  const acquire = async (): Promise<Connection> => {
    const t = now();
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (t - c.idleSince < idleTimeout) return c;
      c.close();
    }
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new Connection(conn);
  };

  const release = (c: Connection, keepAlive: boolean): void => {
    if (closed || !keepAlive || c.closed || c.start !== c.end) {
      c.close();
      return;
    }
    c.start = 0;
    c.end = 0;
    c.reused = true;
    const t = now();
    c.idleSince = t;
    // Close expired connections at the bottom of the stack (the oldest) as we go.
    while (idle.length > 0 && t - idle[0].idleSince >= idleTimeout) idle.shift()!.close();
    if (idle.length >= maxIdle) idle.shift()!.close();
    idle.push(c);
  };

  const exchange = async (
    c: Connection,
    req: UpstreamRequest,
    detach: () => void,
  ): Promise<UpstreamResponse> => {
    // --- request
    let head = `${req.method} ${prefix}${req.path} HTTP/1.1\r\nhost: ${hostHeader}\r\n`;
    for (const [name, value] of req.headers) head += `${name}: ${value}\r\n`;
    const body = req.body;
    if (body !== undefined || req.method === "POST") {
      head += `content-length: ${body?.byteLength ?? 0}\r\n`;
    }
    head += "\r\n";
    let bytes: Uint8Array = encoder.encode(head);
    if (body !== undefined && body.byteLength > 0) {
      if (body.byteLength <= 64 * 1024) {
        const joined = new Uint8Array(bytes.length + body.byteLength);
        joined.set(bytes);
        joined.set(body, bytes.length);
        bytes = joined;
      }
    }
    try {
      await c.writeAll(bytes);
      if (body !== undefined && body.byteLength > 64 * 1024) await c.writeAll(body);
    } catch (error) {
      throw new NoResponseError("could not send the request to the gateway", c.reused, {
        cause: error,
      });
    }

    // --- response head (skipping 1xx)
    let parsed: Head;
    let received = false;
    while (true) {
      let scanFrom = c.start;
      let headEnd = -1;
      while (headEnd === -1) {
        headEnd = findHeadEnd(c.buf, scanFrom, c.end);
        if (headEnd !== -1) break;
        scanFrom = Math.max(c.start, c.end - 3);
        if (c.end - c.start > maxHead) {
          throw new UpstreamProtocolError("the gateway's response head is too large");
        }
        let more: boolean;
        try {
          more = await c.fill(maxHead);
        } catch (error) {
          if (!received && !(error instanceof UpstreamProtocolError)) {
            throw new NoResponseError("the gateway closed the connection", c.reused, {
              cause: error,
            });
          }
          throw error;
        }
        if (!more) {
          if (!received) throw new NoResponseError("the gateway closed the connection", c.reused);
          throw new UpstreamProtocolError("the gateway closed the connection mid-response");
        }
        received = true;
        scanFrom = Math.max(c.start, scanFrom);
      }
      parsed = parseHead(c.buf, c.start, headEnd);
      c.start = headEnd;
      if (parsed.status >= 200 || parsed.status === 101) break;
      received = true; // an informational response: the real one follows
    }
    if (parsed.status === 101) throw new UpstreamProtocolError("the gateway switched protocols");

    // --- body
    const noBody = parsed.status === 204 || parsed.status === 304 || req.method === "HEAD";
    if (noBody || (!parsed.chunked && parsed.contentLength === 0)) {
      release(c, parsed.keepAlive);
      return { status: parsed.status, headers: parsed.headers, body: null };
    }
    if (!parsed.chunked && parsed.contentLength > 0 && parsed.contentLength <= bufferLimit) {
      if (!parsed.eventStream) {
        const whole = await readFixed(c, parsed.contentLength);
        release(c, parsed.keepAlive);
        return { status: parsed.status, headers: parsed.headers, body: whole };
      }
    }
    return {
      status: parsed.status,
      headers: parsed.headers,
      body: bodyStream(c, parsed, req.signal, detach, release),
    };
  };

  return {
    async request(req: UpstreamRequest): Promise<UpstreamResponse> {
      if (closed) throw new NoResponseError("the upstream client is closed", false);
      for (let attempt = 0;; attempt++) {
        if (req.signal.aborted) throw req.signal.reason;
        let c: Connection;
        try {
          c = await acquire();
        } catch (error) {
          throw new Error("cannot connect to the gateway", { cause: error });
        }
        const onAbort = () => c.close();
        const detach = () => req.signal.removeEventListener("abort", onAbort);
        req.signal.addEventListener("abort", onAbort);
        try {
          const response = await exchange(c, req, detach);
          // a body stream owns the connection and the abort listener from here
          if (!(response.body instanceof ReadableStream)) detach();
          return response;
        } catch (error) {
          req.signal.removeEventListener("abort", onAbort);
          c.close();
          if (req.signal.aborted) throw req.signal.reason;
          // A pooled connection the gateway had closed (its 5 s keep-alive) or reset before
          // answering: nothing was processed, so one retry on a fresh connection is safe.
          const retriable = error instanceof NoResponseError &&
            (error.reused || req.method === "GET");
          if (attempt === 0 && retriable) continue;
          throw error;
        }
      }
    },
    close(): void {
      closed = true;
      for (const c of idle.splice(0)) c.close();
    },
  };

  async function readFixed(c: Connection, length: number): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(length);
    const have = Math.min(length, c.end - c.start);
    out.set(c.buf.subarray(c.start, c.start + have));
    c.start += have;
    let got = have;
    while (got < length) {
      const n = await c.conn.read(out.subarray(got));
      if (n === null) throw new UpstreamProtocolError("the gateway closed the connection mid-body");
      got += n;
    }
    return out;
  }

  function bodyStream(
    c: Connection,
    head: Head,
    signal: AbortSignal,
    detach: () => void,
    done: (c: Connection, keepAlive: boolean) => void,
  ): ReadableStream<Uint8Array> {
    let remaining = head.chunked ? 0 : head.contentLength; // -1: until close
    let state: "size" | "data" | "crlf" | "trailers" | "fixed" | "close" = head.chunked
      ? "size"
      : head.contentLength >= 0
      ? "fixed"
      : "close";
    let finished = false;
    const finish = (reuse: boolean) => {
      if (finished) return;
      finished = true;
      detach();
      if (reuse) done(c, head.keepAlive);
      else c.close();
    };
    const need = async (): Promise<void> => {
      if (!(await c.fill(maxHead))) {
        throw new UpstreamProtocolError("the gateway closed the connection mid-body");
      }
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          while (true) {
            if (state === "fixed") {
              if (remaining === 0) {
                finish(true);
                controller.close();
                return;
              }
              if (c.start === c.end) await need();
              const n = Math.min(remaining, c.end - c.start);
              const piece = c.buf.slice(c.start, c.start + n);
              c.start += n;
              remaining -= n;
              controller.enqueue(piece);
              return;
            }
            if (state === "close") {
              if (c.start === c.end && !(await c.fill(maxHead))) {
                finish(false);
                controller.close();
                return;
              }
              const piece = c.buf.slice(c.start, c.end);
              c.start = c.end;
              controller.enqueue(piece);
              return;
            }
            if (state === "size" || state === "trailers") {
              const lineEnd = indexOfCrlf(c.buf, c.start, c.end);
              if (lineEnd === -1) {
                if (c.end - c.start > 4096) {
                  throw new UpstreamProtocolError("bad chunked encoding from the gateway");
                }
                await need();
                continue;
              }
              const line = c.start === lineEnd
                ? ""
                : decoder.decode(c.buf.subarray(c.start, lineEnd));
              c.start = lineEnd + 2;
              if (state === "trailers") {
                if (line === "") {
                  finish(true);
                  controller.close();
                  return;
                }
                continue;
              }
              const semi = line.indexOf(";");
              const size = parseInt(semi === -1 ? line : line.slice(0, semi), 16);
              if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+\s*(;|$)/.test(line)) {
                throw new UpstreamProtocolError("bad chunk size from the gateway");
              }
              if (size === 0) state = "trailers";
              else {
                remaining = size;
                state = "data";
              }
              continue;
            }
            if (state === "data") {
              if (c.start === c.end) await need();
              const n = Math.min(remaining, c.end - c.start);
              const piece = c.buf.slice(c.start, c.start + n);
              c.start += n;
              remaining -= n;
              if (remaining === 0) state = "crlf";
              controller.enqueue(piece);
              return;
            }
            // state === "crlf"
            while (c.end - c.start < 2) await need();
            if (c.buf[c.start] !== CR || c.buf[c.start + 1] !== LF) {
              throw new UpstreamProtocolError("bad chunked encoding from the gateway");
            }
            c.start += 2;
            state = "size";
          }
        } catch (error) {
          finish(false);
          controller.error(signal.aborted ? signal.reason : error);
        }
      },
      cancel() {
        finish(false);
      },
    }, { highWaterMark: 0 });
  }
}

/** Index of the byte after `\r\n\r\n` in `buf[from, to)`, or -1. */
function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  for (let i = from + 3; i < to; i++) {
    if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
  }
  return -1;
}

/** Index of the `\r` of the first `\r\n` in `buf[from, to)`, or -1. */
function indexOfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 1 < to; i++) if (buf[i] === CR && buf[i + 1] === LF) return i;
  return -1;
}

function parseHead(buf: Uint8Array, from: number, to: number): Head {
  const text = decoder.decode(buf.subarray(from, to - 4));
  const lines = text.split("\r\n");
  const statusLine = lines[0];
  if (!statusLine.startsWith("HTTP/1.")) {
    throw new UpstreamProtocolError("the gateway did not answer with HTTP/1.x");
  }
  const status = Number(statusLine.slice(9, 12));
  if (!(status >= 100 && status <= 599) || statusLine.charCodeAt(12) > 32) {
    throw new UpstreamProtocolError("bad status line from the gateway");
  }
  const http10 = statusLine.startsWith("HTTP/1.0");
  const headers: HeaderPairs = [];
  let contentLength = -1;
  let chunked = false;
  let keepAlive = !http10;
  let eventStream = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) throw new UpstreamProtocolError("bad header line from the gateway");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.push([name, value]);
    switch (name) {
      case "content-length": {
        const n = Number(value);
        if (!/^\d+$/.test(value) || (contentLength !== -1 && contentLength !== n)) {
          throw new UpstreamProtocolError("bad content-length from the gateway");
        }
        contentLength = n;
        break;
      }
      case "transfer-encoding":
        if (value.toLowerCase().split(",").map((s) => s.trim()).at(-1) === "chunked") {
          chunked = true;
        } else throw new UpstreamProtocolError("unsupported transfer-encoding from the gateway");
        break;
      case "connection": {
        const v = value.toLowerCase();
        if (v.includes("close")) keepAlive = false;
        else if (v.includes("keep-alive")) keepAlive = true;
        break;
      }
      case "content-type":
        eventStream = value.toLowerCase().startsWith("text/event-stream");
        break;
    }
  }
  if (chunked) contentLength = -1;
  // A body delimited by the connection's end cannot share the connection.
  if (!chunked && contentLength === -1 && status >= 200 && status !== 204 && status !== 304) {
    keepAlive = false;
  }
  return { status, headers, contentLength, chunked, keepAlive, eventStream };
}

/** Options of {@link fetchUpstream}. */
export interface FetchUpstreamOptions {
  /** Bodies of known length up to this size are read whole. Default 1 MiB. */
  bufferLimit?: number;
  /** Pool idle timeout of the dedicated `Deno.HttpClient` (when `fetch` is not injected), ms. */
  poolIdleTimeoutMs?: number;
}

/** A `fetch`-compatible function (the handler's injectable upstream). */
export type FetchLike = (
  input: string,
  init: RequestInit & { client?: Deno.HttpClient },
) => Promise<Response>;

const STALE_CONNECTION =
  /connection (closed|reset)|closed before message completed|broken pipe|incomplete ?message|connection error|channel closed|unexpected eof|econnreset/i;

/** Whether a `fetch` failure looks like a pooled connection the gateway had already closed. */
export function isStaleConnectionError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (STALE_CONNECTION.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * {@link UpstreamClient} over `fetch`: the injected one, or Deno's with a
 * dedicated HTTP client whose idle pool timeout stays under the gateway's
 * 5 s keep-alive. A failure that looks like a stale pooled connection is
 * retried once.
 */
export function fetchUpstream(
  base: string,
  fetchFn?: FetchLike,
  options: FetchUpstreamOptions = {},
): UpstreamClient {
  const root = base.replace(/\/+$/, "");
  const bufferLimit = options.bufferLimit ?? 1024 * 1024;
  let httpClient: Deno.HttpClient | undefined;
  let call: FetchLike;
  if (fetchFn) call = fetchFn;
  else {
    const client = Deno.createHttpClient({
      poolIdleTimeout: options.poolIdleTimeoutMs ?? 2500,
      http2: false,
    });
    httpClient = client;
    call = (input, init) => fetch(input, { ...init, client });
  }
  return {
    async request(req: UpstreamRequest): Promise<UpstreamResponse> {
      const init: RequestInit = {
        method: req.method,
        headers: req.headers,
        signal: req.signal,
        redirect: "manual",
        ...(req.body !== undefined ? { body: req.body } : {}),
      };
      const url = `${root}${req.path}`;
      let response: Response;
      try {
        response = await call(url, init);
      } catch (error) {
        if (req.signal.aborted) throw req.signal.reason;
        if (!isStaleConnectionError(error)) throw error;
        response = await call(url, init);
      }
      const headers: HeaderPairs = [];
      for (const pair of response.headers) headers.push(pair);
      const stream = response.body;
      if (stream === null) return { status: response.status, headers, body: null };
      const type = response.headers.get("content-type") ?? "";
      const length = response.headers.get("content-length");
      if (
        length !== null && Number(length) <= bufferLimit &&
        !type.startsWith("text/event-stream")
      ) {
        try {
          return {
            status: response.status,
            headers,
            body: new Uint8Array(await response.arrayBuffer()),
          };
        } catch (error) {
          throw req.signal.aborted ? req.signal.reason : error;
        }
      }
      return { status: response.status, headers, body: stream };
    },
    close(): void {
      httpClient?.close();
      httpClient = undefined;
    },
  };
}
