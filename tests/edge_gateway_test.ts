/**
 * The edge in front of the real OpenClaw gateway (one shared gateway for the
 * whole module): an ecto key opens the allowlisted API, nothing else does, and
 * client headers that would steer the gateway never reach it.
 */
import assert from "node:assert/strict";
import { sharedGateway } from "./harness/gateway.ts";
import { createEdgeHandler } from "../lib/edge/handler.ts";
import { KeyStore } from "../lib/edge/keys.ts";
import { serveEdge } from "../lib/edge/serve.ts";
import { createConfigTokenSource } from "../lib/edge/token_source.ts";

Deno.test({
  name: "`serveEdge()` in front of the real gateway: key in, operator surfaces out",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const gateway = await sharedGateway();
  const dir = await Deno.makeTempDir({ prefix: "ecto-edge-gw-" });
  await using store = await KeyStore.open(`${dir}/keys.json`);
  const { key } = await store.create("owner", { role: "owner", agent: "main" });
  await using edge = serveEdge({
    handler: createEdgeHandler({
      upstream: gateway.url,
      keys: store,
      tokenSource: createConfigTokenSource(gateway.configPath, { env: () => undefined }),
    }),
    port: 0,
  });
  const auth = { authorization: `Bearer ${key}` };
  try {
    await t.step("GET /v1/models with an ecto key: 200 from the gateway", async () => {
      const res = await fetch(`${edge.url}/v1/models`, { headers: auth });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.object, "list");
      assert.ok(body.data.some((m: { id: string }) => m.id === "openclaw/default"));
    });

    await t.step("GET /v1/models/openclaw%2Fdefault: 200", async () => {
      const res = await fetch(`${edge.url}/v1/models/openclaw%2Fdefault`, { headers: auth });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).id, "openclaw/default");
    });

    await t.step("without a key, or with the gateway token itself: 401 from the edge", async () => {
      for (
        const headers of [{}, { authorization: `Bearer ${gateway.token}` }] as Record<
          string,
          string
        >[]
      ) {
        const res = await fetch(`${edge.url}/v1/models`, { headers });
        assert.equal(res.status, 401);
        assert.equal((await res.json()).error.code, "invalid_api_key");
      }
    });

    await t.step("/tools/invoke and the Control UI: 404, even with a key", async () => {
      for (const [method, path] of [["POST", "/tools/invoke"], ["GET", "/"], ["GET", "/healthz"]]) {
        const res = await fetch(`${edge.url}${path}`, {
          method,
          headers: { ...auth, "content-type": "application/json" },
          ...(method === "POST"
            ? { body: JSON.stringify({ tool: "sessions_list", args: {} }) }
            : {}),
        });
        assert.equal(res.status, 404, `${method} ${path}`);
        await res.body?.cancel();
      }
    });

    await t.step("forged x-openclaw-session-key / agent-id are stripped", async () => {
      const forged = {
        "x-openclaw-session-key": "cron:forged",
        "x-openclaw-agent-id": "nope",
        "content-type": "application/json",
      };
      const body = JSON.stringify({
        model: "openclaw/default",
        messages: [{ role: "user", content: "hi" }],
      });
      // Sent straight to the gateway, these headers are honoured (and refused).
      const direct = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...forged, authorization: `Bearer ${gateway.token}` },
        body,
      });
      assert.equal(direct.status, 400);
      await direct.body?.cancel();
      // Through the edge they never arrive: the request runs normally.
      const res = await fetch(`${edge.url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...forged, ...auth },
        body,
      });
      const answer = await res.json();
      assert.equal(res.status, 200, JSON.stringify(answer));
      assert.equal(answer.choices[0].message.content, "Hello from the stub LLM.");
    });

    await t.step("health reports the gateway ready", async () => {
      const res = await fetch(`${edge.url}/.well-known/ecto/health`);
      assert.deepEqual(await res.json(), { ok: true, edge: "up", gateway: "ready" });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
