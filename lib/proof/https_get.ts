/**
 * One HTTPS `GET` to a chosen address with the TLS name of the URL:
 * `node:https` with `servername` (SNI, and the name the certificate must
 * carry) and `ca`. `fetch` cannot do this: in Deno 2.9.6 a
 * `createHttpClient({ proxy: { transport: "tcp" } })` sends plain HTTP to the
 * socket and never starts TLS.
 *
 * @module
 */
// `node:https` is imported on the first request: loading Deno's Node HTTP stack costs ~25 ms of
// CPU, which `status --no-public`, `disconnect` and the keys commands never need.

/** One GET over TLS to a chosen address, verifying the certificate for `serverName`. */
export interface HttpsGetRequest {
  /** Where to connect: an IP address, or a name the system resolver resolves. */
  address: string;
  /** TCP port to connect to. */
  port: number;
  /** TLS server name: sent as SNI and required in the certificate. */
  serverName: string;
  /** `Host` header, e.g. `build-box.tail1234.ts.net` or `…:8443`. */
  hostHeader: string;
  /** Request target, e.g. `/v1/models`. */
  path: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Extra trusted CA certificates (PEM), on top of the system's. */
  caCerts?: string[];
  /** Whole-exchange timeout. */
  timeoutMs: number;
}

/** A response read to the end. */
export interface HttpsGetResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The body, decoded as UTF-8 (at most 1 MiB). */
  body: string;
}

/** The connector the proof uses; {@link httpsGet} by default. */
export type HttpsGet = (request: HttpsGetRequest) => Promise<HttpsGetResponse>;

const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * `GET` with `Connection: close`, read to the end. Failures are `node:https`
 * errors (`code` `ECONNREFUSED`, `ERR_TLS_CERT_ALTNAME_INVALID`, …), a
 * `Deno.errors.TimedOut` once `timeoutMs` passes, or Deno's `NotCapable` when
 * the permission set does not allow the address; none contains the headers.
 */
export async function httpsGet(request: HttpsGetRequest): Promise<HttpsGetResponse> {
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (/[\r\n]/.test(name + value)) throw new TypeError(`header ${name} contains a line break`);
  }
  const [{ request: httpsRequest }, { rootCertificates }] = await Promise.all([
    import("node:https"),
    import("node:tls"),
  ]);
  const controller = new AbortController();
  const signal = controller.signal;
  const extraCa = request.caCerts ?? [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<HttpsGetResponse>((resolve, reject) => {
    timer = setTimeout(() => controller.abort(), request.timeoutMs);
    const timedOut = () =>
      new Deno.errors.TimedOut(
        `no answer from ${request.address}:${request.port} within ${request.timeoutMs} ms`,
      );
    const req = httpsRequest({
      host: request.address,
      port: request.port,
      path: request.path,
      method: "GET",
      servername: request.serverName,
      // `ca` replaces the trusted roots in Node, so the system's go first.
      ...(extraCa.length > 0 ? { ca: [...rootCertificates, ...extraCa] } : {}),
      headers: {
        Host: request.hostHeader,
        "User-Agent": "ecto-proof",
        Accept: "application/json",
        Connection: "close",
        ...request.headers,
      },
      agent: false,
      signal,
    }, (res) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      res.on("data", (chunk: Uint8Array) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy(new Error("response larger than 1 MiB"));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
            headers.append(name, v);
          }
        }
        const body = new Uint8Array(size);
        let offset = 0;
        for (const c of chunks) {
          body.set(c, offset);
          offset += c.length;
        }
        resolve({
          status: res.statusCode ?? 0,
          headers,
          body: new TextDecoder().decode(body),
        });
      });
      res.on("error", (error: Error) => reject(signal.aborted ? timedOut() : error));
    });
    req.on("error", (error: Error) => reject(signal.aborted ? timedOut() : error));
    req.end();
  });
  return await done.finally(() => clearTimeout(timer));
}
