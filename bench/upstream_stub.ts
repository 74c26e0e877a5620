/**
 * The benchmark's upstream: a tiny, fast stand-in for the OpenClaw gateway's
 * OpenAI-compatible API, run as its own process so it never shares an event
 * loop with a proxy under test.
 *
 * - `GET /v1/models`: a small fixed JSON body.
 * - `POST /v1/chat/completions`: an SSE stream of `chunks` events spaced
 *   `spacing` ms apart, then `data: [DONE]`. Each event carries the epoch
 *   time (ms, µs precision) it was written, so a client on the same host can
 *   measure how long each chunk took to reach it. `chunks`/`spacing` come from
 *   the last message's content (`"chunks=50 spacing=20"`: proxies may drop a
 *   query string, none rewrites a message), default 50 and 20.
 *
 * Every request must carry `Authorization: Bearer $BENCH_GATEWAY_TOKEN` (the
 * gateway token, from the environment, never argv): the edge proves it
 * swapped the client key for it.
 *
 * Usage: `BENCH_GATEWAY_TOKEN=… deno run --allow-net=127.0.0.1 --allow-env --allow-write
 * bench/upstream_stub.ts <port-file>` (listens on a free loopback port, writes it to `<port-file>`).
 *
 * @module
 */

const token = Deno.env.get("BENCH_GATEWAY_TOKEN");
const [portFile] = Deno.args;
if (!token || !portFile) {
  throw new Error("usage: BENCH_GATEWAY_TOKEN=… upstream_stub.ts <port-file>");
}
const expected = `Bearer ${token}`;
const encoder = new TextEncoder();

const MODELS = JSON.stringify({
  object: "list",
  data: [
    { id: "openclaw", object: "model", created: 1767225600, owned_by: "openclaw" },
    { id: "openclaw:main", object: "model", created: 1767225600, owned_by: "openclaw" },
  ],
});
const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
};

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

function chunk(i: number): Uint8Array {
  const body = {
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    model: "openclaw",
    choices: [{ index: 0, delta: { content: `token ${i} ` }, finish_reason: null }],
    bench: { i, sent: epochMs() },
  };
  return encoder.encode(`data: ${JSON.stringify(body)}\n\n`);
}

function sse(chunks: number, spacing: number, signal: AbortSignal): Response {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const tick = () => {
        if (signal.aborted) return;
        if (i >= chunks) {
          controller.enqueue(encoder.encode("data: [DONE]\n\n"));
          controller.close();
          return;
        }
        controller.enqueue(chunk(i++));
        timer = setTimeout(tick, spacing);
      };
      tick();
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        try {
          controller.close();
        } catch {
          // already closed
        }
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}

/** `chunks=N spacing=MS` from the last message of a chat request. */
function streamShape(body: string): { chunks: number; spacing: number } {
  let text = "";
  try {
    const messages = JSON.parse(body).messages;
    text = String(messages?.at?.(-1)?.content ?? "");
  } catch {
    // not JSON: defaults
  }
  const chunks = Number(/chunks=(\d+)/.exec(text)?.[1] ?? 50);
  const spacing = Number(/spacing=(\d+)/.exec(text)?.[1] ?? 20);
  return { chunks, spacing };
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    if (request.headers.get("authorization") !== expected) {
      await request.body?.cancel();
      return new Response('{"error":"unauthorized"}', { status: 401, headers: JSON_HEADERS });
    }
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/v1/models") {
      return new Response(MODELS, { headers: JSON_HEADERS });
    }
    if (request.method === "POST" && url.pathname === "/v1/chat/completions") {
      const { chunks, spacing } = streamShape(await request.text());
      return sse(chunks, spacing, request.signal);
    }
    await request.body?.cancel();
    return new Response('{"error":"not found"}', { status: 404, headers: JSON_HEADERS });
  },
);

await Deno.writeTextFile(portFile, String(server.addr.port));
Deno.addSignalListener("SIGTERM", () => {
  server.shutdown();
  setTimeout(() => Deno.exit(0), 200);
});
await server.finished;
