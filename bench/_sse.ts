/**
 * The benchmark's SSE client: measures when each event of a chat completion
 * stream arrives, and holds many streams open for the memory measurement.
 *
 * The upstream stamps every event with the epoch time it wrote it; on the
 * same host, `arrival - sent` is how long the event took to get through the
 * proxy (and the client's own read path, which is the same for every target).
 *
 * @module
 */

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** One measured stream. */
export interface StreamTiming {
  /** From sending the request to the first event, ms. */
  ttfbMs: number;
  /** `arrival - sent` of every event, ms. */
  transitMs: number[];
  /** Gaps between consecutive arrivals, ms. */
  gapsMs: number[];
  /** Whether `[DONE]` arrived. */
  done: boolean;
}

/** The body of a chat request asking the stub for `chunks` events `spacing` ms apart. */
export function chatBody(chunks: number, spacing: number): string {
  return JSON.stringify({
    model: "openclaw",
    stream: true,
    messages: [{ role: "user", content: `chunks=${chunks} spacing=${spacing}` }],
  });
}

/** Streams one chat completion and times every event. */
export async function timeStream(
  baseUrl: string,
  headers: Record<string, string>,
  chunks: number,
  spacing: number,
): Promise<StreamTiming> {
  const started = epochMs();
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json", accept: "text/event-stream" },
    body: chatBody(chunks, spacing),
  });
  if (res.status !== 200 || !res.body) {
    const text = await res.text();
    throw new Error(`stream through ${baseUrl} answered ${res.status}: ${text.slice(0, 200)}`);
  }
  const decoder = new TextDecoder();
  const transitMs: number[] = [];
  const arrivals: number[] = [];
  let buffer = "";
  let done = false;
  for await (const bytes of res.body) {
    const now = epochMs();
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").find((l) => l.startsWith("data: "))?.slice(6);
      if (data === undefined) continue;
      if (data === "[DONE]") {
        done = true;
        continue;
      }
      const sent = JSON.parse(data).bench?.sent;
      if (typeof sent === "number") {
        transitMs.push(now - sent);
        arrivals.push(now);
      }
    }
  }
  const gapsMs = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
  return { ttfbMs: (arrivals[0] ?? NaN) - started, transitMs, gapsMs, done };
}

/** Many streams held open; `close()` closes them all. */
export interface OpenStreams {
  /** How many answered 200 and delivered their first event. */
  open: number;
  /** How many failed to open. */
  failed: number;
  close(): Promise<void>;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * Opens one stream on a raw connection (fetch's abort does not reliably
 * release a thousand pending body reads; closing a socket does). Resolves
 * with the connection once the status is 200 and the first event arrived.
 */
async function openRawStream(
  port: number,
  headers: Record<string, string>,
  body: string,
): Promise<{ conn: Deno.Conn; drained: Promise<void> }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = [
      `POST /v1/chat/completions HTTP/1.1`,
      `host: 127.0.0.1:${port}`,
      `content-type: application/json`,
      `accept: text/event-stream`,
      `content-length: ${new TextEncoder().encode(body).length}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ``,
      ``,
    ].join("\r\n");
    await writeAll(conn, new TextEncoder().encode(head + body));
    const buf = new Uint8Array(8192);
    const decoder = new TextDecoder();
    let text = "";
    while (true) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("closed before the first event");
      text += decoder.decode(buf.subarray(0, n), { stream: true });
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      if (!/^HTTP\/1\.[01] 200 /.test(text)) throw new Error(text.split("\r\n")[0]);
      if (text.indexOf("data:", end) >= 0) break;
    }
    // Keep reading (and dropping) until the socket is closed.
    const drained = (async () => {
      try {
        while ((await conn.read(buf)) !== null) {
          // drop
        }
      } catch {
        // closed by close()
      }
    })();
    return { conn, drained };
  } catch (error) {
    conn.close();
    throw error;
  }
}

/**
 * Opens `count` long, mostly idle streams (one event, then one every
 * `spacing` ms) on raw loopback connections, `concurrency` at a time, and
 * resolves once each has delivered its first event or failed.
 */
export async function holdStreams(
  baseUrl: string,
  headers: Record<string, string>,
  count: number,
  spacing = 10_000,
  concurrency = 100,
): Promise<OpenStreams> {
  const port = Number(new URL(baseUrl).port);
  const body = chatBody(1_000_000, spacing);
  const held: { conn: Deno.Conn; drained: Promise<void> }[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        held.push(await openRawStream(port, headers, body));
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return {
    open: held.length,
    failed,
    async close() {
      for (const h of held) {
        try {
          h.conn.close();
        } catch {
          // already closed
        }
      }
      await Promise.all(held.map((h) => h.drained));
    },
  };
}
