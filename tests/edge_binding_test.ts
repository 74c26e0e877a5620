/**
 * Keys that confine, at unit level: the pure binding decisions, the handler
 * enforcing them with a fake gateway, expiry on an injected clock, the
 * failed-key count under parallel guesses, audit redaction, the confined
 * agent's config decisions and `--expires` parsing.
 */
import assert from "node:assert/strict";
import { redactKeys } from "../lib/edge/audit.ts";
import type { AuditRecord } from "../lib/edge/audit.ts";
import {
  allowedModelIds,
  filterModelList,
  modelAgent,
  modelAllowed,
  scopeBody,
} from "../lib/edge/binding.ts";
import { createEdgeHandler, type EdgeHandlerOptions } from "../lib/edge/handler.ts";
import { KeyStore } from "../lib/edge/keys.ts";
import type { KeyRecord, KeyVerifier } from "../lib/edge/keys.ts";
import { staticTokenSource } from "../lib/edge/token_source.ts";
import { parseExpiry } from "../lib/edge/keys_admin.ts";
import {
  agentIds,
  CONFINED_AGENT_ID,
  confinedAgentConsequence,
  confinedAgentEntry,
  insertedPaths,
  machineToolsOf,
  ownerAgentId,
} from "../lib/openclaw/confined_agent.ts";
import {
  CLIENT_KEY,
  FakeClock,
  fakeFetch,
  fakeKeys,
  info,
  OWNER_KEY,
  req,
  WRONG_KEY,
} from "./fixtures/edge/helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function setup(
  overrides: Partial<EdgeHandlerOptions> = {},
  respond?: Parameters<typeof fakeFetch>[0],
) {
  const clock = new FakeClock();
  const upstream = fakeFetch(respond);
  const audit: AuditRecord[] = [];
  const handler = createEdgeHandler({
    upstream: "http://127.0.0.1:18789",
    keys: fakeKeys(),
    tokenSource: staticTokenSource("gw-token-0123456789abcdef0123456789abcdef"),
    fetch: upstream.fetch,
    now: clock.now,
    audit: (r) => audit.push(r),
    ...overrides,
  });
  return { handler, clock, calls: upstream.calls, audit };
}

function post(key: string, body: unknown, headers: Record<string, string> = {}): Request {
  return req("/v1/chat/completions", {
    method: "POST",
    key,
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });
}

Deno.test("`modelAgent()` reads every spelling OpenClaw accepts", () => {
  for (const m of [undefined, null, "", "  ", "openclaw", "OpenClaw", "openclaw/default"]) {
    assert.equal(modelAgent(m), "default", String(m));
  }
  assert.equal(modelAgent("openclaw/main"), "main");
  assert.equal(modelAgent("openclaw:Main"), "main");
  assert.equal(modelAgent("agent:work"), "work");
  assert.equal(modelAgent(" openclaw/main "), "main");
  assert.equal(modelAgent("gpt-4o"), undefined);
  assert.equal(modelAgent(42), undefined);
  assert.ok(modelAllowed("openclaw/default", "ecto-guest"));
  assert.ok(modelAllowed("agent:ecto-guest", "ecto-guest"));
  assert.ok(!modelAllowed("openclaw/main", "ecto-guest"));
  assert.deepEqual(allowedModelIds("x"), ["openclaw", "openclaw/default", "openclaw/x"]);
});

Deno.test("`scopeBody()` refuses other agents and namespaces a client key's user", async (t) => {
  const scope = { agent: "ecto-guest", keyId: "k_abc", namespaceUser: true };
  await t.step("another agent: 403 agent_not_allowed", () => {
    for (const model of ["openclaw/main", "openclaw:main", "agent:main", "OPENCLAW/MAIN"]) {
      const d = scopeBody(enc.encode(JSON.stringify({ model })), scope);
      assert.equal(d.ok, false);
      assert.equal(!d.ok && d.code, "agent_not_allowed", model);
    }
  });
  await t.step("user: prefixed with the key id; absent: left absent", () => {
    const d = scopeBody(enc.encode(JSON.stringify({ user: "me", messages: [] })), scope);
    assert.ok(d.ok && d.body);
    assert.equal(JSON.parse(dec.decode(d.body!)).user, "ecto:k_abc:me");
    const none = scopeBody(enc.encode("{}"), scope);
    assert.ok(none.ok && none.body === undefined);
    const owner = scopeBody(enc.encode(JSON.stringify({ user: "me" })), {
      ...scope,
      namespaceUser: false,
    });
    assert.ok(owner.ok && owner.body === undefined);
  });
  await t.step("the owner key cannot step into a client key's namespace", () => {
    const d = scopeBody(enc.encode(JSON.stringify({ user: " ecto:k_abc:me" })), {
      ...scope,
      namespaceUser: false,
    });
    assert.equal(!d.ok && d.status, 400);
  });
  await t.step("not a JSON object, or a non-string user: 400", () => {
    for (const text of ["nope", "[]", "null", '{"user":5}']) {
      const d = scopeBody(enc.encode(text), scope);
      assert.equal(!d.ok && d.status, 400, text);
    }
  });
});

Deno.test("`filterModelList()` keeps only the key's ids", () => {
  const upstream = JSON.stringify({
    object: "list",
    data: ["openclaw", "openclaw/default", "openclaw/main", "openclaw/ecto-guest"].map((id) => ({
      id,
      object: "model",
    })),
  });
  const out = JSON.parse(filterModelList(upstream, "ecto-guest")!);
  assert.deepEqual(out.data.map((m: { id: string }) => m.id), [
    "openclaw",
    "openclaw/default",
    "openclaw/ecto-guest",
  ]);
  assert.equal(out.object, "list");
  assert.equal(filterModelList("<html>", "x"), undefined);
});

Deno.test("`createEdgeHandler()` pins every request to the key's agent", async (t) => {
  await t.step("x-openclaw-agent-id is the key's agent, whatever the client sent", async () => {
    const { handler, calls } = setup();
    const res = await handler(
      post(CLIENT_KEY, { model: "openclaw/default", messages: [] }, {
        "x-openclaw-agent-id": "main",
        "x-openclaw-agent": "main",
      }),
      info(),
    );
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.equal(calls[0].headers.get("x-openclaw-agent-id"), "ecto-guest");
    assert.equal(calls[0].headers.get("x-openclaw-agent"), null);
  });
  await t.step(
    "a model naming another agent: 403 in OpenAI's shape, gateway not called",
    async () => {
      const { handler, calls, audit } = setup();
      const res = await handler(post(CLIENT_KEY, { model: "agent:main", messages: [] }), info());
      assert.equal(res.status, 403);
      const body = await res.json();
      assert.equal(body.error.code, "agent_not_allowed");
      assert.equal(typeof body.error.message, "string");
      assert.equal(calls.length, 0);
      assert.equal(audit[0].outcome, "agent_not_allowed");
    },
  );
  await t.step("the owner key is pinned too (to its own agent)", async () => {
    const { handler, calls } = setup();
    const denied = await handler(post(OWNER_KEY, { model: "openclaw/ecto-guest" }), info());
    assert.equal(denied.status, 403);
    await denied.body?.cancel();
    const ok = await handler(post(OWNER_KEY, { model: "openclaw/main", user: "u" }), info());
    await ok.body?.cancel();
    assert.equal(calls[0].headers.get("x-openclaw-agent-id"), "main");
    assert.equal(JSON.parse(dec.decode(calls[0].body!)).user, "u", "the owner's user is its own");
  });
  await t.step("a client key's user is namespaced by key id", async () => {
    const { handler, calls } = setup();
    const res = await handler(post(CLIENT_KEY, { user: "shared", messages: [] }), info());
    await res.body?.cancel();
    assert.equal(JSON.parse(dec.decode(calls[0].body!)).user, "ecto:k_client:shared");
  });
  await t.step("/v1/models: only the key's agent", async () => {
    const { handler } = setup({}, () =>
      Response.json({
        object: "list",
        data: [{ id: "openclaw" }, { id: "openclaw/main" }, { id: "openclaw/ecto-guest" }],
      }));
    const res = await handler(req("/v1/models", { key: CLIENT_KEY }), info());
    assert.deepEqual((await res.json()).data, [{ id: "openclaw" }, { id: "openclaw/ecto-guest" }]);
  });
  await t.step("/v1/models/{other agent}: 404 without asking the gateway", async () => {
    const { handler, calls } = setup();
    const res = await handler(req("/v1/models/openclaw%2Fmain", { key: CLIENT_KEY }), info());
    assert.equal(res.status, 404);
    await res.body?.cancel();
    assert.equal(calls.length, 0);
  });
  await t.step("/v1/responses: the owner's only", async () => {
    const { handler, calls } = setup({ enableResponses: true });
    const res = await handler(
      req("/v1/responses", { method: "POST", key: CLIENT_KEY, body: "{}" }),
      info(),
    );
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.code, "endpoint_not_allowed");
    assert.equal(calls.length, 0);
  });
  await t.step("a key bound to no agent: 403 key_not_bound", async () => {
    const { handler } = setup({
      keys: fakeKeys({ [OWNER_KEY]: { role: "owner", agent: undefined } }),
    });
    const res = await handler(req("/v1/models", { key: OWNER_KEY }), info());
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.code, "key_not_bound");
  });
});

Deno.test("`createEdgeHandler()` refuses an expired key with 401 key_expired (injected clock)", async () => {
  const clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
  const { handler } = setup({
    now: clock.now,
    keys: fakeKeys({
      [CLIENT_KEY]: { id: "k_t", agent: "ecto-guest", expires: "2026-06-01T12:30:00.000Z" },
    }),
  });
  const before = await handler(req("/v1/models", { key: CLIENT_KEY }), info());
  assert.equal(before.status, 200);
  await before.body?.cancel();
  clock.advance(30 * 60_000);
  const after = await handler(req("/v1/models", { key: CLIENT_KEY }), info());
  assert.equal(after.status, 401);
  const body = await after.json();
  assert.equal(body.error.code, "key_expired");
  assert.match(body.error.message, /2026-06-01T12:30:00.000Z/);
});

Deno.test("`createEdgeHandler()` failed keys: parallel guesses cannot outrun the limit, a success does not reset it", async (t) => {
  /** A verifier that answers only after a timer turn, like a key file re-read. */
  const slowKeys = (inner: KeyVerifier): KeyVerifier => ({
    verify: (k) =>
      new Promise<KeyRecord | undefined>((r) => setTimeout(() => r(inner.verify(k)), 0)),
  });
  await t.step("50 wrong keys at once: exactly 10 answered 401, the rest 429", async () => {
    const { handler } = setup({ keys: slowKeys(fakeKeys()) });
    const responses = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          handler(
            req("/v1/models", { key: WRONG_KEY, headers: { "x-forwarded-for": "203.0.113.5" } }),
            info(),
          ),
      ),
    );
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.map((r) => r.body?.cancel()));
    assert.equal(statuses.filter((s) => s === 401).length, 10);
    assert.equal(statuses.filter((s) => s === 429).length, 40);
  });
  await t.step("9 wrong, 1 good, 1 wrong, 1 wrong: the 11th failure is refused", async () => {
    const { handler } = setup();
    const from = async (key: string) => {
      const res = await handler(
        req("/v1/models", { key, headers: { "x-forwarded-for": "203.0.113.6" } }),
        info(),
      );
      await res.body?.cancel();
      return res.status;
    };
    for (let i = 0; i < 9; i++) assert.equal(await from(WRONG_KEY), 401);
    assert.equal(await from(OWNER_KEY), 200);
    assert.equal(await from(WRONG_KEY), 401); // the 10th
    assert.equal(await from(WRONG_KEY), 429); // the 11th: a success in between reset nothing
  });
});

Deno.test("`createEdgeHandler()` refuses repeated or conflicting Content-Length with one 400", async () => {
  const { handler, calls } = setup();
  for (const value of ["5, 5", "5, 6", "5,5", "-1", "abc"]) {
    const request = new Request("http://edge.test/v1/chat/completions", {
      method: "POST",
      headers: { host: "edge.test", authorization: `Bearer ${OWNER_KEY}` },
      body: "{}",
    });
    // Deno.serve joins repeated fields with ", "; a Request built here would recompute it.
    const headers = new Headers(request.headers);
    headers.set("content-length", value);
    const raw = {
      url: request.url,
      method: "POST",
      headers,
      body: request.body,
      signal: request.signal,
    };
    const res = await handler(raw as unknown as Request, info());
    assert.equal(res.status, 400, value);
    assert.equal((await res.json()).error.code, "invalid_content_length");
  }
  assert.equal(calls.length, 0);
});

Deno.test("`redactKeys()` hides key-shaped text, literal or percent-encoded", () => {
  const key = "ecto_" + "a1B2".repeat(10) + "xyz";
  const enc1 = key.replace("e", "%65").replace("_", "%5F");
  const enc2 = encodeURIComponent(encodeURIComponent(key)).replace("e", "%2565");
  for (
    const text of [
      `/v1/models/${key}`,
      `/v1/models/${enc1}`,
      `/v1/models/${enc2}`,
      key.toUpperCase(),
      `x${key}y`,
    ]
  ) {
    const out = redactKeys(text);
    assert.ok(!out.toLowerCase().includes("a1b2a1b2"), `${text} → ${out}`);
    assert.ok(out.includes("ecto_[redacted]"), out);
  }
  assert.equal(redactKeys("/v1/models/openclaw%2Fmain"), "/v1/models/openclaw%2Fmain");
});

Deno.test("`createEdgeHandler()` audit: no field carries a key, whatever the client put where", async () => {
  const secret = "ecto_" + "Zq9".repeat(15);
  const { handler, audit } = setup({
    keys: fakeKeys({
      [OWNER_KEY]: { id: "k_o", role: "owner", name: `oops ${secret}`, agent: "main" },
    }),
  });
  for (
    const path of [`/v1/models/${secret}`, `/v1/models/%65cto%5F${secret.slice(5)}`, `/${secret}`]
  ) {
    const res = await handler(req(path, { key: OWNER_KEY }), info());
    await res.body?.cancel();
  }
  const text = JSON.stringify(audit);
  assert.equal(audit.length, 3);
  assert.ok(!text.includes(secret.slice(5, 25)), text);
});

Deno.test("`KeyStore.update()` binds and expires a key, durable for the next verify", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using store = await KeyStore.open(`${dir}/keys.json`);
    const k = await store.create("x", { agent: "main", expires: "2030-01-01T00:00:00Z" });
    assert.equal((await store.verify(k.key))?.expires, "2030-01-01T00:00:00.000Z");
    await using other = await KeyStore.open(`${dir}/keys.json`);
    await other.update(k.id, { agent: "work", expires: null });
    const seen = await store.verify(k.key);
    assert.equal(seen?.agent, "work");
    assert.equal(seen?.expires, undefined);
    await assert.rejects(other.update(k.id, { agent: "Bad Id" }), /not an OpenClaw agent id/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`parseExpiry()` takes durations and future ISO times", () => {
  const now = Date.UTC(2026, 0, 1);
  assert.equal(parseExpiry("30m", now), "2026-01-01T00:30:00.000Z");
  assert.equal(parseExpiry("12h", now), "2026-01-01T12:00:00.000Z");
  assert.equal(parseExpiry("7d", now), "2026-01-08T00:00:00.000Z");
  assert.equal(parseExpiry("2026-02-01T10:00:00Z", now), "2026-02-01T10:00:00.000Z");
  for (const bad of ["0m", "soon", "2025-01-01T00:00:00Z", "7 days", "-1h"]) {
    assert.throws(() => parseExpiry(bad, now), Error, bad);
  }
});

Deno.test("confined agent: config decisions", async (t) => {
  await t.step("the entry has no tools, no skills, its own workspace", () => {
    assert.deepEqual(confinedAgentEntry("/h/.openclaw"), {
      name: "ecto guest (confined: no tools, no skills)",
      workspace: "/h/.openclaw/workspace-ecto-guest",
      skills: [],
      tools: { profile: "minimal", deny: ["*"] },
    });
  });
  await t.step("agent ids and the owner's agent", () => {
    assert.deepEqual(agentIds({}), ["main"]);
    assert.equal(ownerAgentId({}), "main");
    const two = { agents: { entries: { home: {}, [CONFINED_AGENT_ID]: {} } } };
    assert.equal(ownerAgentId(two), "home");
    const fleet = {
      agents: { entries: { a: {}, b: {} }, defaults: { systemAgent: { agentId: "b" } } },
    };
    assert.equal(ownerAgentId(fleet), "b");
    assert.equal(ownerAgentId({ agents: { entries: { a: {}, b: {} } } }), undefined);
  });
  await t.step("machine tools of an agent", () => {
    assert.ok(machineToolsOf({}, "main").includes("exec"));
    const config = { agents: { entries: { [CONFINED_AGENT_ID]: confinedAgentEntry("/x") } } };
    assert.deepEqual(machineToolsOf(config, CONFINED_AGENT_ID), []);
    const ro = {
      agents: { entries: { fam: { tools: { deny: ["group:runtime", "write", "edit"] } } } },
    };
    assert.ok(!machineToolsOf(ro, "fam").includes("exec"));
    assert.ok(
      machineToolsOf(ro, "fam").includes("apply_patch"),
      "deny write does not deny apply_patch",
    );
  });
  await t.step("the consequence is said only when the roster becomes multi-agent", () => {
    assert.match(confinedAgentConsequence({})!, /openclaw\/default.*400|400.*openclaw\/default/s);
    assert.match(confinedAgentConsequence({})!, /openclaw\/main/);
    assert.equal(confinedAgentConsequence({ agents: { entries: { a: {}, b: {} } } }), undefined);
  });
  await t.step("what OpenClaw's writer added alongside is recorded for undo", () => {
    const after = {
      agents: { ownership: "explicit", defaults: { systemAgent: { agentId: "main" } } },
      talk: { agentId: "main" },
    };
    assert.deepEqual(insertedPaths({}, after).map((e) => e.path.join(".")), [
      "agents.ownership",
      "agents.defaults.systemAgent.agentId",
      "talk.agentId",
    ]);
    assert.deepEqual(insertedPaths(after, after), []);
  });
});
