import assert from "node:assert/strict";
import { startStubLlm } from "./harness/stub_llm.ts";
import { mergePatch, pidAlive, sharedGateway } from "./harness/gateway.ts";
import { ensureOpenClaw, NODE_VERSION, OPENCLAW_VERSION } from "./harness/openclaw_install.ts";

async function sseData(response: Response): Promise<string[]> {
  const text = await response.text();
  return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
}

Deno.test("`startStubLlm()` speaks enough OpenAI for the gateway", async (t) => {
  await using stub = await startStubLlm({ reply: "abcdefghij", chunks: 4, chunkDelayMs: 20 });
  assert.match(stub.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);

  await t.step("GET /v1/models lists stub-model", async () => {
    const response = await fetch(`${stub.url}/models`);
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.data[0].id, "stub-model");
  });

  await t.step("non-stream chat completion returns the reply and is recorded", async () => {
    const response = await fetch(`${stub.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer k" },
      body: JSON.stringify({ model: "stub-model", messages: [{ role: "user", content: "hi" }] }),
    });
    const body = await response.json();
    assert.equal(body.object, "chat.completion");
    assert.equal(body.choices[0].message.content, "abcdefghij");
    const last = stub.requests.at(-1)!;
    assert.equal(last.path, "/v1/chat/completions");
    assert.equal(last.headers.get("authorization"), "Bearer k");
    assert.deepEqual((last.body as { messages: unknown[] }).messages, [
      { role: "user", content: "hi" },
    ]);
  });

  await t.step("streamed chat completion: chunks spread out, then [DONE]", async () => {
    stub.reply = "0123456789";
    const started = Date.now();
    const response = await fetch(`${stub.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const data = await sseData(response);
    assert.ok(Date.now() - started >= 4 * 20, "chunks were delayed");
    assert.equal(data.at(-1), "[DONE]");
    const events = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(events[0].choices[0].delta.role, "assistant");
    const content = events.map((e) => e.choices[0]?.delta?.content ?? "").join("");
    assert.equal(content, "0123456789");
    assert.equal(events.at(-1).choices[0].finish_reason, "stop");
  });
});

Deno.test("`mergePatch()` merges objects, replaces arrays and deletes on null", () => {
  assert.deepEqual(
    mergePatch({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3], e: true }, d: null }),
    { a: { b: 1, c: [3], e: true } },
  );
});

Deno.test("`ensureOpenClaw()` finds the pinned install", async () => {
  const lines: string[] = [];
  const install = await ensureOpenClaw({ onProgress: (l) => lines.push(l) });
  assert.ok(lines.length > 0);
  const version = await new Deno.Command(`${install.nodeBinDir}/node`, { args: ["--version"] })
    .output();
  assert.equal(new TextDecoder().decode(version.stdout).trim(), `v${NODE_VERSION}`);
  const pkg = JSON.parse(
    await Deno.readTextFile(`${install.cacheDir}/node_modules/openclaw/package.json`),
  );
  assert.equal(pkg.version, OPENCLAW_VERSION);
});

Deno.test("`sharedGateway()` answers /v1/chat/completions with the stub's reply", async (t) => {
  const gateway = await sharedGateway();
  assert.ok(pidAlive(gateway.pid));
  assert.equal(await sharedGateway(), gateway, "one per module");
  const auth = { authorization: `Bearer ${gateway.token}` };

  await t.step("/readyz and /v1/models", async () => {
    const ready = await fetch(`${gateway.url}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    const models = await fetch(`${gateway.url}/v1/models`, { headers: auth });
    assert.equal(models.status, 200);
    const ids = (await models.json()).data.map((m: { id: string }) => m.id);
    assert.ok(ids.includes("openclaw/default"), ids.join(","));
    const anon = await fetch(`${gateway.url}/v1/models`);
    assert.equal(anon.status, 401);
    await anon.body?.cancel();
  });

  await t.step("chat completion, non-stream and stream", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ model: "openclaw", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.choices[0].message.content, gateway.stub!.reply);
    assert.ok(gateway.stub!.requests.some((r) => r.path === "/v1/chat/completions"));

    const streamed = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        model: "openclaw",
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    assert.equal(streamed.status, 200);
    const data = await sseData(streamed);
    assert.equal(data.at(-1), "[DONE]");
    const content = data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? "")
      .join("");
    assert.equal(content, gateway.stub!.reply);
  });

  await t.step("env() makes the openclaw CLI act on this gateway", async () => {
    const out = await new Deno.Command(gateway.openclawBin, {
      args: ["config", "file", "--json"],
      env: gateway.env(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const printed = new TextDecoder().decode(out.stdout);
    assert.equal(JSON.parse(printed.slice(printed.indexOf("{"))).path, gateway.configPath);
  });
});
