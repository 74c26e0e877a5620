/**
 * A friend's key end to end in the sandbox (tailscale double with its TLS
 * data plane, real OpenClaw gateway, stub LLM): `ecto connect`, then
 * `ecto keys add friend --share --max-requests-per-day 3`; the friend uses
 * exactly what the card says over HTTPS through Funnel, hits the budget,
 * and the owner sees it in `ecto usage` and `keys list`; `--purge` removes
 * the usage with the keys.
 */
import assert from "node:assert/strict";
import { funnelRequest } from "./tailscale_double/https_client.ts";
import { runEcto } from "./e2e/run_ecto.ts";
import { startSandbox } from "./e2e/sandbox.ts";
import { pollUntil } from "./harness/poll.ts";

Deno.test({
  name: "`ecto keys add --share`: the card works through Funnel, the budget holds, usage shows it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using sb = await startSandbox();
    await sb.tailscale.enableFunnel();
    const env = sb.env;
    const connect = await runEcto(["connect", "--json"], env);
    assert.equal(connect.code, 0, connect.stderr);

    const add = await runEcto(
      [
        "keys",
        "add",
        "friend",
        "--agent",
        "main",
        "--share",
        "--json",
        "--max-requests-per-day",
        "3",
      ],
      env,
    );
    assert.equal(add.code, 0, add.stderr);
    const card = JSON.parse(add.stdout);
    await t.step("the card names the published URL, the key, the model", () => {
      assert.equal(card.baseUrl, `${JSON.parse(connect.stdout).url}/v1`);
      assert.equal(card.model, "openclaw/main");
      assert.equal(card.shownOnce, true);
      assert.equal(card.env.OPENAI_BASE_URL, card.baseUrl);
      assert.ok(!add.stderr.includes(card.key));
    });

    const url = new URL(card.baseUrl);
    const caPem = await Deno.readTextFile(sb.tailscale.caFile);
    const chat = (extra: Record<string, unknown> = {}) =>
      funnelRequest({
        localPort: sb.tailscale.publicPorts[Number(url.port || 443)]!,
        hostname: sb.tailscale.dnsName,
        host: url.host,
        caPem,
        method: "POST",
        path: `${url.pathname}/chat/completions`,
        headers: { authorization: `Bearer ${card.key}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: card.model,
          messages: [{ role: "user", content: "Hello!" }],
          ...extra,
        }),
      });

    await t.step(
      "the friend's requests: JSON, a stream without a usage chunk, then 429",
      async () => {
        const first = await chat();
        assert.equal(first.status, 200, first.body);
        assert.equal(JSON.parse(first.body).choices[0].message.content, sb.stub.reply);
        const stream = await chat({ stream: true });
        assert.equal(stream.status, 200);
        assert.ok(stream.body.includes("data: [DONE]"), stream.body);
        assert.ok(!stream.body.includes('"usage"'), "the client did not ask for usage");
        assert.equal((await chat()).status, 200);
        const over = await chat();
        assert.equal(over.status, 429, over.body);
        assert.equal(JSON.parse(over.body).error.code, "budget_exceeded");
        assert.ok(Number(over.headers.get("retry-after")) > 0);
      },
    );

    await t.step("`ecto usage` and `keys list` show the friend's day (bounded poll)", async () => {
      const row = await pollUntil(async () => {
        const run = await runEcto(["usage", "--key", "friend", "--json"], env);
        assert.equal(run.code, 0, run.stderr);
        const row = JSON.parse(run.stdout).usage[0] as Record<string, number> | undefined;
        return row?.requests === 3 && row.refused === 1 && row;
      }, { timeoutMs: 60_000, intervalMs: 100, what: "3 requests and 1 refusal in `ecto usage`" });
      assert.equal(row?.requests, 3);
      assert.equal(row?.refused, 1);
      assert.equal(row?.promptTokens, 3);
      assert.equal(row?.completionTokens, 3);
      const list = await runEcto(["keys", "list"], env);
      assert.match(list.stdout, /friend .* today 3\/3 req 6 tok/);
    });

    await t.step("`disconnect --purge` deletes usage.db with the keys", async () => {
      const run = await runEcto(["disconnect", "--purge", "--yes", "--json"], env);
      assert.equal(run.code, 0, run.stderr);
      await assert.rejects(Deno.stat(`${env.ECTO_STATE_DIR}/usage.db`));
    });
  },
});
