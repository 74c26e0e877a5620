/**
 * The backend leg of the double's proxy, like Go's `http.Transport` under
 * `httputil.ReverseProxy`: exactly the headers given (no default
 * User-Agent/Accept-Language as `fetch` would add), `Accept-Encoding: gzip`
 * added only when the client sent none (and then gzip decoded transparently),
 * request and response bodies streamed chunk by chunk.
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

const httpAgent = new http.Agent({ keepAlive: true, timeout: 90_000 });
const httpsAgent = new https.Agent({ keepAlive: true, timeout: 90_000 });

/** Sends the request to `target` and resolves with the backend's streamed response. */
export function forward(
  target: URL,
  method: string,
  headers: Headers,
  body: ReadableStream<Uint8Array> | null,
  signal: AbortSignal,
  insecure = false,
): Promise<Response> {
  const outHeaders: Record<string, string | string[]> = {};
  for (const [k, v] of headers) outHeaders[k] = v;
  const transparentGzip = !headers.has("accept-encoding") && method !== "HEAD";
  if (transparentGzip) outHeaders["accept-encoding"] = "gzip";
  const isTls = target.protocol === "https:";
  return new Promise((resolve, reject) => {
    const req = (isTls ? https : http).request({
      protocol: target.protocol,
      hostname: target.hostname.replace(/^\[|\]$/g, ""),
      port: target.port || (isTls ? 443 : 80),
      method,
      path: target.pathname + target.search,
      headers: outHeaders,
      setHost: false,
      agent: isTls ? httpsAgent : httpAgent,
      ...(isTls ? { servername: target.hostname, rejectUnauthorized: !insecure } : {}),
    }, (res) => {
      const respHeaders = new Headers();
      const raw = res.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) respHeaders.append(raw[i], raw[i + 1]);
      const status = res.statusCode ?? 502;
      const noBody = method === "HEAD" || status === 204 || status === 304 ||
        (status >= 100 && status < 200);
      let stream: ReadableStream<Uint8Array> | null = noBody
        ? null
        : Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
      if (noBody) res.resume();
      if (stream && transparentGzip && respHeaders.get("content-encoding") === "gzip") {
        stream = stream.pipeThrough(new DecompressionStream("gzip") as never);
        respHeaders.delete("content-encoding");
        respHeaders.delete("content-length");
      }
      resolve(
        new Response(stream, { status, statusText: res.statusMessage, headers: respHeaders }),
      );
    });
    req.on("error", reject);
    const onAbort = () => req.destroy(new Error("context canceled"));
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("close", () => signal.removeEventListener("abort", onAbort));
    if (!body) {
      req.end();
      return;
    }
    (async () => {
      const reader = body.getReader();
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          if (!req.write(value)) await new Promise((r) => req.once("drain", r));
        }
        req.end();
      } catch (e) {
        req.destroy(e as Error);
      }
    })();
  });
}
