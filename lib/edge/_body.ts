/**
 * Reading bodies whole, with a size limit: the client's request body (also
 * deadline-bound, and buffered so a stale pooled connection can be retried
 * with it) and a gateway answer the edge rewrites (the model list).
 *
 * @module
 */
import type { Deadline } from "./_deadlines.ts";
import { type RequestContext, UpstreamTimeout } from "./_request.ts";

/** A whole body, or why there is none. */
export type BodyResult = Uint8Array<ArrayBuffer> | "too_large" | "timeout" | "aborted";

const EMPTY: Uint8Array<ArrayBuffer> = new Uint8Array(0);

/** Reads the request's body whole within the edge's size limit and body deadline. */
export async function readRequestBody(ctx: RequestContext): Promise<BodyResult> {
  const stream = ctx.request.body;
  if (stream === null) return EMPTY;
  const { limits, deadlines, now } = ctx.edge;
  const reader = (stream as ReadableStream<Uint8Array<ArrayBuffer>>).getReader();
  let timedOut = false;
  const deadline: Deadline = {
    deadline: now() + limits.bodyTimeoutMs,
    expire: () => {
      timedOut = true;
      reader.cancel(new UpstreamTimeout()).catch(() => {});
    },
  };
  deadlines.watch(deadline);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limits.maxBodyBytes) {
        reader.cancel().catch(() => {});
        return "too_large";
      }
      chunks.push(value);
    }
  } catch {
    return timedOut ? "timeout" : "aborted";
  } finally {
    deadlines.unwatch(deadline);
  }
  if (timedOut) return "timeout";
  if (chunks.length === 0) return EMPTY;
  return joinChunks(chunks, total);
}

/** One buffer holding `chunks` (of `total` bytes together); the chunk itself when there is one. */
export function joinChunks<T extends Uint8Array<ArrayBuffer>>(
  chunks: T[],
  total: number,
): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}

/** Reads a stream as UTF-8 text; throws when it holds more than `limit` bytes. */
export async function readLimited(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<string> {
  const reader = stream.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new Error("body too large");
    }
    chunks.push(value as Uint8Array<ArrayBuffer>);
  }
  return new TextDecoder().decode(joinChunks(chunks, total));
}
