import assert from "node:assert/strict";
import type { AuditRecord } from "../lib/edge/audit.ts";
import { createEdgeHandler, type EdgeHandlerOptions } from "../lib/edge/handler.ts";
import { DEFAULT_REQUEST_LIMITS } from "../lib/edge/limits.ts";
import { staticTokenSource } from "../lib/edge/token_source.ts";
import {
  CLIENT_KEY,
  FakeClock,
  fakeFetch,
  fakeKeys,
  type FetchCall,
  info,
  OWNER_KEY,
  req,
  WRONG_KEY,
} from "./fixtures/edge/helpers.ts";
import { pollUntil } from "./harness/poll.ts";

const TOKEN = "gw-token-0123456789abcdef0123456789abcdef";

function setup(
  overrides: Partial<EdgeHandlerOptions> = {},
  respond?: Parameters<typeof fakeFetch>[0],
) {
  const clock = new FakeClock();
  const upstream = fakeFetch(respond);
  const audit: AuditRecord[] = [];
  const keys = fakeKeys();
  let sweepWaiters: Array<() => void> = [];
  /** Resolves after the handler's next deadline sweep. */
  const sweep = () => new Promise<void>((resolve) => sweepWaiters.push(resolve));
  const handler = createEdgeHandler({
    upstream: "http://127.0.0.1:18789",
    keys,
    tokenSource: staticTokenSource(TOKEN),
    fetch: upstream.fetch,
    now: clock.now,
    audit: (r) => audit.push(r),
    sweepIntervalMs: 5,
    onSweep: () => {
      const waiters = sweepWaiters;
      sweepWaiters = [];
      for (const w of waiters) w();
    },
    ...overrides,
  });
  return { handler, clock, calls: upstream.calls, audit, keys, sweep };
}

/** A request object exactly as Deno.serve hands it over for a raw (unnormalised) target. */
function rawReq(target: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  const headers = new Headers({ host: "edge.test", authorization: `Bearer ${OWNER_KEY}` });
  for (const [k, v] of Object.entries(init.headers ?? {})) headers.set(k, v);
  const url = target.startsWith("http") ? target : `http://${headers.get("host")}${target}`;
  return { url, method: init.method ?? "GET", headers, body: null } as unknown as Request;
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}

function assertOpenAiError(body: Record<string, unknown>, code: string): void {
  const error = body.error as Record<string, unknown>;
  assert.equal(typeof error.message, "string");
  assert.equal(typeof error.type, "string");
  assert.equal(error.code, code);
}

/** A stream the test feeds by hand; records whether it was cancelled. */
function controlledStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  const enc = new TextEncoder();
  return {
    stream,
    state,
    push: (text: string) => controller.enqueue(enc.encode(text)),
    close: () => controller.close(),
    /** Like a real fetch body: aborting the request errors the stream. */
    bind(signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
      signal?.addEventListener("abort", () => {
        try {
          controller.error(signal.reason);
        } catch { /* already closed */ }
      });
      return stream;
    },
  };
}

function waitAborted(signal: AbortSignal | undefined): Promise<Response> {
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () => reject(signal.reason));
  });
}

/**
 * Keeps the event loop alive while a test waits on a fake upstream promise (the edge's
 * deadline timer is unref'd: in production the server keeps the process alive).
 */
function keepAlive(): Disposable {
  const timer = setInterval(() => {}, 1000);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

function until(check: () => boolean): Promise<true> {
  return pollUntil(check, { timeoutMs: 2000, intervalMs: 2 });
}

Deno.test("`createEdgeHandler()` allowlist: only the published routes reach the gateway", async (t) => {
  await t.step("GET /v1/models is forwarded to the same path", async () => {
    const { handler, calls } = setup();
    const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, "http://127.0.0.1:18789/v1/models");
    assert.equal(calls[0].method, "GET");
  });

  await t.step("POST /v1/chat/completions is forwarded with its body", async () => {
    const { handler, calls } = setup();
    const body = JSON.stringify({ model: "openclaw/default", messages: [] });
    const res = await handler(
      req("/v1/chat/completions", {
        method: "POST",
        key: CLIENT_KEY,
        body,
        headers: { "content-type": "application/json" },
      }),
      info(),
    );
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.equal(calls[0].url, "http://127.0.0.1:18789/v1/chat/completions");
    assert.equal(new TextDecoder().decode(calls[0].body), body);
  });

  await t.step("GET /v1/models/{id} is forwarded with the id re-encoded", async () => {
    const { handler, calls } = setup();
    for (const path of ["/v1/models/openclaw%2Fdefault", "/v1/models/openclaw/default"]) {
      const res = await handler(req(path, { key: OWNER_KEY }), info());
      await res.body?.cancel();
      assert.equal(res.status, 200);
    }
    assert.deepEqual(calls.map((c) => c.url), [
      "http://127.0.0.1:18789/v1/models/openclaw%2Fdefault",
      "http://127.0.0.1:18789/v1/models/openclaw%2Fdefault",
    ]);
  });

  await t.step("POST /v1/responses is 404 unless enabled", async () => {
    const off = setup();
    const res = await off.handler(
      req("/v1/responses", { method: "POST", key: OWNER_KEY, body: "{}" }),
      info(),
    );
    assert.equal(res.status, 404);
    assertOpenAiError(await json(res), "not_found");
    assert.equal(off.calls.length, 0);
    const on = setup({ enableResponses: true });
    const ok = await on.handler(
      req("/v1/responses", { method: "POST", key: OWNER_KEY, body: "{}" }),
      info(),
    );
    await ok.body?.cancel();
    assert.equal(ok.status, 200);
    assert.equal(on.calls[0].url, "http://127.0.0.1:18789/v1/responses");
  });

  await t.step("everything else is 404 without touching the gateway or the keys", async () => {
    const { handler, calls, keys } = setup();
    const cases: Array<[string, string, Record<string, string>?]> = [
      ["GET", "/"],
      ["POST", "/tools/invoke"],
      ["GET", "/tools/invoke"],
      ["GET", "/v1/../tools/invoke"],
      ["GET", "/v1/models/../../tools/invoke"],
      ["GET", "//v1/models"],
      ["GET", "/v1//models"],
      ["GET", "/v1/./models"],
      ["GET", "/v1/%2e%2e/tools/invoke"],
      ["GET", "/v1/models/%2e%2e"],
      ["GET", "/v1/models/%2e%2e%2f%2e%2e%2ftools%2finvoke"],
      ["GET", "/v1/models/..%2F..%2Ftools%2Finvoke"],
      ["GET", "/v1/models/%252e%252e"],
      ["GET", "/v1%2fmodels"],
      ["POST", "/v1%2Fchat%2Fcompletions"],
      ["GET", "/V1/models"],
      ["GET", "/v1/models/"],
      ["GET", "/v1/models\\..\\tools"],
      ["GET", "/v1/models#frag"],
      ["POST", "/v1/models"],
      ["GET", "/v1/chat/completions"],
      ["HEAD", "/v1/models"],
      ["OPTIONS", "/v1/chat/completions"],
      ["DELETE", "/v1/models"],
      ["PUT", "/v1/chat/completions"],
      ["CONNECT", "/v1/models"],
      ["GET", "/v1/chat/completions/"],
      ["GET", "/v1/embeddings"],
      ["GET", "/healthz"],
      ["GET", "/readyz"],
      ["GET", "/__openclaw__/ws"],
      ["GET", "http://127.0.0.1:18789/v1/models"], // absolute-form target
      ["GET", "/v1/models", { upgrade: "websocket", connection: "Upgrade" }],
      ["POST", "/v1/chat/completions", { upgrade: "h2c", connection: "Upgrade" }],
      ["GET", "/v1/models", { host: "evil/x?" }],
    ];
    for (const [method, target, headers] of cases) {
      const res = await handler(
        rawReq(target, { method, ...(headers ? { headers } : {}) }),
        info(),
      );
      assert.equal(res.status, 404, `${method} ${target}`);
      assertOpenAiError(await json(res), "not_found");
    }
    assert.equal(calls.length, 0);
    assert.equal(keys.calls, 0);
  });

  await t.step("a request without Host is 404", async () => {
    const { handler, calls } = setup();
    const r = {
      url: "http://localhost:18795/v1/models",
      method: "GET",
      headers: new Headers({ authorization: `Bearer ${OWNER_KEY}` }),
      body: null,
    } as unknown as Request;
    const res = await handler(r, info());
    assert.equal(res.status, 404);
    await res.body?.cancel();
    assert.equal(calls.length, 0);
  });

  await t.step("a query string is accepted and not forwarded", async () => {
    const { handler, calls } = setup();
    const res = await handler(req("/v1/models?api-version=1", { key: OWNER_KEY }), info());
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.equal(calls[0].url, "http://127.0.0.1:18789/v1/models");
  });
});

Deno.test("`createEdgeHandler()` upstream request: gateway token in, client identity headers out", async (t) => {
  await t.step(
    "Authorization is replaced, x-openclaw-*/forwarding/hop-by-hop/cookies removed",
    async () => {
      const { handler, calls } = setup();
      const res = await handler(
        req("/v1/chat/completions", {
          method: "POST",
          key: CLIENT_KEY,
          body: "{}",
          headers: {
            "content-type": "application/json",
            "user-agent": "OpenAI/JS 5.0",
            "accept": "text/event-stream",
            "x-stainless-lang": "js",
            "x-openclaw-agent-id": "main",
            "x-openclaw-session-key": "agent:main:main",
            "x-openclaw-model": "stub/stub-model",
            "x-openclaw-scopes": "operator.admin",
            "x-openclaw-message-channel": "telegram",
            "openclaw-anything": "1",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "box.tail1234.ts.net",
            "forwarded": "for=203.0.113.7",
            "x-real-ip": "203.0.113.7",
            "tailscale-funnel-request": "?1",
            "tailscale-user-login": "alice@example.com",
            "tailscale-headers-info": "https://tailscale.com/s/serve-headers",
            "via": "1.1 proxy",
            "cookie": "__openclaw_plugin_tab_auth_x=v1.abc",
            "origin": "https://evil.example",
            "referer": "https://evil.example/page",
            "connection": "keep-alive, x-hop-secret",
            "x-hop-secret": "named in Connection",
            "keep-alive": "timeout=5",
            "te": "trailers",
            "trailer": "x-foo",
            "proxy-authorization": "Basic Zm9vOmJhcg==",
            "x-api-key": CLIENT_KEY,
            "api-key": CLIENT_KEY,
            "sec-fetch-mode": "cors",
            "accept-encoding": "gzip, br",
          },
        }),
        info(),
      );
      await res.body?.cancel();
      assert.equal(res.status, 200);
      const sent = Object.fromEntries(calls[0].headers);
      assert.deepEqual(sent, {
        "accept": "text/event-stream",
        "accept-encoding": "identity",
        "authorization": `Bearer ${TOKEN}`,
        "content-type": "application/json",
        "user-agent": "OpenAI/JS 5.0",
        // the only x-openclaw-* header upstream is the edge's own pin: the key's agent
        "x-openclaw-agent-id": "ecto-guest",
        "x-stainless-lang": "js",
      });
    },
  );

  await t.step("no forwarding header is added for a Funnel client", async () => {
    const { handler, calls } = setup();
    const res = await handler(
      req("/v1/models", {
        key: OWNER_KEY,
        headers: { "x-forwarded-for": "198.51.100.4", "tailscale-funnel-request": "?1" },
      }),
      info(),
    );
    await res.body?.cancel();
    for (const name of calls[0].headers.keys()) {
      assert.ok(!/forward|real-ip|tailscale/.test(name), name);
    }
    assert.equal(calls[0].headers.get("x-openclaw-agent-id"), "main");
  });

  await t.step(
    "the token source is asked per request (a rotated token is used at once)",
    async () => {
      let token = "first-token-aaaaaaaaaaaaaaaaaaaaaaaa";
      const { handler, calls } = setup({ tokenSource: () => Promise.resolve(token) });
      await (await handler(req("/v1/models", { key: OWNER_KEY }), info())).body?.cancel();
      token = "second-token-bbbbbbbbbbbbbbbbbbbbbbb";
      await (await handler(req("/v1/models", { key: OWNER_KEY }), info())).body?.cancel();
      assert.equal(
        calls[0].headers.get("authorization"),
        "Bearer first-token-aaaaaaaaaaaaaaaaaaaaaaaa",
      );
      assert.equal(
        calls[1].headers.get("authorization"),
        "Bearer second-token-bbbbbbbbbbbbbbbbbbbbbbb",
      );
    },
  );

  await t.step("no gateway token: 502 in OpenAI's error shape, gateway not called", async () => {
    const { handler, calls } = setup({ tokenSource: staticTokenSource(undefined) });
    const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    assert.equal(res.status, 502);
    assertOpenAiError(await json(res), "gateway_token_missing");
    assert.equal(calls.length, 0);
  });
});

Deno.test("`createEdgeHandler()` client keys: 401 in OpenAI's shape", async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ["no Authorization", {}],
    ["wrong key", { authorization: `Bearer ${WRONG_KEY}` }],
    ["Basic scheme", { authorization: `Basic ${btoa("x:" + OWNER_KEY)}` }],
    ["empty bearer", { authorization: "Bearer " }],
    ["the gateway token itself", { authorization: `Bearer ${TOKEN}` }],
    ["a key in x-api-key only", { "x-api-key": OWNER_KEY }],
  ];
  for (const [name, headers] of cases) {
    await t.step(name, async () => {
      const { handler, calls } = setup();
      const res = await handler(req("/v1/models", { headers }), info());
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("content-type"), "application/json");
      const body = await json(res);
      assertOpenAiError(body, "invalid_api_key");
      assert.equal((body.error as Record<string, unknown>).type, "invalid_request_error");
      assert.equal(calls.length, 0);
    });
  }
  await t.step("the scheme is case-insensitive", async () => {
    const { handler } = setup();
    const res = await handler(
      req("/v1/models", { headers: { authorization: `bearer ${OWNER_KEY}` } }),
      info(),
    );
    await res.body?.cancel();
    assert.equal(res.status, 200);
  });
});

Deno.test("`createEdgeHandler()` responses stream through untouched", async (t) => {
  await t.step("SSE chunks reach the client one by one, as the gateway sends them", async () => {
    const feed = controlledStream();
    const { handler, audit, clock } = setup({}, () =>
      new Response(feed.stream, {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          "keep-alive": "timeout=5",
          "connection": "keep-alive",
          "x-content-type-options": "nosniff",
        },
      }));
    const res = await handler(
      req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body: '{"stream":true}' }),
      info(),
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), "no-cache");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("keep-alive"), null);
    assert.equal(res.headers.get("connection"), null);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    feed.push('data: {"n":1}\n\n');
    assert.equal(dec.decode((await reader.read()).value), 'data: {"n":1}\n\n');
    // the second chunk does not exist yet: the first was not held back waiting for it
    feed.push('data: {"n":2}\n\n');
    assert.equal(dec.decode((await reader.read()).value), 'data: {"n":2}\n\n');
    clock.advance(1234);
    feed.push("data: [DONE]\n\n");
    feed.close();
    assert.equal(dec.decode((await reader.read()).value), "data: [DONE]\n\n");
    assert.equal((await reader.read()).done, true);
    assert.equal(audit.length, 1);
    assert.equal(audit[0].streamed, true);
    assert.equal(audit[0].bytes, 44);
    assert.equal(audit[0].durationMs, 1234);
    assert.equal(audit[0].status, 200);
  });

  await t.step(
    "a small body of known length is passed whole, hop-by-hop headers dropped",
    async () => {
      const payload = JSON.stringify({ object: "list", data: [{ id: "openclaw/default" }] });
      const { handler, audit } = setup({}, () =>
        new Response(payload, {
          headers: {
            "content-type": "application/json; charset=utf-8",
            "content-length": String(payload.length),
            "keep-alive": "timeout=5",
            "connection": "keep-alive",
            "referrer-policy": "no-referrer",
          },
        }));
      const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
      assert.equal(res.status, 200);
      assert.equal(await res.text(), payload);
      assert.equal(res.headers.get("keep-alive"), null);
      assert.equal(res.headers.get("connection"), null);
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
      assert.equal(audit[0].bytes, payload.length);
      assert.equal(audit[0].streamed, false);
    },
  );

  await t.step("upstream statuses and bodies pass through (400 from the gateway)", async () => {
    const { handler } = setup(
      {},
      () =>
        Response.json({
          error: { message: "Unknown agent 'nope'.", type: "invalid_request_error" },
        }, {
          status: 400,
        }),
    );
    const res = await handler(
      req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body: "{}" }),
      info(),
    );
    assert.equal(res.status, 400);
    assert.deepEqual(await json(res), {
      error: { message: "Unknown agent 'nope'.", type: "invalid_request_error" },
    });
  });

  await t.step("Set-Cookie from upstream is not passed back", async () => {
    const { handler } = setup(
      {},
      () =>
        new Response("{}", {
          headers: { "set-cookie": "a=b", "content-type": "application/json" },
        }),
    );
    const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    await res.body?.cancel();
    assert.equal(res.headers.get("set-cookie"), null);
  });

  await t.step("a gateway 401 (our token refused) becomes a 502, not a client 401", async () => {
    const { handler } = setup(
      {},
      () =>
        Response.json({ error: { message: "Unauthorized", type: "unauthorized" } }, {
          status: 401,
        }),
    );
    const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    assert.equal(res.status, 502);
    assertOpenAiError(await json(res), "gateway_auth_failed");
  });
});

Deno.test("`createEdgeHandler()` a client that goes away aborts the gateway request", async (t) => {
  await t.step("while streaming: cancelling the response aborts upstream", async () => {
    const feed = controlledStream();
    let upstreamSignal: AbortSignal | undefined;
    const { handler, audit } = setup({}, (call: FetchCall) => {
      upstreamSignal = call.signal;
      return new Response(feed.stream, { headers: { "content-type": "text/event-stream" } });
    });
    const res = await handler(
      req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body: "{}" }),
      info(),
    );
    const reader = res.body!.getReader();
    feed.push("data: 1\n\n");
    await reader.read();
    await reader.cancel();
    assert.equal(upstreamSignal?.aborted, true);
    assert.equal(feed.state.cancelled, true);
    assert.equal(handler.inFlight, 0);
    assert.equal(audit[0].outcome, "client_aborted");
  });

  await t.step(
    "before the gateway answered: the client's request signal aborts upstream",
    async () => {
      using _alive = keepAlive();
      let upstreamSignal: AbortSignal | undefined;
      const { handler, audit } = setup({}, (call) => {
        upstreamSignal = call.signal;
        return waitAborted(call.signal);
      });
      const client = new AbortController();
      const request = new Request("http://edge.test/v1/chat/completions", {
        method: "POST",
        headers: { host: "edge.test", authorization: `Bearer ${OWNER_KEY}` },
        body: "{}",
        signal: client.signal,
      });
      const pending = handler(request, info());
      await until(() => upstreamSignal !== undefined);
      client.abort();
      const res = await pending;
      await res.body?.cancel();
      assert.equal(upstreamSignal?.aborted, true);
      assert.equal(audit[0].outcome, "client_aborted");
      assert.equal(handler.inFlight, 0);
    },
  );
});

Deno.test("`createEdgeHandler()` gateway failures become OpenAI-shaped errors", async (t) => {
  await t.step("gateway down: 502 gateway_unavailable", async () => {
    const { handler, calls } = setup({}, () => {
      throw new TypeError(
        "error sending request for url: tcp connect error: Connection refused (os error 111)",
      );
    });
    const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    assert.equal(res.status, 502);
    const body = await json(res);
    assertOpenAiError(body, "gateway_unavailable");
    assert.equal((body.error as Record<string, unknown>).type, "api_error");
    assert.equal(calls.length, 1, "connection refused is not retried");
  });

  await t.step("a stale pooled connection is retried once, with the same body", async () => {
    let n = 0;
    const { handler, calls } = setup({}, () => {
      if (n++ === 0) {
        throw new TypeError("error sending request: connection closed before message completed");
      }
      return Response.json({ ok: true });
    });
    const res = await handler(
      req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body: '{"a":1}' }),
      info(),
    );
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.equal(calls.length, 2);
    assert.equal(new TextDecoder().decode(calls[1].body), '{"a":1}');
  });

  await t.step("only once: a second stale connection is a 502", async () => {
    const { handler, calls } = setup({}, () => {
      throw new TypeError("error sending request: connection reset by peer");
    });
    const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    await res.body?.cancel();
    assert.equal(res.status, 502);
    assert.equal(calls.length, 2);
  });

  await t.step(
    "no answer within the upstream timeout: 504 and the request is aborted",
    async () => {
      using _alive = keepAlive();
      let upstreamSignal: AbortSignal | undefined;
      const { handler, clock, sweep } = setup({ upstreamTimeoutMs: 600_000 }, (call) => {
        upstreamSignal = call.signal;
        return waitAborted(call.signal);
      });
      const pending = handler(req("/v1/models", { key: OWNER_KEY }), info());
      await until(() => upstreamSignal !== undefined);
      clock.advance(599_000);
      await sweep();
      await sweep(); // two full sweeps at 599 s: the deadline was looked at and held
      assert.equal(upstreamSignal?.aborted, false, "not before the timeout");
      clock.advance(2_000);
      const res = await pending;
      assert.equal(res.status, 504);
      assertOpenAiError(await json(res), "upstream_timeout");
    },
  );

  await t.step("a stream silent for longer than the timeout is cut", async () => {
    using _alive = keepAlive();
    const feed = controlledStream();
    const { handler, clock, audit, sweep } = setup(
      { upstreamTimeoutMs: 60_000 },
      (call) =>
        new Response(feed.bind(call.signal), { headers: { "content-type": "text/event-stream" } }),
    );
    const res = await handler(
      req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body: "{}" }),
      info(),
    );
    const reader = res.body!.getReader();
    feed.push("data: 1\n\n");
    await reader.read();
    clock.advance(59_000);
    feed.push("data: 2\n\n");
    await reader.read(); // activity resets the timer
    clock.advance(59_000);
    await sweep();
    await sweep();
    assert.equal(audit.length, 0, "still open after 59 s of silence");
    clock.advance(2_000);
    await assert.rejects(reader.read());
    assert.equal(audit[0].outcome, "upstream_timeout");
  });
});

Deno.test("`createEdgeHandler()` body and header limits", async (t) => {
  await t.step("the default body limit is 20 MB", async () => {
    const { handler, calls } = setup();
    const res = await handler(
      req("/v1/chat/completions", {
        method: "POST",
        key: OWNER_KEY,
        headers: { "content-length": String(20 * 1024 * 1024 + 1) },
        body: new ReadableStream(),
      }),
      info(),
    );
    assert.equal(res.status, 413);
    await res.body?.cancel();
    assert.equal(calls.length, 0);
    assert.equal(DEFAULT_REQUEST_LIMITS.maxBodyBytes, 20 * 1024 * 1024);
  });

  await t.step(
    "Content-Length over the limit: 413 before reading, gateway not called",
    async () => {
      const { handler, calls } = setup({ requestLimits: { maxBodyBytes: 1024 } });
      const body = new ReadableStream();
      const r = req("/v1/chat/completions", {
        method: "POST",
        key: OWNER_KEY,
        headers: { "content-length": "2048" },
        body,
      });
      const res = await handler(r, info());
      assert.equal(res.status, 413);
      assertOpenAiError(await json(res), "request_too_large");
      assert.equal(calls.length, 0);
      assert.equal(r.bodyUsed, false, "the body was not read");
    },
  );

  await t.step("a chunked body that grows past the limit: 413", async () => {
    const { handler, calls } = setup({ requestLimits: { maxBodyBytes: 1024 } });
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += 512;
        c.enqueue(new Uint8Array(512));
      },
    });
    const res = await handler(
      req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body }),
      info(),
    );
    assert.equal(res.status, 413);
    await res.body?.cancel();
    assert.equal(calls.length, 0);
    assert.ok(sent <= 2048, `stopped reading early (${sent})`);
  });

  await t.step("a body exactly at the limit passes", async () => {
    const { handler, calls } = setup({ requestLimits: { maxBodyBytes: 1024 } });
    const res = await handler(
      req("/v1/chat/completions", {
        method: "POST",
        key: OWNER_KEY,
        body: `{"messages":[],"pad":"${"x".repeat(1024 - 24)}"}`,
      }),
      info(),
    );
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.equal(calls[0].body?.byteLength, 1024);
  });

  await t.step("a slow client that does not finish its body in time: 408", async () => {
    using _alive = keepAlive();
    const { handler, calls, clock, sweep } = setup({ requestLimits: { bodyTimeoutMs: 30_000 } });
    let started = false;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10));
        started = true;
      },
    });
    const pending = handler(
      req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body }),
      info(),
    );
    await until(() => started);
    await sweep(); // the sweeper runs only once the body's deadline is being watched
    clock.advance(31_000);
    const res = await pending;
    assert.equal(res.status, 408);
    assertOpenAiError(await json(res), "request_timeout");
    assert.equal(calls.length, 0);
  });

  await t.step("too many header fields: 431", async () => {
    const { handler, calls } = setup({ requestLimits: { maxHeaderCount: 20 } });
    const headers: Record<string, string> = {};
    for (let i = 0; i < 25; i++) headers[`x-h${i}`] = "v";
    const res = await handler(req("/v1/models", { key: OWNER_KEY, headers }), info());
    assert.equal(res.status, 431);
    assertOpenAiError(await json(res), "headers_too_large");
    assert.equal(calls.length, 0);
  });

  await t.step("headers too large in total: 431", async () => {
    const { handler } = setup();
    const res = await handler(
      req("/v1/models", { key: OWNER_KEY, headers: { "x-big": "a".repeat(40 * 1024) } }),
      info(),
    );
    assert.equal(res.status, 431);
    await res.body?.cancel();
  });
});

Deno.test("`createEdgeHandler()` failed-auth limiting per client address", async (t) => {
  await t.step(
    "11th wrong key from one Funnel client: 429 with Retry-After, even a good key",
    async () => {
      const { handler, clock, calls } = setup();
      const from = (ip: string, key: string) =>
        handler(req("/v1/models", { key, headers: { "x-forwarded-for": ip } }), info());
      for (let i = 0; i < 10; i++) {
        const res = await from("203.0.113.9", WRONG_KEY);
        assert.equal(res.status, 401, `attempt ${i + 1}`);
        await res.body?.cancel();
      }
      const locked = await from("203.0.113.9", WRONG_KEY);
      assert.equal(locked.status, 429);
      assert.equal(locked.headers.get("retry-after"), "300");
      assertOpenAiError(await json(locked), "too_many_failed_attempts");

      clock.advance(10_000);
      const good = await from("203.0.113.9", OWNER_KEY);
      assert.equal(good.status, 429);
      assert.equal(good.headers.get("retry-after"), "290");
      await good.body?.cancel();

      const other = await from("198.51.100.1", OWNER_KEY);
      assert.equal(other.status, 200, "another client is not affected");
      await other.body?.cancel();

      clock.advance(291_000);
      const after = await from("203.0.113.9", OWNER_KEY);
      assert.equal(after.status, 200, "the lockout ends");
      await after.body?.cancel();
      assert.equal(calls.length, 2);
    },
  );

  await t.step("missing keys are not counted (only wrong ones)", async () => {
    const { handler } = setup();
    for (let i = 0; i < 20; i++) {
      const res = await handler(
        req("/v1/models", { headers: { "x-forwarded-for": "203.0.113.10" } }),
        info(),
      );
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
  });

  await t.step("failures spread over more than the window do not lock out", async () => {
    const { handler, clock } = setup();
    for (let i = 0; i < 30; i++) {
      const res = await handler(
        req("/v1/models", { key: WRONG_KEY, headers: { "x-forwarded-for": "203.0.113.11" } }),
        info(),
      );
      assert.equal(res.status, 401, `attempt ${i + 1}`);
      await res.body?.cancel();
      clock.advance(7_000);
    }
  });

  await t.step("without X-Forwarded-For the TCP peer address is the client", async () => {
    const { handler } = setup({ failedAuth: { maxFailures: 2 } });
    for (let i = 0; i < 2; i++) {
      await (await handler(req("/v1/models", { key: WRONG_KEY }), info("127.0.0.1"))).body
        ?.cancel();
    }
    const res = await handler(req("/v1/models", { key: WRONG_KEY }), info("127.0.0.1"));
    assert.equal(res.status, 429);
    await res.body?.cancel();
  });

  await t.step("IPv6 clients are limited per /64", async () => {
    const { handler } = setup({ failedAuth: { maxFailures: 2 } });
    const ips = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"];
    for (const ip of ips.slice(0, 2)) {
      await (await handler(
        req("/v1/models", { key: WRONG_KEY, headers: { "x-forwarded-for": ip } }),
        info(),
      ))
        .body?.cancel();
    }
    const res = await handler(
      req("/v1/models", { key: WRONG_KEY, headers: { "x-forwarded-for": ips[2] } }),
      info(),
    );
    assert.equal(res.status, 429);
    await res.body?.cancel();
  });
});

Deno.test("`createEdgeHandler()` per-key rate and concurrency limits", async (t) => {
  await t.step("a client key gets its burst, then 429 with Retry-After, then refills", async () => {
    const { handler, clock } = setup();
    for (let i = 0; i < 30; i++) {
      const res = await handler(req("/v1/models", { key: CLIENT_KEY }), info());
      assert.equal(res.status, 200, `request ${i + 1}`);
      await res.body?.cancel();
    }
    const limited = await handler(req("/v1/models", { key: CLIENT_KEY }), info());
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "1"); // 120/min = one every 500 ms
    const body = await json(limited);
    assertOpenAiError(body, "rate_limit_exceeded");
    assert.equal((body.error as Record<string, unknown>).type, "rate_limit_error");
    const owner = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    assert.equal(owner.status, 200, "the owner key has its own bucket");
    await owner.body?.cancel();
    clock.advance(500);
    const again = await handler(req("/v1/models", { key: CLIENT_KEY }), info());
    assert.equal(again.status, 200);
    await again.body?.cancel();
  });

  await t.step("the owner key's defaults are generous", async () => {
    const { handler } = setup();
    for (let i = 0; i < 500; i++) {
      const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
  });

  await t.step("a key's own limits override its role's defaults", async () => {
    const clock = new FakeClock();
    const upstream = fakeFetch();
    const handler = createEdgeHandler({
      upstream: "http://127.0.0.1:18789",
      keys: fakeKeys({
        [CLIENT_KEY]: { id: "k_slow", role: "client", limits: { requestsPerMinute: 6, burst: 2 } },
      }),
      tokenSource: staticTokenSource(TOKEN),
      fetch: upstream.fetch,
      now: clock.now,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await handler(req("/v1/models", { key: CLIENT_KEY }), info());
      statuses.push(res.status);
      if (i === 2) assert.equal(res.headers.get("retry-after"), "10");
      await res.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 200, 429]);
  });

  await t.step("open streams count against maxConcurrent until they end", async () => {
    const feeds: Array<ReturnType<typeof controlledStream>> = [];
    const clock = new FakeClock();
    const handler = createEdgeHandler({
      upstream: "http://127.0.0.1:18789",
      keys: fakeKeys({ [CLIENT_KEY]: { id: "k_c", role: "client", limits: { maxConcurrent: 2 } } }),
      tokenSource: staticTokenSource(TOKEN),
      fetch: fakeFetch(() => {
        const feed = controlledStream();
        feeds.push(feed);
        return new Response(feed.stream, { headers: { "content-type": "text/event-stream" } });
      }).fetch,
      now: clock.now,
    });
    const post = () =>
      handler(req("/v1/chat/completions", { method: "POST", key: CLIENT_KEY, body: "{}" }), info());
    const a = await post();
    const b = await post();
    const c = await post();
    assert.equal(c.status, 429);
    assertOpenAiError(await json(c), "rate_limit_exceeded");
    assert.ok(c.headers.get("retry-after"));
    assert.equal(handler.inFlight, 2);
    feeds[0].close();
    await a.text();
    const d = await post();
    assert.equal(d.status, 200);
    feeds[1].close();
    feeds[2].close();
    await b.text();
    await d.text();
    assert.equal(handler.inFlight, 0);
  });
});

Deno.test("`createEdgeHandler()` audit records: what happened, never a secret", async () => {
  const { handler, audit, clock } = setup();
  const res = await handler(
    req("/v1/chat/completions", {
      method: "POST",
      key: CLIENT_KEY,
      body: '{"messages":[]}',
      headers: { "x-forwarded-for": "203.0.113.20" },
    }),
    info(),
  );
  clock.advance(25);
  const text = await res.text();
  const notFound = await handler(rawReq(`/v1/models?key=${OWNER_KEY}`, { method: "POST" }), info());
  await notFound.body?.cancel();
  const bad = await handler(req(`/x/${CLIENT_KEY}`, { key: WRONG_KEY }), info());
  await bad.body?.cancel();
  const unauthorized = await handler(req("/v1/models", { key: WRONG_KEY }), info());
  await unauthorized.body?.cancel();

  assert.equal(audit.length, 4);
  const ok = audit[0];
  assert.equal(ok.keyId, "k_client");
  assert.equal(ok.keyName, "laptop");
  assert.equal(ok.client, "203.0.113.20");
  assert.equal(ok.method, "POST");
  assert.equal(ok.path, "/v1/chat/completions");
  assert.equal(ok.status, 200);
  assert.equal(ok.bytesIn, 15);
  assert.equal(ok.bytes, text.length);
  assert.equal(ok.durationMs, 25);
  assert.equal(ok.streamed, false);
  assert.match(ok.time, /^\d{4}-\d\d-\d\dT/);
  assert.equal(audit[1].status, 404);
  assert.equal(audit[1].path, "/v1/models");
  assert.equal(audit[2].path, "/x/ecto_[redacted]");
  assert.equal(audit[3].status, 401);
  assert.equal(audit[3].keyId, undefined);
  const all = JSON.stringify(audit);
  for (const secret of [OWNER_KEY, CLIENT_KEY, WRONG_KEY, TOKEN, "ecto_O", "ecto_C", "ecto_W"]) {
    assert.ok(!all.includes(secret), `audit leaks ${secret.slice(0, 8)}`);
  }
});

Deno.test("`createEdgeHandler()` health endpoint: no auth, probes /readyz, cached", async (t) => {
  await t.step("gateway ready: 200 {ok, edge, gateway}", async () => {
    const { handler, calls, clock } = setup({}, () => Response.json({ ready: true }));
    const res = await handler(req("/.well-known/ecto/health"), info());
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { ok: true, edge: "up", gateway: "ready" });
    assert.equal(calls[0].url, "http://127.0.0.1:18789/readyz");
    assert.equal(calls[0].headers.get("authorization"), null, "no token on the probe");
    await (await handler(req("/.well-known/ecto/health"), info())).body?.cancel();
    assert.equal(calls.length, 1, "cached");
    clock.advance(2_000);
    await (await handler(req("/.well-known/ecto/health"), info())).body?.cancel();
    assert.equal(calls.length, 2, "re-probed after the cache time");
  });

  await t.step("gateway down: 503 gateway down", async () => {
    const { handler } = setup({}, () => {
      throw new TypeError("Connection refused");
    });
    const res = await handler(req("/.well-known/ecto/health"), info());
    assert.equal(res.status, 503);
    assert.deepEqual(await json(res), { ok: false, edge: "up", gateway: "down" });
  });

  await t.step("gateway starting: 503 not_ready", async () => {
    const { handler } = setup({}, () => Response.json({ ready: false }, { status: 503 }));
    const res = await handler(req("/.well-known/ecto/health"), info());
    assert.deepEqual(await json(res), { ok: false, edge: "up", gateway: "not_ready" });
  });
});

Deno.test("`createEdgeHandler()` shutdown: new requests 503, streams may finish, abortAll cuts them", async () => {
  const feed = controlledStream();
  let upstreamSignal: AbortSignal | undefined;
  const { handler } = setup({}, (call) => {
    upstreamSignal = call.signal;
    return new Response(feed.bind(call.signal), {
      headers: { "content-type": "text/event-stream" },
    });
  });
  const res = await handler(
    req("/v1/chat/completions", { method: "POST", key: OWNER_KEY, body: "{}" }),
    info(),
  );
  handler.beginShutdown();
  const refused = await handler(req("/v1/models", { key: OWNER_KEY }), info());
  assert.equal(refused.status, 503);
  assertOpenAiError(await json(refused), "shutting_down");
  let idle = false;
  const idlePromise = handler.idle().then(() => idle = true);
  feed.push("data: 1\n\n");
  const reader = res.body!.getReader();
  await reader.read();
  assert.equal(idle, false);
  handler.abortAll();
  assert.equal(upstreamSignal?.aborted, true);
  await reader.read().catch(() => {});
  await idlePromise;
  assert.equal(handler.inFlight, 0);
  await handler.close();
});
