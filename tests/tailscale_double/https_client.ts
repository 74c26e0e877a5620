/**
 * An HTTPS client for reaching the double's "internet" side from tests:
 * `node:https` to the public listener on 127.0.0.1 with the node's DNS name
 * as `servername` (SNI, and the name the certificate must carry) and only the
 * throwaway CA as `ca`. (`fetch` cannot send SNI for a name while dialling
 * another address.)
 *
 * @module
 */
import { request as httpsRequest } from "node:https";

/** One piece of the response body and when it arrived (ms since the request was sent). */
export interface TimedChunk {
  at: number;
  text: string;
}

/** A parsed response. */
export interface FunnelResponse {
  status: number;
  headers: Headers;
  body: string;
  /** Body pieces as they arrived (chunked encoding decoded). */
  chunks: TimedChunk[];
}

/** What to send. */
export interface FunnelRequest {
  /** Local port of the public listener (`double.publicPorts[443]`). */
  localPort: number;
  /** SNI and Host name (the node's DNS name). */
  hostname: string;
  /** PEM of the CA (`Deno.readTextFile(double.caFile)`). */
  caPem: string;
  path?: string;
  method?: string;
  /** Host header; default `hostname` (add `:8443` for other ports if wanted). */
  host?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Thrown when the listener closes the connection without answering (Funnel
 * off) or the TLS handshake fails (e.g. a certificate for another name).
 */
export class ConnectionClosedError extends Error {}

/** Sends one request (`Connection: close`) and reads the whole response. */
export function funnelRequest(req: FunnelRequest): Promise<FunnelResponse> {
  const body = req.body !== undefined ? new TextEncoder().encode(req.body) : undefined;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = httpsRequest({
      host: "127.0.0.1",
      port: req.localPort,
      method: req.method ?? "GET",
      path: req.path ?? "/",
      servername: req.hostname,
      ca: [req.caPem],
      agent: false,
      headers: {
        Host: req.host ?? req.hostname,
        Connection: "close",
        ...(body ? { "Content-Length": String(body.length) } : {}),
        ...req.headers,
      },
    }, (res) => {
      const chunks: TimedChunk[] = [];
      const decoder = new TextDecoder();
      res.on("data", (data: Uint8Array) => {
        chunks.push({
          at: performance.now() - started,
          text: decoder.decode(data, { stream: true }),
        });
      });
      res.on("end", () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
            headers.append(name, v);
          }
        }
        resolve({
          status: res.statusCode ?? 0,
          headers,
          body: chunks.map((c) => c.text).join(""),
          chunks,
        });
      });
      res.on("error", reject);
    });
    request.on("error", (error: Error & { code?: string }) => {
      // A refused TCP connection is the caller's to see; anything after it
      // connected (closed, reset, handshake refused) means "no answer".
      reject(
        error.code === "ECONNREFUSED"
          ? error
          : new ConnectionClosedError(`${error.code ?? "closed"}: ${error.message}`),
      );
    });
    request.end(body);
  });
}
