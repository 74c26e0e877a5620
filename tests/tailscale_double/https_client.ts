/**
 * A small HTTPS/1.1 client for reaching the double's "internet" side from
 * tests: `Deno.connect` to the public listener + `Deno.startTls` with the
 * throwaway CA and the node's DNS name as SNI. (Deno 2.9.6's `fetch` with
 * `createHttpClient({ proxy: { transport: "tcp" } })` sends plain HTTP to
 * the socket even for `https://` URLs, so it cannot be used for this.)
 *
 * @module
 */

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

/** Thrown when the listener closes the connection without answering (Funnel off). */
export class ConnectionClosedError extends Error {}

/** Sends one request (`Connection: close`) and reads the whole response. */
export async function funnelRequest(req: FunnelRequest): Promise<FunnelResponse> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: req.localPort });
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, { hostname: req.hostname, caCerts: [req.caPem] });
    await conn.handshake();
  } catch (e) {
    try {
      tcp.close();
    } catch {
      // closed by the handshake failure
    }
    throw new ConnectionClosedError(`TLS handshake failed: ${(e as Error).message}`);
  }
  try {
    const lines = [
      `${req.method ?? "GET"} ${req.path ?? "/"} HTTP/1.1`,
      `Host: ${req.host ?? req.hostname}`,
      "Connection: close",
    ];
    for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`${k}: ${v}`);
    const body = req.body !== undefined ? new TextEncoder().encode(req.body) : undefined;
    if (body) lines.push(`Content-Length: ${body.length}`);
    const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
    await writeAll(conn, head);
    if (body) await writeAll(conn, body);
    const t0 = performance.now();
    const raw: TimedChunk[] = [];
    const buf = new Uint8Array(64 * 1024);
    const dec = new TextDecoder();
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        if (raw.length === 0) throw new ConnectionClosedError((e as Error).message);
        break;
      }
      if (n === null) break;
      raw.push({ at: performance.now() - t0, text: dec.decode(buf.subarray(0, n)) });
    }
    if (raw.length === 0) throw new ConnectionClosedError("connection closed without a response");
    return parseResponse(raw);
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

function parseResponse(raw: TimedChunk[]): FunnelResponse {
  const all = raw.map((c) => c.text).join("");
  const end = all.indexOf("\r\n\r\n");
  const [statusLine, ...headerLines] = all.slice(0, end).split("\r\n");
  const headers = new Headers();
  for (const line of headerLines) {
    const i = line.indexOf(":");
    headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const status = Number(statusLine.split(" ")[1]);
  // Body pieces with arrival times (the head may share the first piece).
  let offset = 0;
  const pieces: TimedChunk[] = [];
  for (const c of raw) {
    const start = Math.max(0, end + 4 - offset);
    if (start < c.text.length) pieces.push({ at: c.at, text: c.text.slice(start) });
    offset += c.text.length;
  }
  const chunked = headers.get("transfer-encoding")?.includes("chunked") ?? false;
  const chunks = chunked ? dechunk(pieces) : pieces;
  return { status, headers, body: chunks.map((c) => c.text).join(""), chunks };
}

/** Decodes chunked encoding, keeping each data chunk's arrival time. */
function dechunk(pieces: TimedChunk[]): TimedChunk[] {
  const out: TimedChunk[] = [];
  let pending = "";
  for (const p of pieces) {
    pending += p.text;
    while (true) {
      const lineEnd = pending.indexOf("\r\n");
      if (lineEnd < 0) break;
      const size = parseInt(pending.slice(0, lineEnd), 16);
      if (size === 0) return out;
      if (pending.length < lineEnd + 2 + size + 2) break;
      out.push({ at: p.at, text: pending.slice(lineEnd + 2, lineEnd + 2 + size) });
      pending = pending.slice(lineEnd + 2 + size + 2);
    }
  }
  return out;
}
