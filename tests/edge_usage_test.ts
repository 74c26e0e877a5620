/**
 * The edge counts usage per key and enforces daily budgets: tokens from JSON
 * answers and from streams (asking the gateway for the usage chunk and
 * stripping it when the client did not), 429 `budget_exceeded` with the
 * seconds to the UTC day's end, streams that cross a budget finish, and
 * parallel requests never take a key past its budget by more than one.
 */
import assert from "node:assert/strict";
import type { AuditRecord } from "../lib/edge/audit.ts";
import { createEdgeHandler } from "../lib/edge/handler.ts";
import type { KeyLimits } from "../lib/edge/limits.ts";
import { staticTokenSource } from "../lib/edge/token_source.ts";
import { UsageMeter } from "../lib/usage/meter.ts";
import type { UsageDelta } from "../lib/usage/store.ts";
import { pollUntil } from "./harness/poll.ts";
import {
  CLIENT_KEY,
  FakeClock,
  fakeFetch,
  fakeKeys,
  type FetchCall,
  info,
  req,
} from "./fixtures/edge/helpers.ts";

const NOON = Date.UTC(2026, 11, 1, 12, 0, 0);
const enc = new TextEncoder();

const sse = (events: unknown[]) =>
  events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";
const CHUNKS = [
  { object: "chat.completion.chunk", choices: [{ index: 0, delta: { role: "assistant" } }] },
  { object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "Hi" } }] },
  { object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
];
const USAGE_CHUNK = {
  object: "chat.completion.chunk",
  choices: [],
  usage: { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 },
};

/** An upstream that answers like the gateway: the usage chunk only when asked for. */
function gatewayLike(call: FetchCall, split = 0): Response {
  const body = JSON.parse(new TextDecoder().decode(call.body));
  if (!body.stream) {
    return Response.json({
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "Hi" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
    });
  }
  const text = sse(body.stream_options?.include_usage ? [...CHUNKS, USAGE_CHUNK] : CHUNKS);
  const bytes = enc.encode(text);
  const size = split || bytes.length;
  let i = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(c) {
        if (i >= bytes.length) return c.close();
        c.enqueue(bytes.slice(i, i + size));
        i += size;
      },
    }),
    { headers: { "content-type": "text/event-stream; charset=utf-8" } },
  );
}

function setup(
  limits: KeyLimits = {},
  respond: (call: FetchCall) => Response | Promise<Response> = (c) => gatewayLike(c),
) {
  const clock = new FakeClock(NOON);
  const batches: UsageDelta[] = [];
  const meter = new UsageMeter({ add: (d) => void batches.push(...d) }, {
    now: clock.now,
    flushIntervalMs: 3_600_000,
  });
  const audit: AuditRecord[] = [];
  const upstream = fakeFetch(respond);
  const handler = createEdgeHandler({
    upstream: "http://127.0.0.1:18789",
    keys: fakeKeys({
      [CLIENT_KEY]: {
        id: "k_friend",
        name: "friend",
        role: "client",
        agent: "ecto-guest",
        limits: { maxConcurrent: 0, requestsPerMinute: 0, ...limits },
      },
    }),
    tokenSource: staticTokenSource("gw-token"),
    fetch: upstream.fetch,
    now: clock.now,
    audit: (r) => audit.push(r),
    usage: meter,
  });
  const chat = (body: Record<string, unknown>) =>
    handler(
      req("/v1/chat/completions", {
        method: "POST",
        key: CLIENT_KEY,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "openclaw/default",
          messages: [{ role: "user", content: "hi" }],
          ...body,
        }),
      }),
      info(),
    );
  const totals = () => {
    meter.flush();
    const t = { requests: 0, promptTokens: 0, completionTokens: 0, errors: 0, refused: 0 };
    for (const d of batches) {
      t.requests += d.requests;
      t.promptTokens += d.promptTokens;
      t.completionTokens += d.completionTokens;
      t.errors += d.errors;
      t.refused += d.refused;
    }
    return t;
  };
  return { clock, meter, audit, upstream, handler, chat, totals };
}

Deno.test("a JSON answer's usage is counted for its key and written to the audit record", async () => {
  const s = setup();
  const res = await s.chat({});
  assert.equal(res.status, 200);
  assert.equal((await res.json()).usage.total_tokens, 12);
  assert.deepEqual(s.totals(), {
    requests: 1,
    promptTokens: 9,
    completionTokens: 3,
    errors: 0,
    refused: 0,
  });
  const record = s.audit.at(-1)!;
  assert.equal(record.promptTokens, 9);
  assert.equal(record.completionTokens, 3);
  assert.equal(record.tokens, 12);
  assert.equal(record.keyId, "k_friend");
});

Deno.test("a stream that did not ask for usage: ecto asks, counts it, and strips the usage chunk", async (t) => {
  for (const split of [0, 1, 17]) {
    await t.step(`upstream chunks of ${split || "all"} bytes`, async () => {
      const s = setup({}, (c) => gatewayLike(c, split));
      const res = await s.chat({ stream: true });
      const text = await res.text();
      assert.equal(text, sse(CHUNKS), "the client gets exactly the stream it asked for");
      const sent = JSON.parse(new TextDecoder().decode(s.upstream.calls[0].body));
      assert.deepEqual(sent.stream_options, { include_usage: true });
      assert.deepEqual(s.totals(), {
        requests: 1,
        promptTokens: 11,
        completionTokens: 4,
        errors: 0,
        refused: 0,
      });
      assert.equal(s.audit.at(-1)!.bytes, enc.encode(text).byteLength);
    });
  }
});

Deno.test("a stream that asked for usage gets the usage chunk, untouched, and is counted", async () => {
  const s = setup();
  const res = await s.chat({ stream: true, stream_options: { include_usage: true } });
  assert.equal(await res.text(), sse([...CHUNKS, USAGE_CHUNK]));
  assert.equal(s.totals().completionTokens, 4);
});

Deno.test("over the request budget: 429 budget_exceeded, OpenAI shape, Retry-After to 00:00 UTC", async () => {
  const s = setup({ maxRequestsPerDay: 2 });
  for (let i = 0; i < 2; i++) {
    const ok = await s.chat({});
    assert.equal(ok.status, 200);
    await ok.text();
  }
  const res = await s.chat({});
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), String(12 * 3600));
  const body = await res.json();
  assert.equal(body.error.code, "budget_exceeded");
  assert.equal(typeof body.error.message, "string");
  assert.match(body.error.message, /daily budget of 2 requests/);
  assert.equal(body.error.type, "rate_limit_error");
  assert.equal(s.upstream.calls.length, 2, "the refused request never reached the gateway");
  assert.deepEqual(s.totals().refused, 1);
  s.clock.advance(12 * 3_600_000); // 00:00 UTC
  assert.equal((await s.chat({})).status, 200, "a new day, a new budget");
});

Deno.test("a stream that crosses the token budget finishes; the next request gets 429", async () => {
  const s = setup({ maxTokensPerDay: 10 });
  const res = await s.chat({ stream: true });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.endsWith("data: [DONE]\n\n"), "no broken answer");
  assert.equal(s.meter.today("k_friend").tokens, 15);
  const next = await s.chat({ stream: true });
  assert.equal(next.status, 429);
  assert.equal((await next.json()).error.code, "budget_exceeded");
});

Deno.test("20 parallel requests against a budget of 5: exactly 5 reach the gateway", async () => {
  const gate = Promise.withResolvers<void>();
  const s = setup({ maxRequestsPerDay: 5 }, async (c) => {
    await gate.promise;
    return gatewayLike(c);
  });
  const pending = Array.from({ length: 20 }, () => s.chat({}));
  // Let every request get past its awaits (key check, body read) before the gateway answers.
  await pollUntil(() => s.upstream.calls.length >= 5, { intervalMs: 0, what: "5 gated calls" });
  gate.resolve();
  const statuses = await Promise.all(pending.map(async (p) => {
    const r = await p;
    await r.body?.cancel();
    return r.status;
  }));
  assert.equal(statuses.filter((x) => x === 200).length, 5);
  assert.equal(statuses.filter((x) => x === 429).length, 15);
  assert.equal(s.upstream.calls.length, 5);
  assert.equal(s.totals().requests, 5);
});

Deno.test("parallel requests against a token budget go over by less than one answer", async () => {
  const gate = Promise.withResolvers<void>();
  let gated = false;
  const s = setup({ maxTokensPerDay: 40 }, async (c) => {
    if (gated) await gate.promise;
    return gatewayLike(c); // 12 tokens per answer
  });
  const first = await s.chat({});
  assert.equal(first.status, 200);
  await first.text(); // 12 used; the largest answer is 12
  gated = true;
  const pending = Array.from({ length: 10 }, () => s.chat({}));
  await pollUntil(() => s.upstream.calls.length >= 3, { intervalMs: 0, what: "3 gated calls" });
  gate.resolve();
  const statuses = await Promise.all(pending.map(async (p) => {
    const r = await p;
    await r.text();
    return r.status;
  }));
  // 12 used + 2 in flight × 12 = 36 < 40 admits a third; a fourth would reserve 48.
  assert.equal(statuses.filter((x) => x === 200).length, 3);
  const used = s.meter.today("k_friend").tokens;
  assert.ok(used > 40 - 12 && used < 40 + 12, `used ${used}`);
});

Deno.test("gateway errors count as requests and errors; refusals after admission give the request back", async () => {
  const s = setup(
    { maxRequestsPerDay: 1 },
    () => Response.json({ error: { message: "x" } }, { status: 400 }),
  );
  const bad = await s.handler(
    req("/v1/chat/completions", { method: "POST", key: CLIENT_KEY, body: "not json" }),
    info(),
  );
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  assert.equal(s.upstream.calls.length, 0);
  const res = await s.chat({});
  assert.equal(res.status, 400);
  await res.body?.cancel();
  assert.deepEqual(s.totals(), {
    requests: 1,
    promptTokens: 0,
    completionTokens: 0,
    errors: 1,
    refused: 1,
  });
});

Deno.test("model lists are neither counted nor budgeted: a key over its budget still lists models", async () => {
  const s = setup(
    { maxRequestsPerDay: 1 },
    (c) =>
      c.url.endsWith("/v1/models")
        ? Response.json({ object: "list", data: [{ id: "openclaw/ecto-guest", object: "model" }] })
        : gatewayLike(c),
  );
  const used = await s.chat({});
  await used.text();
  assert.equal((await s.chat({})).status, 429);
  const models = await s.handler(req("/v1/models", { key: CLIENT_KEY }), info());
  assert.equal(models.status, 200);
  await models.text();
  assert.deepEqual(s.totals(), {
    requests: 1,
    promptTokens: 9,
    completionTokens: 3,
    errors: 0,
    refused: 1,
  });
});
