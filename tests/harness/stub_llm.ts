/**
 * A stub OpenAI-compatible LLM server for end-to-end tests: the real OpenClaw
 * gateway is configured with one custom provider pointing here, so a chat
 * completion through the gateway returns {@link StubLlm.reply}.
 *
 * Serves `GET /v1/models` and `POST /v1/chat/completions` (streamed as SSE
 * chunks `chunkDelayMs` apart and ending with `data: [DONE]`, or a plain
 * `chat.completion` object). Every request is recorded in `requests`.
 *
 * A test that plays the model sets {@link StubLlm.respond}: it sees each chat
 * request OpenClaw sends (system prompt, messages, tools, tool results) and
 * answers with text or tool calls; returning `undefined` falls back to `reply`.
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
   * Optional scripted model: called for every chat completion with the parsed
   * request body; its answer (text and/or tool calls) replaces `reply`.
   * `undefined` (or no hook) answers with `reply`.
   */
  respond?: StubRespond;
  /**
   * The `usage` every answer reports (JSON answers always; streams when
   * `stream_options.include_usage` is set); may be changed between requests.
   * Default 1 prompt and 1 completion token.
   */
  usage: { prompt_tokens: number; completion_tokens: number };
  close(): Promise<void>;
}

/** One tool call the scripted model makes. */
export interface StubToolCall {
  /** Default: `call_<n>`. */
  id?: string;
  name: string;
  /** Serialised as JSON for the wire. */
  arguments: Record<string, unknown>;
}

/** What the scripted model answers: text, tool calls, or both. */
export interface StubAnswer {
  content?: string;
  toolCalls?: StubToolCall[];
}

/** The scripted model hook of {@link StubLlm.respond}. */
export type StubRespond = (
  body: Record<string, unknown>,
) => StubAnswer | undefined | Promise<StubAnswer | undefined>;

/** The model id the stub lists (the gateway's default model is `stub/stub-model`). */
export const STUB_MODEL_ID = "stub-model";

/** Starts a stub LLM on a free loopback port. */
export function startStubLlm(
  opts: {
    reply?: string;
    chunkDelayMs?: number;
    chunks?: number;
    respond?: StubRespond;
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
    ...(opts.respond ? { respond: opts.respond } : {}),
    usage: opts.usage ?? { prompt_tokens: 1, completion_tokens: 1 },
  } as StubLlm;
  let toolCallCount = 0;

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
      const usage = {
        ...stub.usage,
        total_tokens: stub.usage.prompt_tokens + stub.usage.completion_tokens,
      };
      const answer = stub.respond
        ? await stub.respond((body ?? {}) as Record<string, unknown>)
        : undefined;
      const calls = (answer?.toolCalls ?? []).map((call, index) => ({
        index,
        id: call.id ?? `call_${++toolCallCount}`,
        type: "function",
        function: { name: call.name, arguments: JSON.stringify(call.arguments) },
      }));
      // A tool-calling answer carries its content as given (null when absent); a plain one the reply.
      const completion: Completion = calls.length
        ? { content: answer?.content ?? null, calls, finish: "tool_calls" }
        : { content: answer?.content ?? stub.reply, calls: [], finish: "stop" };
      const head = { id, created, model };
      if (!req.stream) {
        const message = calls.length
          ? { role: "assistant", content: completion.content, tool_calls: calls }
          : { role: "assistant", content: completion.content };
        return Response.json({
          ...head,
          object: "chat.completion",
          choices: [{ index: 0, message, finish_reason: completion.finish }],
          usage,
        });
      }
      const includeUsage = (req.stream_options as { include_usage?: boolean } | undefined)
        ?.include_usage === true;
      return sseResponse(
        completionChunks(head, completion, {
          parts: chunkCount,
          usage: includeUsage ? usage : undefined,
        }),
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

/** One answer of the stub: text content, or tool calls (with optional content). */
interface Completion {
  content: string | null;
  calls: Array<
    { index: number; id: string; type: string; function: { name: string; arguments: string } }
  >;
  finish: "stop" | "tool_calls";
}

/**
 * The SSE chunks of one answer, as OpenAI streams them: the role (and, for tool
 * calls, their content), then the text in `parts` pieces or one chunk per tool
 * call, the finish reason, and the usage chunk when asked for.
 */
function completionChunks(
  head: { id: string; created: number; model: string },
  completion: Completion,
  options: { parts: number; usage: Record<string, number> | undefined },
): unknown[] {
  const base = { ...head, object: "chat.completion.chunk" };
  const chunk = (delta: Record<string, unknown>, finish?: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, ...(finish === undefined ? {} : { finish_reason: finish }) }],
  });
  const deltas: Record<string, unknown>[] = [];
  let opening = "";
  if (completion.calls.length) {
    opening = completion.content ?? "";
    for (const call of completion.calls) deltas.push({ tool_calls: [call] });
  } else {
    const reply = completion.content ?? "";
    const size = Math.ceil(reply.length / options.parts) || 1;
    for (let i = 0; i < reply.length; i += size) deltas.push({ content: reply.slice(i, i + size) });
  }
  const chunks: unknown[] = [
    chunk({ role: "assistant", content: opening }),
    ...deltas.map((delta) => chunk(delta, null)),
    chunk({}, completion.finish),
  ];
  if (options.usage) chunks.push({ ...base, choices: [], usage: options.usage });
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
