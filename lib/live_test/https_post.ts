/**
 * One HTTPS `POST` to a chosen address with the TLS name of the URL, its
 * answer kept chunk by chunk with arrival times (time to first byte, SSE
 * pacing). The streaming sibling of `lib/proof/https_get.ts`, for the same
 * reason: `fetch` cannot connect to one address while verifying another name.
 *
 * @module
 */
import { request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";

/** One POST over TLS to a chosen address, verifying the certificate for `serverName`. */
export interface HttpsPostRequest {
  /** Where to connect: an IP address, or a name the system resolver resolves. */
  address: string;
  /** TCP port to connect to. */
  port: number;
  /** TLS server name: sent as SNI and required in the certificate. */
  serverName: string;
  /** `Host` header. */
  hostHeader: string;
  /** Request target, e.g. `/v1/chat/completions`. */
  path: string;
  /** Request headers (the key goes here, never in argv or a message). */
  headers: Record<string, string>;
  /** The JSON body. */
  body: string;
  /** Extra trusted CA certificates (PEM), on top of the system's. */
  caCerts?: string[];
  /** Whole-exchange timeout. */
  timeoutMs: number;
  /** Milliseconds clock for the chunk times. Default: `performance.now`. */
  now?: () => number;
}

/** A piece of the body and when it arrived, ms after the request started. */
export interface TimedChunk {
  /** Milliseconds after the request was sent. */
  atMs: number;
  /** The piece, decoded as UTF-8 (a character split across pieces is kept whole). */
  text: string;
}

/** The answer, read to its end. */
export interface HttpsPostResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Milliseconds from the request to the response head. */
  headersMs: number;
  /** The body in the pieces it came in (at most 4 MiB in all). */
  chunks: TimedChunk[];
  /** Milliseconds from the request to the end of the body. */
  totalMs: number;
}

/** The connector `ecto test` uses; {@link httpsPost} by default. */
export type HttpsPost = (request: HttpsPostRequest) => Promise<HttpsPostResponse>;

/** A timeout, and whether the response head had arrived by then. */
export class ExchangeTimeout extends Deno.errors.TimedOut {
  /** Whether the status line had arrived (the body was too slow) or not (no answer at all). */
  readonly afterHeaders: boolean;
  /** Makes the error. */
  constructor(message: string, afterHeaders: boolean) {
    super(message);
    this.name = "ExchangeTimeout";
    this.afterHeaders = afterHeaders;
  }
}

const MAX_BYTES = 4 << 20;

/**
 * `POST` with `Connection: close`, read to the end. Failures are `node:https`
 * errors (`ECONNREFUSED`, `ERR_TLS_CERT_ALTNAME_INVALID`, …), an
 * {@link ExchangeTimeout}, or Deno's `NotCapable` for a forbidden address;
 * none contains the headers.
 */
export function httpsPost(request: HttpsPostRequest): Promise<HttpsPostResponse> {
  for (const [name, value] of Object.entries(request.headers)) {
    if (/[\r\n]/.test(name + value)) throw new TypeError(`header ${name} contains a line break`);
  }
  const now = request.now ?? (() => performance.now());
  const start = now();
  const controller = new AbortController();
  const extraCa = request.caCerts ?? [];
  let headersSeen = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<HttpsPostResponse>((resolve, reject) => {
    timer = setTimeout(() => controller.abort(), request.timeoutMs);
    const fail = (error: Error) =>
      reject(
        controller.signal.aborted
          ? new ExchangeTimeout(
            `no ${
              headersSeen ? "end of the answer" : "answer"
            } from ${request.address}:${request.port} within ${request.timeoutMs} ms`,
            headersSeen,
          )
          : error,
      );
    const req = httpsRequest({
      host: request.address,
      port: request.port,
      path: request.path,
      method: "POST",
      servername: request.serverName,
      // `ca` replaces the trusted roots in Node, so the system's go first.
      ...(extraCa.length > 0 ? { ca: [...rootCertificates, ...extraCa] } : {}),
      headers: {
        Host: request.hostHeader,
        "User-Agent": "ecto-test",
        "Content-Type": "application/json",
        "Content-Length": String(new TextEncoder().encode(request.body).length),
        Connection: "close",
        ...request.headers,
      },
      agent: false,
      signal: controller.signal,
    }, (res) => {
      headersSeen = true;
      const headersMs = now() - start;
      const chunks: TimedChunk[] = [];
      const decoder = new TextDecoder();
      let size = 0;
      res.on("data", (chunk: Uint8Array) => {
        size += chunk.length;
        if (size > MAX_BYTES) {
          req.destroy(new Error("answer larger than 4 MiB"));
          return;
        }
        const text = decoder.decode(chunk, { stream: true });
        if (text !== "") chunks.push({ atMs: now() - start, text });
      });
      res.on("end", () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
            headers.append(name, v);
          }
        }
        const rest = decoder.decode();
        if (rest !== "") chunks.push({ atMs: now() - start, text: rest });
        resolve({
          status: res.statusCode ?? 0,
          headers,
          headersMs,
          chunks,
          totalMs: now() - start,
        });
      });
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end(request.body);
  });
  return done.finally(() => clearTimeout(timer));
}
