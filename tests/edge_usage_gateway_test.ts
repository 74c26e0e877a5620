/**
 * Usage and budgets against the real OpenClaw gateway (one shared gateway,
 * stub LLM behind it): the gateway sends the stream's usage chunk only for
 * `stream_options.include_usage` (found here: OpenClaw 2026.9.6 honours it and
 * passes the provider's `usage` through), so the edge asks for it and strips
 * it again; a budget answers 429. Then a real `cli.ts edge run` process:
 * its counts survive a restart and a kill -9.
 */
import assert from "node:assert/strict";
import { freePort, sharedGateway } from "./harness/gateway.ts";
import { ectoDenoArgs } from "./e2e/run_ecto.ts";
import { createEdgeHandler } from "../lib/edge/handler.ts";
import { KeyStore } from "../lib/edge/keys.ts";
import { serveEdge } from "../lib/edge/serve.ts";
import { createConfigTokenSource } from "../lib/edge/token_source.ts";
import { UsageMeter } from "../lib/usage/meter.ts";
import { UsageStore } from "../lib/usage/store.ts";
import { pollUntil } from "./harness/poll.ts";

const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: "openclaw/main",
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });

Deno.test({
  name: "the real gateway: usage counted from JSON and streams, usage chunk stripped, budget 429",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const gateway = await sharedGateway();
  gateway.stub!.usage = { prompt_tokens: 7, completion_tokens: 5 };
  const dir = await Deno.makeTempDir({ prefix: "ecto-usage-gw-" });
  await using store = await KeyStore.open(`${dir}/keys.json`);
  const { key, id: friendId } = await store.create("friend", {
    agent: "main",
    limits: { maxRequestsPerDay: 4 },
  });
  const meter = await UsageMeter.open(`${dir}/usage.db`);
  await using edge = serveEdge({
    handler: createEdgeHandler({
      upstream: gateway.url,
      keys: store,
      tokenSource: createConfigTokenSource(gateway.configPath, { env: () => undefined }),
      usage: meter,
    }),
    port: 0,
  });
  const post = (body: string) =>
    fetch(`${edge.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body,
    });
  try {
    await t.step("JSON answer: 7 + 5 tokens counted", async () => {
      const res = await post(chatBody());
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual((await res.json()).usage, {
        prompt_tokens: 7,
        completion_tokens: 5,
        total_tokens: 12,
      });
      assert.equal(meter.today(friendId).tokens, 12);
    });

    await t.step(
      "stream without include_usage: no usage chunk reaches the client, tokens counted",
      async () => {
        const res = await post(chatBody({ stream: true }));
        assert.equal(res.status, 200);
        const text = await res.text();
        assert.ok(text.endsWith("data: [DONE]\n\n"), text);
        assert.ok(!text.includes('"usage"'), text);
        assert.match(text, /"finish_reason":"stop"/);
        assert.equal(meter.today(friendId).tokens, 24);
      },
    );

    await t.step("stream with include_usage: the client gets its usage chunk", async () => {
      const res = await post(chatBody({ stream: true, stream_options: { include_usage: true } }));
      const text = await res.text();
      assert.match(text, /"choices":\[\],"usage":\{"prompt_tokens":7,"completion_tokens":5/);
      assert.equal(meter.today(friendId).tokens, 36);
    });

    await t.step(
      "the 5th request of a 4-a-day key: 429 budget_exceeded with Retry-After",
      async () => {
        const fourth = await post(chatBody());
        assert.equal(fourth.status, 200);
        await fourth.body?.cancel();
        const res = await post(chatBody());
        assert.equal(res.status, 429);
        const retry = Number(res.headers.get("retry-after"));
        const midnight = Math.ceil(86_400 - (Date.now() / 1000) % 86_400);
        // Compared on the day's circle: a run across 00:00 UTC sees 86 400 on one side, 0 on the other.
        const off = ((retry - midnight) % 86_400 + 86_400) % 86_400;
        assert.ok(off <= 2 || off >= 86_398, `retry-after ${retry}, midnight in ${midnight}`);
        assert.equal((await res.json()).error.code, "budget_exceeded");
      },
    );

    await t.step("8 parallel requests of a 3-a-day key: exactly 3 reach the gateway", async () => {
      const { key: burst, id } = await store.create("burst", {
        agent: "main",
        limits: { maxRequestsPerDay: 3 },
      });
      const before = gateway.stub!.requests.length;
      const statuses = await Promise.all(Array.from({ length: 8 }, async () => {
        const res = await fetch(`${edge.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${burst}`, "content-type": "application/json" },
          body: chatBody(),
        });
        await res.body?.cancel();
        return res.status;
      }));
      assert.deepEqual(statuses.filter((s) => s === 200).length, 3, String(statuses));
      assert.deepEqual(statuses.filter((s) => s === 429).length, 5, String(statuses));
      assert.equal(gateway.stub!.requests.length - before, 3, "the LLM saw 3 runs");
      assert.equal(meter.today(id).requests, 3);
    });

    await t.step(
      "a stream that crosses a 10-token budget finishes; the next request is 429",
      async () => {
        const { key: small } = await store.create("small", {
          agent: "main",
          limits: { maxTokensPerDay: 10 },
        });
        const send = () =>
          fetch(`${edge.url}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${small}`, "content-type": "application/json" },
            body: chatBody({ stream: true }),
          });
        const res = await send();
        assert.equal(res.status, 200);
        const text = await res.text();
        assert.ok(text.endsWith("data: [DONE]\n\n"), "12 tokens against 10: the answer is whole");
        assert.match(text, /"finish_reason":"stop"/);
        const next = await send();
        assert.equal(next.status, 429);
        assert.equal((await next.json()).error.code, "budget_exceeded");
      },
    );

    await t.step("the database holds the day's row once flushed", async () => {
      await meter.close();
      using reader = UsageStore.openReader(`${dir}/usage.db`)!;
      const [row] = reader.rows({ keyId: friendId });
      assert.equal(row.keyName, "friend");
      assert.equal(row.requests, 4);
      assert.equal(row.promptTokens, 28);
      assert.equal(row.completionTokens, 20);
      assert.equal(row.refused, 1);
      assert.ok(row.bytesOut > 0 && row.bytesIn > 0);
    });
  } finally {
    await meter.close();
    gateway.stub!.usage = { prompt_tokens: 1, completion_tokens: 1 };
    await Deno.remove(dir, { recursive: true });
  }
});

/** A `cli.ts edge run` process; resolves once it says it listens. */
async function startEdgeProcess(configFile: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ectoDenoArgs(["edge", "run", "--config", configFile]),
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/The edge listens on/.test(seen)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the edge exited before listening:\n${seen}`);
    seen += value;
  }
  // Keep draining so the child never blocks on a full pipe.
  const drained = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
  return { child, drained };
}

/** Polls (bounded) until the usage database shows `requests` for the key. */
async function waitForRows(path: string, keyId: string, requests: number) {
  return await pollUntil(() => {
    try {
      using reader = UsageStore.openReader(path);
      const row = reader?.rows({ keyId })[0];
      return row !== undefined && row.requests >= requests && row;
    } catch {
      return false; // the writer may be creating it
    }
  }, { timeoutMs: 60_000, intervalMs: 50, what: `${requests} requests in usage.db` });
}

Deno.test({
  name: "`cli.ts edge run`: usage survives a restart and a kill -9; the budget holds across both",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const gateway = await sharedGateway();
  const home = await Deno.makeTempDir({ prefix: "ecto-usage-edge-" });
  const stateDir = `${home}/.ecto`;
  const port = freePort();
  const configFile = `${home}/edge.json`;
  await Deno.writeTextFile(
    configFile,
    JSON.stringify({
      listen: `127.0.0.1:${port}`,
      upstream: gateway.url,
      openclawConfigPath: gateway.configPath,
      stateDir,
    }),
  );
  await Deno.mkdir(stateDir, { mode: 0o700 });
  const created = await (async () => {
    await using store = await KeyStore.open(`${stateDir}/keys.json`);
    return await store.create("pal", { agent: "main", limits: { maxRequestsPerDay: 5 } });
  })();
  const env = { ...gateway.env(), HOME: home, ECTO_STATE_DIR: stateDir };
  const dbPath = `${stateDir}/usage.db`;
  const call = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${created.key}`, "content-type": "application/json" },
      body: chatBody(),
    });
    await res.body?.cancel();
    return res.status;
  };
  let edge = await startEdgeProcess(configFile, env);
  try {
    assert.equal(await call(), 200);
    assert.equal(await call(), 200);
    // A graceful stop flushes at once.
    edge.child.kill("SIGTERM");
    assert.equal((await edge.child.status).code, 0);
    await edge.drained;
    assert.equal((await waitForRows(dbPath, created.id, 2)).requests, 2);

    edge = await startEdgeProcess(configFile, env);
    assert.equal(await call(), 200);
    assert.equal(await call(), 200);
    // Wait for the once-a-second flush, then kill -9: nothing flushed may be lost.
    await waitForRows(dbPath, created.id, 4);
    edge.child.kill("SIGKILL");
    assert.equal((await edge.child.status).signal, "SIGKILL");
    await edge.drained;
    using after = UsageStore.openReader(dbPath)!;
    const row = after.rows({ keyId: created.id })[0];
    assert.equal(row.requests, 4, "the flushed counts survived kill -9");
    assert.equal(row.promptTokens + row.completionTokens, 8);
    after.close();

    edge = await startEdgeProcess(configFile, env);
    assert.equal(await call(), 200, "the 5th request of the day");
    assert.equal(await call(), 429, "the 6th: over the budget, known from the database");
    edge.child.kill("SIGTERM");
    await edge.child.status;
    await edge.drained;
    const final = await waitForRows(dbPath, created.id, 5);
    assert.equal(final.requests, 5);
    assert.equal(final.refused, 1);
  } finally {
    try {
      edge.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await edge.child.status.catch(() => {});
    await Deno.remove(home, { recursive: true });
  }
});
