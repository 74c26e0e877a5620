/**
 * How the edge talks to the gateway.
 *
 * {@link UpstreamClient} is the narrow interface the handler uses. Two
 * implementations:
 *
 * - `createHttp1Upstream` (`http1_upstream.ts`): a small HTTP/1.1 client over `Deno.connect`
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
