/**
 * The edge's own HTTP/1.1 client for an `http://` gateway on this machine,
 * with a keep-alive pool (see `upstream.ts` for why it exists and what it
 * guarantees: one retry of a request that raced a keep-alive close, chunked
 * bodies streamed piece by piece, small bodies of known length read whole).
 *
 * @module
 */
import { CR, findHeadEnd, type Head, indexOfCrlf, LF, parseHead } from "./_http1_head.ts";
import {
  NoResponseError,
  type UpstreamClient,
  UpstreamProtocolError,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./upstream.ts";

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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
