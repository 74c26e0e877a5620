/**
 * A stub OpenAI-compatible LLM server for end-to-end tests: the real OpenClaw
 * gateway is configured with one custom provider pointing here, so a chat
 * completion through the gateway returns {@link StubLlm.reply}.
 *
 * Serves `GET /v1/models` and `POST /v1/chat/completions` (streamed as SSE
 * chunks `chunkDelayMs` apart and ending with `data: [DONE]`, or a plain
 * `chat.completion` object). Every request is recorded in `requests`.
 *
 * @module
 */

/** A running stub LLM. `await using` closes it. */
export interface StubLlm extends AsyncDisposable {
  /** Base URL for an OpenAI client: `http://127.0.0.1:PORT/v1`. */
  url: string;
  port: number;
  /** Every request received, in order (body parsed as JSON when it is JSON). */
  requests: Array<{ path: string; headers: Headers; body: unknown }>;
  /** The assistant's answer to every chat completion; may be changed between requests. */
  reply: string;
  /**
   * The `usage` every answer reports (JSON answers always; streams when
   * `stream_options.include_usage` is set); may be changed between requests.
   * Default 1 prompt and 1 completion token.
   */
  usage: { prompt_tokens: number; completion_tokens: number };
  close(): Promise<void>;
}

/** The model id the stub lists (the gateway's default model is `stub/stub-model`). */
export const STUB_MODEL_ID = "stub-model";

/** Starts a stub LLM on a free loopback port. */
export function startStubLlm(
  opts: {
    reply?: string;
    chunkDelayMs?: number;
    chunks?: number;
    usage?: { prompt_tokens: number; completion_tokens: number };
  } = {},
): Promise<StubLlm> {
  const chunkDelayMs = opts.chunkDelayMs ?? 0;
  const chunkCount = Math.max(1, opts.chunks ?? 3);
  const closing = new AbortController();
  const requests: StubLlm["requests"] = [];

  const stub = {
    url: "",
    port: 0,
    requests,
    reply: opts.reply ?? "Hello from the stub LLM.",
    usage: opts.usage ?? { prompt_tokens: 1, completion_tokens: 1 },
  } as StubLlm;

  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    const text = await request.text();
    let body: unknown = text;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch { /* keep the raw text */ }
    requests.push({ path, headers: request.headers, body });

    if (request.method === "GET" && (path === "/v1/models" || path === "/models")) {
      return Response.json({
        object: "list",
        data: [{ id: STUB_MODEL_ID, object: "model", created: 0, owned_by: "stub" }],
      });
    }
    if (
      request.method === "POST" &&
      (path === "/v1/chat/completions" || path === "/chat/completions")
    ) {
      const req = (body ?? {}) as { stream?: boolean; model?: string; stream_options?: unknown };
      const model = typeof req.model === "string" ? req.model : STUB_MODEL_ID;
      const id = `chatcmpl-stub-${requests.length}`;
      const created = Math.floor(Date.now() / 1000);
      const reply = stub.reply;
      const usage = {
        ...stub.usage,
        total_tokens: stub.usage.prompt_tokens + stub.usage.completion_tokens,
      };
      if (!req.stream) {
        return Response.json({
          id,
          object: "chat.completion",
          created,
          model,
          choices: [{
            index: 0,
            message: { role: "assistant", content: reply },
            finish_reason: "stop",
          }],
          usage,
        });
      }
      const includeUsage = (req.stream_options as { include_usage?: boolean } | undefined)
        ?.include_usage === true;
      return sseResponse(
        chatChunks(id, created, model, reply, chunkCount, includeUsage ? usage : undefined),
        chunkDelayMs,
        closing.signal,
      );
    }
    return new Response("Not Found", { status: 404 });
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      signal: closing.signal,
      onListen: ({ port }) => {
        stub.port = port;
        stub.url = `http://127.0.0.1:${port}/v1`;
        resolve(stub);
      },
    }, handler);
    let closed: Promise<void> | undefined;
    stub.close = () => {
      if (!closed) {
        closing.abort();
        closed = server.finished;
      }
      return closed;
    };
    stub[Symbol.asyncDispose] = () => stub.close();
  });
}

function chatChunks(
  id: string,
  created: number,
  model: string,
  reply: string,
  count: number,
  usage: Record<string, number> | undefined,
): unknown[] {
  const base = { id, object: "chat.completion.chunk", created, model };
  const size = Math.ceil(reply.length / count) || 1;
  const parts: string[] = [];
  for (let i = 0; i < reply.length; i += size) parts.push(reply.slice(i, i + size));
  const chunks: unknown[] = [
    { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" } }] },
    ...parts.map((content) => ({
      ...base,
      choices: [{ index: 0, delta: { content }, finish_reason: null }],
    })),
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
  ];
  if (usage) chunks.push({ ...base, choices: [], usage });
  return chunks;
}

function sseResponse(events: unknown[], delayMs: number, signal: AbortSignal): Response {
  const enc = new TextEncoder();
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (signal.aborted) return controller.close();
      if (i > 0 && delayMs > 0) await sleep(delayMs, signal);
      if (i < events.length) {
        controller.enqueue(enc.encode(`data: ${JSON.stringify(events[i++])}\n\n`));
      } else {
        controller.enqueue(enc.encode("data: [DONE]\n\n"));
        controller.close();
      }
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
