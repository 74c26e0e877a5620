/**
 * Keys that confine, against the real OpenClaw gateway: the stub LLM records
 * every request the gateway makes, so `body.tools` shows exactly which tools
 * the gateway offered the model for a key's request. One gateway of its own
 * (the test adds and removes ecto's confined agent in its config).
 */
import assert from "node:assert/strict";
import { build$ } from "dax";
import { startGateway } from "./harness/gateway.ts";
import { startStubLlm } from "./harness/stub_llm.ts";
import { createEdgeHandler } from "../lib/edge/handler.ts";
import { KeyStore } from "../lib/edge/keys.ts";
import { serveEdge } from "../lib/edge/serve.ts";
import { createConfigTokenSource } from "../lib/edge/token_source.ts";
import { readOpenClawConfig } from "../lib/openclaw/config.ts";
import {
  addConfinedAgent,
  CONFINED_AGENT_ID,
  type ConfinedAgentDeps,
  MACHINE_TOOLS,
  removeConfinedAgent,
} from "../lib/openclaw/confined_agent.ts";
import { revokeKey } from "../lib/edge/keys_admin.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { pollUntil } from "./harness/poll.ts";

type Recorded = { path: string; body: unknown };

function toolsOf(request: Recorded): string[] {
  const tools = (request.body as { tools?: Array<{ function?: { name?: string }; name?: string }> })
    ?.tools ?? [];
  return tools.map((t) => t.function?.name ?? t.name ?? "?").sort();
}

function transcript(request: Recorded): string {
  return JSON.stringify((request.body as { messages?: unknown })?.messages ?? []);
}

Deno.test({
  name: "client keys reach only ecto's confined agent (no tools) and their own sessions",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await using stub = await startStubLlm();
  await using gateway = await startGateway({ stubUrl: stub.url });
  const dir = await Deno.makeTempDir({ prefix: "ecto-confine-" });
  const env = gateway.env();
  const lookup = (name: string) => env[name];
  const deps: ConfinedAgentDeps = {
    $: build$({}),
    env: lookup,
    cli: { bin: gateway.openclawBin, source: "given" },
    readConfig: async () => (await readOpenClawConfig(gateway.configPath)).config,
    recordPath: `${dir}/confined-agent.json`,
    now: Date.now,
  };
  const direct = (model: string) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.token}`, "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    });
  try {
    await t.step(
      "adding the confined agent: live, and direct openclaw/default gets 400",
      async () => {
        assert.equal((await direct("openclaw/default")).status, 200);
        assert.equal(
          await addConfinedAgent(deps, {
            configPath: gateway.configPath,
            openclawStateDir: gateway.stateDir,
          }),
          true,
        );
        // Hot-applied: bounded poll for the new agent in the model list.
        const listed = await pollUntil(async () => {
          const res = await fetch(`${gateway.url}/v1/models`, {
            headers: { authorization: `Bearer ${gateway.token}` },
          });
          return (await res.text()).includes(`"openclaw/${CONFINED_AGENT_ID}"`);
        }, { timeoutMs: 120_000, intervalMs: 100, what: "the confined agent in /v1/models" });
        assert.ok(listed, "the gateway lists the confined agent");
        // What ecto tells the owner before adding it (OpenClaw 2026.9.6 has no way to keep it).
        const res = await direct("openclaw/default");
        assert.equal(res.status, 400);
        assert.match((await res.json()).error.message, /Multiple agents are configured/);
      },
    );

    await using store = await KeyStore.open(`${dir}/keys.json`);
    const owner = await store.create("owner", { role: "owner", agent: "main" });
    // Limits out of the way: 45 requests in a row would pass a client key's burst of 30 on a
    // fast machine, and this test is about confinement, not rate limits.
    const friend = await store.create("friend", {
      agent: CONFINED_AGENT_ID,
      limits: { requestsPerMinute: 6000, burst: 1000 },
    });
    const other = await store.create("other", { agent: CONFINED_AGENT_ID });
    await using edge = serveEdge({
      handler: createEdgeHandler({
        upstream: gateway.url,
        keys: store,
        tokenSource: createConfigTokenSource(gateway.configPath, { env: () => undefined }),
        enableResponses: true,
        // 20 revoked keys from one loopback address would otherwise lock it out (as they should).
        failedAuth: { maxFailures: 1000 },
      }),
      port: 0,
    });
    const chat = async (
      key: string,
      body: Record<string, unknown>,
      headers: Record<string, string> = {},
    ) => {
      const before = stub.requests.length;
      const res = await fetch(`${edge.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
      const answer = await res.json();
      const seen = stub.requests.slice(before).filter((r) => r.path.endsWith("/chat/completions"));
      return { status: res.status, answer, seen };
    };
    const hi = [{ role: "user", content: "hi" }];

    let ownerTools: string[] = [];
    await t.step("the owner key's request is offered the owner agent's machine tools", async () => {
      const { status, seen } = await chat(owner.key, { model: "openclaw/default", messages: hi });
      assert.equal(status, 200);
      ownerTools = toolsOf(seen[0]);
      assert.ok(ownerTools.includes("exec"), ownerTools.join(","));
      // deno-lint-ignore no-console -- the measured figures for the closing note
      console.log(`owner key: tools offered = ${JSON.stringify(ownerTools)}`);
    });

    await t.step(
      "a client key: no model spelling or forged x-openclaw-* header reaches a tool",
      async () => {
        const models = [
          undefined,
          "openclaw",
          "openclaw/default",
          `openclaw/${CONFINED_AGENT_ID}`,
          "openclaw/main",
          "openclaw:main",
          "agent:main",
          "OpenClaw/Main",
          " openclaw/main ",
        ];
        const forged: Record<string, string>[] = [
          {},
          { "x-openclaw-agent-id": "main" },
          { "x-openclaw-agent": "main" },
          { "x-openclaw-session-key": "agent:main:main" },
          { "x-openclaw-model": "stub/stub-model", "x-openclaw-scopes": "operator.admin" },
        ];
        const offered = new Set<string>();
        let answered = 0;
        for (const model of models) {
          for (const headers of forged) {
            const body = { ...(model === undefined ? {} : { model }), messages: hi };
            const { status, answer, seen } = await chat(friend.key, body, headers);
            const label = `${JSON.stringify(model)} ${JSON.stringify(headers)}`;
            if (model !== undefined && /main/i.test(model)) {
              assert.equal(status, 403, label);
              assert.equal(answer.error.code, "agent_not_allowed", label);
              assert.equal(seen.length, 0, label);
            } else {
              assert.equal(status, 200, `${label}: ${JSON.stringify(answer)}`);
              answered++;
            }
            for (const r of seen) for (const tool of toolsOf(r)) offered.add(tool);
          }
        }
        assert.ok(answered >= 15);
        const machine = [...offered].filter((tool) => MACHINE_TOOLS.includes(tool));
        assert.deepEqual(machine, []);
        // deno-lint-ignore no-console -- the measured figures for the closing note
        console.log(`client key: tools offered = ${JSON.stringify([...offered].sort())}`);
      },
    );

    await t.step(
      "a client key cannot see the owner's conversation with the same user",
      async () => {
        const secret = "OWNER-SECRET-PINEAPPLE";
        const mine = await chat(owner.key, {
          model: "openclaw/main",
          user: "shared",
          messages: [{ role: "user", content: `remember ${secret}` }],
        });
        assert.equal(mine.status, 200);
        // the owner's own next turn does carry it (so the check below can fail)
        const again = await chat(owner.key, { user: "shared", messages: hi });
        assert.ok(transcript(again.seen[0]).includes(secret));
        const friendTurn = await chat(friend.key, { user: "shared", messages: hi });
        assert.equal(friendTurn.status, 200);
        assert.ok(!transcript(friendTurn.seen[0]).includes(secret));
        // ...nor another client key's
        const f2 = await chat(friend.key, {
          user: "pair",
          messages: [{ role: "user", content: "FRIEND-SECRET-KIWI" }],
        });
        assert.equal(f2.status, 200);
        const o2 = await chat(other.key, { user: "pair", messages: hi });
        assert.ok(!transcript(o2.seen[0]).includes("FRIEND-SECRET-KIWI"));
        const f3 = await chat(friend.key, { user: "pair", messages: hi });
        assert.ok(transcript(f3.seen[0]).includes("FRIEND-SECRET-KIWI"), "a key keeps its own");
      },
    );

    await t.step("/v1/models lists only the key's agent; other agents' ids are 404", async () => {
      const ids = async (key: string) =>
        ((await (await fetch(`${edge.url}/v1/models`, {
          headers: { authorization: `Bearer ${key}` },
        })).json()).data as Array<{ id: string }>).map((m) => m.id);
      assert.deepEqual(await ids(friend.key), [
        "openclaw",
        "openclaw/default",
        `openclaw/${CONFINED_AGENT_ID}`,
      ]);
      assert.deepEqual(await ids(owner.key), ["openclaw", "openclaw/default", "openclaw/main"]);
      const res = await fetch(`${edge.url}/v1/models/openclaw%2Fmain`, {
        headers: { authorization: `Bearer ${friend.key}` },
      });
      assert.equal(res.status, 404);
      await res.body?.cancel();
    });

    await t.step("/v1/responses is the owner's only", async () => {
      const res = await fetch(`${edge.url}/v1/responses`, {
        method: "POST",
        headers: { authorization: `Bearer ${friend.key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "openclaw/default", input: "hi" }),
      });
      assert.equal(res.status, 403);
      assert.equal((await res.json()).error.code, "endpoint_not_allowed");
    });

    await t.step(
      "expiry edited by another process: 401 key_expired on the next request",
      async () => {
        assert.equal((await chat(other.key, { messages: hi })).status, 200);
        await using cli = await KeyStore.open(`${dir}/keys.json`);
        await cli.update(other.id, { expires: new Date(Date.now() - 1000).toISOString() });
        const { status, answer } = await chat(other.key, { messages: hi });
        assert.equal(status, 401);
        assert.equal(answer.error.code, "key_expired");
      },
    );

    await t.step("revoked by `revokeKey()`: 401 on the very next request, 20 of 20", async () => {
      const paths = ectoPaths((
        name,
      ) => (name === "ECTO_STATE_DIR" ? dir : name === "HOME" ? dir : undefined));
      const untilRefused: number[] = [];
      for (let round = 0; round < 20; round++) {
        const k = await store.create(`r${round}`, { agent: CONFINED_AGENT_ID });
        const ok = await fetch(`${edge.url}/v1/models`, {
          headers: { authorization: `Bearer ${k.key}` },
        });
        assert.equal(ok.status, 200);
        await ok.body?.cancel();
        await revokeKey(paths, k.id);
        let n = 0;
        for (;;) {
          n++;
          const res = await fetch(`${edge.url}/v1/models`, {
            headers: { authorization: `Bearer ${k.key}` },
          });
          await res.body?.cancel();
          if (res.status === 401 || n >= 50) break;
        }
        untilRefused.push(n);
      }
      // deno-lint-ignore no-console -- the measured figures for the closing note
      console.log(`requests until 401 after revoke, 20 rounds: ${JSON.stringify(untilRefused)}`);
      assert.deepEqual(untilRefused, Array(20).fill(1));
    });

    await t.step("purge: the agent goes, and direct openclaw/default works again", async () => {
      const said = await removeConfinedAgent(deps);
      assert.match(said ?? "", new RegExp(`Removed ecto's agent "${CONFINED_AGENT_ID}"`));
      const config = (await readOpenClawConfig(gateway.configPath)).config as {
        agents?: { entries?: Record<string, unknown>; ownership?: string };
      };
      assert.equal(config.agents?.entries?.[CONFINED_AGENT_ID], undefined);
      assert.equal(config.agents?.ownership, undefined);
      const status = await pollUntil(async () => {
        const res = await direct("openclaw/default");
        await res.body?.cancel();
        return res.status === 200 && res.status;
      }, { timeoutMs: 120_000, intervalMs: 100, what: "openclaw/default answering 200 again" });
      assert.equal(status, 200);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
