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

/** Many streams held open; `close()` aborts them all. */
export interface OpenStreams {
  /** How many answered 200 and delivered their first event. */
  open: number;
  /** How many failed to open. */
  failed: number;
  close(): Promise<void>;
}

/**
 * Opens `count` long, mostly idle streams (one event, then one every
 * `spacing` ms) and resolves once each has delivered its first event or
 * failed, or after `timeoutMs`.
 */
export async function holdStreams(
  baseUrl: string,
  headers: Record<string, string>,
  count: number,
  spacing = 10_000,
  timeoutMs = 60_000,
): Promise<OpenStreams> {
  const controller = new AbortController();
  let open = 0;
  let failed = 0;
  const readers: Promise<void>[] = [];
  const firsts: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    let first!: () => void;
    firsts.push(new Promise<void>((r) => first = r));
    readers.push((async () => {
      try {
        const res = await fetch(`${baseUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: chatBody(1_000_000, spacing),
          signal: controller.signal,
        });
        if (res.status !== 200 || !res.body) {
          failed++;
          first();
          await res.body?.cancel();
          return;
        }
        let counted = false;
        for await (const _ of res.body) {
          if (!counted) {
            counted = true;
            open++;
            first();
          }
        }
      } catch {
        if (!controller.signal.aborted) failed++;
      } finally {
        first();
      }
    })());
  }
  await Promise.race([
    Promise.all(firsts),
    new Promise((r) => setTimeout(r, timeoutMs)),
  ]);
  return {
    get open() {
      return open;
    },
    get failed() {
      return failed;
    },
    async close() {
      controller.abort();
      await Promise.allSettled(readers);
    },
  };
}
