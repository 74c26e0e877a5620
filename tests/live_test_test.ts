import assert from "node:assert/strict";
import { ActionRequiredError, ExitCode, exitCodeFor } from "../lib/core/errors.ts";
import {
  ExchangeTimeout,
  firstLine,
  type HttpsPost,
  httpsPost,
  type HttpsPostRequest,
  LiveTestError,
  noAnswerError,
  parseSse,
  readCompletion,
  readStream,
  renderLiveTest,
  runLiveTest,
  statusError,
  throughput,
  type TimedChunk,
  transportLayer,
} from "../lib/live_test/mod.ts";
import type { PublicResolver } from "../lib/proof/mod.ts";

const FIXTURES = `${import.meta.dirname}/fixtures`;
const STREAM = Deno.readTextFileSync(`${FIXTURES}/live_test/stream.sse`);
const STREAM_ERROR = Deno.readTextFileSync(`${FIXTURES}/live_test/stream_error.sse`);
const TLS = `${FIXTURES}/tls`;
const NAME = "edge.tail1234.ts.net";
const KEY = "ecto_live_test_owner_key_0123456789abcdef";
const TARGET = { url: `https://${NAME}:8443`, token: KEY, model: "openclaw/default" };

/** Splits `text` into pieces of `size` characters, `stepMs` apart (a stream cut anywhere). */
function pieces(text: string, size: number, stepMs: number): TimedChunk[] {
  const chunks: TimedChunk[] = [];
  for (let i = 0; i < text.length; i += size) {
    chunks.push({ atMs: 100 + (i / size) * stepMs, text: text.slice(i, i + size) });
  }
  return chunks;
}

Deno.test("`parseSse()` finds the same events however the stream is cut", () => {
  const whole = parseSse([{ atMs: 5, text: STREAM }]).map((e) => e.data);
  assert.equal(whole.length, 5);
  assert.equal(whole.at(-1), "[DONE]");
  for (const size of [1, 7, 64]) {
    assert.deepEqual(parseSse(pieces(STREAM, size, 1)).map((e) => e.data), whole, `size ${size}`);
  }
  assert.deepEqual(
    parseSse([{ atMs: 1, text: ": comment\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r\n" }]),
    [{ atMs: 1, data: "a\nb" }],
  );
});

Deno.test("`readStream()` joins the content, notes [DONE], the first content and usage", () => {
  const answer = readStream(parseSse(pieces(STREAM, 50, 10)))!;
  assert.equal(answer.content, "Hello from the stub LLM.\nSecond line.");
  assert.equal(answer.contentChunks, 2);
  assert.equal(answer.done, true);
  assert.equal(answer.usage, undefined);
  assert.ok(answer.firstContentMs! > 100);
  const withUsage = readStream([
    ...parseSse([{ atMs: 1, text: STREAM.replace("data: [DONE]\n\n", "") }]),
    {
      atMs: 2,
      data:
        '{"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9}}',
    },
    { atMs: 2, data: "[DONE]" },
  ])!;
  assert.deepEqual(withUsage.usage, { promptTokens: 3, completionTokens: 9 });
  assert.equal(readStream(parseSse([{ atMs: 1, text: "data: hello\n\n" }])), undefined);
});

Deno.test("`readStream()` reports the gateway's in-stream error (model down)", () => {
  const answer = readStream(parseSse([{ atMs: 1, text: STREAM_ERROR }]))!;
  assert.equal(answer.error, "upstream provider timeout");
});

Deno.test("`readCompletion()` reads a chat.completion and its usage, or refuses", () => {
  const body = JSON.stringify({
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content: "\n  Hi there.\nMore." } }],
    usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 },
  });
  const answer = readCompletion(body)!;
  assert.equal(firstLine(answer.content), "Hi there.");
  assert.deepEqual(answer.usage, { promptTokens: 10, completionTokens: 4 });
  assert.equal(readCompletion("<html>"), undefined);
  assert.equal(readCompletion('{"object":"list","data":[]}'), undefined);
  assert.equal(firstLine("x".repeat(300)).length, 160);
});

Deno.test("`throughput()` uses usage when present, else counts chunks and says so", async (t) => {
  await t.step("usage over the whole request for one answer", () => {
    const rate = throughput(
      { content: "x", contentChunks: 1, usage: { completionTokens: 50 } },
      2000,
    );
    assert.deepEqual(rate, {
      tokens: 50,
      tokenSource: "usage",
      windowMs: 2000,
      tokensPerSecond: 25,
    });
  });
  await t.step("a stream from its first content to its end", () => {
    const rate = throughput(
      { content: "x", contentChunks: 20, done: true, firstContentMs: 1000 },
      3000,
    );
    assert.deepEqual(rate, {
      tokens: 20,
      tokenSource: "chunks",
      windowMs: 2000,
      tokensPerSecond: 10,
    });
  });
  await t.step("a one-burst stream over the whole request", () => {
    const rate = throughput(
      { content: "x", contentChunks: 4, done: true, firstContentMs: 400 },
      400,
    );
    assert.equal(rate.windowMs, 400);
    assert.equal(rate.tokensPerSecond, 10);
  });
  await t.step("a slow agent's rate keeps three significant figures", () => {
    const rate = throughput(
      { content: "x", contentChunks: 1, usage: { completionTokens: 1 } },
      31_166,
    );
    assert.equal(rate.tokensPerSecond, 0.0321);
  });
  await t.step("no usage and no stream: unknown", () => {
    const rate = throughput({ content: "x", contentChunks: 1 }, 100);
    assert.equal(rate.tokens, null);
    assert.equal(rate.tokensPerSecond, null);
    assert.equal(rate.tokenSource, "none");
  });
});

Deno.test("`statusError()` names the layer and the fix for each refusal", async (t) => {
  const edge = (code: string) => JSON.stringify({ error: { code, message: "m", type: "t" } });
  const cases: Array<[number, string, string, string]> = [
    [401, edge("invalid_api_key"), "edge", "test_edge_unauthorized"],
    [403, edge("model_not_allowed"), "edge", "test_edge_forbidden"],
    [429, edge("rate_limited"), "edge", "test_edge_rate_limited"],
    [502, edge("upstream_unavailable"), "gateway", "test_gateway_error"],
    [503, "", "gateway", "test_gateway_error"],
    [
      408,
      '{"error":{"message":"upstream provider timeout","type":"api_error"}}',
      "gateway",
      "test_gateway_error",
    ],
    [404, "Not Found", "edge", "test_not_found"],
    [
      400,
      '{"error":{"message":"Unknown agent \'nope\'.","type":"invalid_request_error"}}',
      "gateway",
      "test_gateway_refused",
    ],
  ];
  for (const [status, body, layer, code] of cases) {
    await t.step(`${status} → ${layer}`, () => {
      const error = statusError({ status, body, retryAfter: "30" }, "openclaw/default");
      assert.equal(error.layer, layer);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      assert.ok(error.fix, "a fix is given");
      assert.equal(exitCodeFor(error), ExitCode.failed);
      if (status === 429) assert.match(error.message, /retry after 30 s/);
    });
  }
});

Deno.test("`noAnswerError()` blames TLS before a timeout, a refusal, then DNS", () => {
  const tls = Object.assign(new Error("unable to verify"), {
    code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  });
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const notFound = Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
  const timeout = new ExchangeTimeout("no answer", false);
  assert.equal(transportLayer(tls), "tls");
  assert.equal(transportLayer(refused), "connection");
  assert.equal(transportLayer(notFound), "dns");
  assert.equal(transportLayer(timeout), "timeout");
  const url = TARGET.url;
  assert.equal(
    noAnswerError(url, [{ where: "a", error: notFound }, { where: "b", error: tls }]).layer,
    "tls",
  );
  assert.equal(
    noAnswerError(url, [{ where: "a", error: refused }, { where: "b", error: timeout }]).layer,
    "timeout",
  );
  assert.equal(
    noAnswerError(url, [{ where: "a", error: notFound }, { where: "b", error: refused }]).layer,
    "connection",
  );
  const dns = noAnswerError(url, [{ where: "b", error: notFound }], "not in public DNS");
  assert.equal(dns.layer, "dns");
  assert.match(dns.message, /not in public DNS/);
});

/** A fake connector: answers per address, records what it was asked. */
function fakePost(answers: Record<string, (r: HttpsPostRequest) => Promise<unknown>>) {
  const seen: HttpsPostRequest[] = [];
  const post: HttpsPost = async (request) => {
    seen.push(request);
    const answer = answers[`${request.address}:${request.port}`];
    if (!answer) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    return await answer(request) as Awaited<ReturnType<HttpsPost>>;
  };
  return { seen, post };
}

const COMPLETION = JSON.stringify({
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "Loud and clear." } }],
  usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
});

function ok(body: string, type = "application/json") {
  return () =>
    Promise.resolve({
      status: 200,
      headers: new Headers({ "content-type": type }),
      headersMs: 40,
      chunks: [{ atMs: 50, text: body }],
      totalMs: 90,
    });
}

const noDns: PublicResolver = () => Promise.reject(new Deno.errors.NotFound("NXDOMAIN"));

Deno.test("`runLiveTest()` takes the path the proof would take", async (t) => {
  await t.step(
    "an ECTO_CONNECT_TO rule for the name is the public path; DNS is not asked",
    async () => {
      const { seen, post } = fakePost({ "127.0.0.1:9443": ok(COMPLETION) });
      let asked = 0;
      const result = await runLiveTest({
        target: TARGET,
        stream: false,
        env: (n) => n === "ECTO_CONNECT_TO" ? `${NAME}:8443:127.0.0.1:9443` : undefined,
        deps: { httpsPost: post, resolveDns: () => (asked++, Promise.resolve([])) },
      });
      assert.equal(result.path, "public");
      assert.equal(result.via, "ECTO_CONNECT_TO target 127.0.0.1:9443");
      assert.equal(asked, 0);
      assert.equal(seen[0]!.serverName, NAME);
      assert.equal(seen[0]!.hostHeader, `${NAME}:8443`);
      assert.equal(seen[0]!.headers.Authorization, `Bearer ${KEY}`);
      const body = JSON.parse(seen[0]!.body);
      assert.equal(body.model, "openclaw/default");
      assert.equal(body.stream, undefined);
      assert.equal(result.ttfbMs, 40);
      assert.equal(result.firstLine, "Loud and clear.");
      assert.deepEqual(result.throughput, {
        tokens: 4,
        tokenSource: "usage",
        windowMs: 90,
        tokensPerSecond: 44.4,
      });
      const text = renderLiveTest(result);
      assert.match(text, /path +public, via ECTO_CONNECT_TO/);
      assert.match(text, /44\.4 tokens\/s \(4 completion tokens from usage/);
      assert.ok(!text.includes(KEY));
    },
  );

  await t.step("public DNS address first, from the resolver ECTO_DNS_SERVER names", async () => {
    const { post } = fakePost({ "198.51.100.4:8443": ok(COMPLETION) });
    const servers: string[] = [];
    const result = await runLiveTest({
      target: TARGET,
      stream: false,
      env: (n) => n === "ECTO_DNS_SERVER" ? "127.0.0.1:5353" : undefined,
      deps: {
        httpsPost: post,
        resolveDns: (_name, type, server) => {
          servers.push(`${server.ipAddr}:${server.port}`);
          return Promise.resolve(type === "A" ? ["198.51.100.4"] : []);
        },
      },
    });
    assert.equal(result.path, "public");
    assert.match(result.via, /^public DNS address 198\.51\.100\.4:8443 \(from 127\.0\.0\.1\)$/);
    assert.deepEqual([...new Set(servers)], ["127.0.0.1:5353"]);
  });

  await t.step("not in public DNS: the tailnet path, and it says why", async () => {
    const { post } = fakePost({ [`${NAME}:8443`]: ok(COMPLETION) });
    const result = await runLiveTest({
      target: TARGET,
      stream: false,
      env: () => undefined,
      deps: { httpsPost: post, resolveDns: noDns },
    });
    assert.equal(result.path, "tailnet");
    assert.match(result.via, /through the system resolver/);
    assert.match(result.publicError!, /not in public DNS/);
    assert.match(renderLiveTest(result), /tailnet only/);
  });

  await t.step(
    "the tailnet path dials the node's Tailscale IPs, never the name, when known",
    async () => {
      const { seen, post } = fakePost({ "127.0.0.1:8443": ok(COMPLETION) });
      const result = await runLiveTest({
        target: TARGET,
        stream: false,
        env: (n) => n === "ECTO_DNS_SERVER" ? "127.0.0.1:5353" : undefined,
        tailnetAddresses: ["127.0.0.1"],
        deps: { httpsPost: post, resolveDns: noDns },
      });
      assert.equal(result.path, "tailnet");
      assert.match(result.via, /127\.0\.0\.1:8443, a Tailscale IP/);
      assert.deepEqual(seen.map((r) => r.address), ["127.0.0.1"]);
    },
  );

  await t.step("private mode: only the tailnet path, no DNS asked, and it says why", async () => {
    const { seen, post } = fakePost({ "127.0.0.1:9443": ok(COMPLETION) });
    let asked = 0;
    const result = await runLiveTest({
      target: TARGET,
      stream: false,
      env: (n) => n === "ECTO_CONNECT_TO" ? `127.0.0.1:8443:127.0.0.1:9443` : undefined,
      tailnetAddresses: ["127.0.0.1"],
      privateMode: true,
      deps: {
        httpsPost: post,
        resolveDns: () => {
          asked++;
          return Promise.resolve([]);
        },
      },
    });
    assert.equal(asked, 0);
    assert.equal(result.path, "tailnet");
    assert.equal(result.privateMode, true);
    assert.equal(result.target, "127.0.0.1:9443");
    assert.deepEqual(seen.map((r) => `${r.address}:${r.port}`), ["127.0.0.1:9443"]);
    assert.match(renderLiveTest(result), /private mode: there is no public path/);
  });

  await t.step(
    "ECTO_DNS_SERVER set and no Tailscale IPs: the name never goes to the system resolver",
    async () => {
      const { seen, post } = fakePost({ [`${NAME}:8443`]: ok(COMPLETION) });
      await assert.rejects(
        runLiveTest({
          target: TARGET,
          stream: false,
          env: (n) => n === "ECTO_DNS_SERVER" ? "127.0.0.1:5353" : undefined,
          deps: { httpsPost: post, resolveDns: noDns },
        }),
        (e: LiveTestError) => e.layer === "dns",
      );
      assert.deepEqual(seen, []);
    },
  );

  await t.step("a stream without usage counts content chunks and says so", async () => {
    const { seen, post } = fakePost({
      "127.0.0.1:9443": () =>
        Promise.resolve({
          status: 200,
          headers: new Headers({ "content-type": "text/event-stream; charset=utf-8" }),
          headersMs: 10,
          chunks: pieces(STREAM, 40, 25),
          totalMs: 100 + Math.ceil(STREAM.length / 40) * 25,
        }),
    });
    const result = await runLiveTest({
      target: TARGET,
      stream: true,
      env: (n) => n === "ECTO_CONNECT_TO" ? `${NAME}:8443:127.0.0.1:9443` : undefined,
      deps: { httpsPost: post },
    });
    const body = JSON.parse(seen[0]!.body);
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.equal(result.throughput.tokenSource, "chunks");
    assert.equal(result.throughput.tokens, 2);
    assert.equal(result.firstLine, "Hello from the stub LLM.");
    assert.ok(result.firstContentMs! > result.ttfbMs);
    assert.match(renderLiveTest(result), /content chunks counted, no usage/);
  });
});

Deno.test("`runLiveTest()` fails with the layer, never with the key in the message", async (t) => {
  const rule = (n: string) => n === "ECTO_CONNECT_TO" ? `${NAME}:8443:127.0.0.1:9443` : undefined;
  const attempt = async (post: HttpsPost, stream = false) => {
    try {
      await runLiveTest({ target: TARGET, stream, env: rule, deps: { httpsPost: post } });
    } catch (error) {
      assert.ok(error instanceof LiveTestError, String(error));
      assert.ok(!error.message.includes(KEY) && !(error.fix ?? "").includes(KEY));
      return error;
    }
    throw new Error("no failure");
  };
  await t.step("401 from the edge", async () => {
    const error = await attempt(() =>
      Promise.resolve({
        status: 401,
        headers: new Headers(),
        headersMs: 1,
        chunks: [{
          atMs: 1,
          text: '{"error":{"code":"invalid_api_key","message":"Invalid API key."}}',
        }],
        totalMs: 1,
      })
    );
    assert.equal(error.layer, "edge");
    assert.match(error.message, /401 invalid_api_key/);
  });
  await t.step("an error in the middle of a stream is the gateway's", async () => {
    const error = await attempt(ok(STREAM_ERROR, "text/event-stream"), true);
    assert.equal(error.layer, "gateway");
    assert.equal(error.code, "test_model_error");
  });
  await t.step("a stream cut before [DONE]", async () => {
    const error = await attempt(
      ok(STREAM.replace("data: [DONE]\n\n", ""), "text/event-stream"),
      true,
    );
    assert.equal(error.code, "test_stream_cut");
  });
  await t.step("200 that is not a chat completion", async () => {
    const error = await attempt(ok("<html>hello</html>", "text/html"));
    assert.equal(error.code, "test_not_a_completion");
  });
  await t.step("nothing listening", async () => {
    const error = await attempt(fakePost({}).post);
    assert.equal(error.layer, "connection");
  });
});

Deno.test("`runLiveTest()` without ecto state says run ecto connect first (exit 3)", async () => {
  const error = await runLiveTest({ target: undefined, stream: false, env: () => undefined })
    .catch((e) => e);
  assert.ok(error instanceof ActionRequiredError);
  assert.equal(error.code, "not_connected");
  assert.equal(error.fix, "Run ecto connect first.");
  assert.equal(exitCodeFor(error), ExitCode.actionRequired);
});

/** A real TLS server on loopback for `NAME`, streaming `chunks` SSE events `gapMs` apart. */
function startTlsServer(cert: "edge" | "other", events: string[], gapMs: number) {
  const seen: { host: string | null; auth: string | null; body: string }[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(`${TLS}/${cert}.pem`),
    key: Deno.readTextFileSync(`${TLS}/${cert}-key.pem`),
    onListen() {},
  }, async (request) => {
    seen.push({
      host: request.headers.get("host"),
      auth: request.headers.get("authorization"),
      body: await request.text(),
    });
    const enc = new TextEncoder();
    let i = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) =>
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            if (i < events.length) controller.enqueue(enc.encode(events[i++]!));
            else controller.close();
            resolve();
          }, i === 0 ? 0 : gapMs);
        }),
      cancel: () => clearTimeout(timer),
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    port: server.addr.port,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("`httpsPost()` streams over real TLS: SNI and CA checked, chunk times kept", async (t) => {
  const events = STREAM.split(/(?<=\n\n)/);
  const caCerts = [Deno.readTextFileSync(`${TLS}/ca.pem`)];
  await t.step("the answer arrives in pieces, after the head", async () => {
    await using server = startTlsServer("edge", events, 30);
    const response = await httpsPost({
      address: "127.0.0.1",
      port: server.port,
      serverName: NAME,
      hostHeader: `${NAME}:8443`,
      path: "/v1/chat/completions",
      headers: { Authorization: `Bearer ${KEY}` },
      body: '{"stream":true}',
      caCerts,
      timeoutMs: 10_000,
    });
    assert.equal(response.status, 200);
    assert.equal(server.seen[0]!.host, `${NAME}:8443`);
    assert.equal(server.seen[0]!.auth, `Bearer ${KEY}`);
    assert.equal(server.seen[0]!.body, '{"stream":true}');
    assert.ok(response.chunks.length >= 2, "more than one piece");
    const times = response.chunks.map((c) => c.atMs);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), "pieces in arrival order");
    assert.ok(times[0]! >= response.headersMs, "the body comes after the head");
    assert.equal(
      readStream(parseSse(response.chunks))!.content,
      "Hello from the stub LLM.\nSecond line.",
    );
  });
  await t.step("a certificate for another name is a TLS failure", async () => {
    await using server = startTlsServer("other", events, 0);
    const error = await httpsPost({
      address: "127.0.0.1",
      port: server.port,
      serverName: NAME,
      hostHeader: NAME,
      path: "/v1/chat/completions",
      headers: {},
      body: "{}",
      caCerts,
      timeoutMs: 10_000,
    }).catch((e) => e);
    assert.equal(transportLayer(error), "tls", String(error));
  });
  await t.step("a body slower than the timeout is a timeout after the head", async () => {
    await using server = startTlsServer("edge", events, 5_000);
    const error = await httpsPost({
      address: "127.0.0.1",
      port: server.port,
      serverName: NAME,
      hostHeader: NAME,
      path: "/v1/chat/completions",
      headers: {},
      body: "{}",
      caCerts,
      timeoutMs: 300,
    }).catch((e) => e);
    assert.ok(error instanceof ExchangeTimeout, String(error));
    assert.equal(error.afterHeaders, true);
  });
});

// Recorded from the real OpenClaw gateway (2026.9.6, stub LLM) through the edge and the double's
// Funnel: a stream without and with `stream_options.include_usage`, and a plain answer.
Deno.test("the real gateway's answers: usage in a stream only when asked for", async (t) => {
  const recorded = (name: string) => Deno.readTextFileSync(`${FIXTURES}/live_test/${name}`);
  await t.step("stream without include_usage: content chunks are counted", () => {
    const answer = readStream(parseSse(pieces(recorded("gateway_stream.sse"), 33, 5)))!;
    assert.equal(answer.content, "Hello from the stub LLM.");
    assert.equal(answer.contentChunks, 3);
    assert.equal(answer.done, true);
    assert.equal(answer.usage, undefined);
    assert.equal(throughput(answer, 1000).tokenSource, "chunks");
  });
  await t.step("stream with include_usage: the usage chunk is read", () => {
    const answer = readStream(parseSse(pieces(recorded("gateway_stream_usage.sse"), 33, 5)))!;
    assert.equal(answer.content, "Hello from the stub LLM.");
    assert.deepEqual(answer.usage, { promptTokens: 1, completionTokens: 1 });
    assert.equal(throughput(answer, 1000).tokenSource, "usage");
  });
  await t.step("plain answer", () => {
    const answer = readCompletion(recorded("gateway_completion.json"))!;
    assert.equal(firstLine(answer.content), "Hello from the stub LLM.");
    assert.deepEqual(answer.usage, { promptTokens: 1, completionTokens: 1 });
  });
});
