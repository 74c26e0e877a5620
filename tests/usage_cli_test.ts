/**
 * `ecto keys add --share`, budgets on `keys add|edit|set`, `ecto usage` and
 * `keys list` today's totals, end to end under the binary's permission set.
 * The usage database is written by a writer that stays open, as a running
 * edge's does, so the reads happen beside a live writer.
 */
import assert from "node:assert/strict";
import { runEcto } from "./e2e/run_ecto.ts";
import { utcDay, utcDayBefore } from "../lib/usage/budget.ts";
import { UsageStore } from "../lib/usage/store.ts";

async function sandbox(): Promise<AsyncDisposable & { home: string; env: Record<string, string> }> {
  const home = await Deno.makeTempDir({ prefix: "ecto-usage-cli-" });
  await Deno.mkdir(`${home}/.openclaw`, { mode: 0o700 });
  await Deno.writeTextFile(
    `${home}/.openclaw/openclaw.json`,
    `{ agents: { entries: { main: {}, family: { tools: { deny: ["*"] } } } } }`,
  );
  const pass: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (/^(DENO_DIR|DENO_CERT|SSL_CERT_FILE|SSL_CERT_DIR)$/i.test(name)) pass[name] = value;
  }
  pass.DENO_DIR ??= `${Deno.env.get("HOME")}/${
    Deno.build.os === "darwin" ? "Library/Caches/deno" : ".cache/deno"
  }`;
  return {
    home,
    env: { ...pass, HOME: home, PATH: "/usr/bin:/bin", ECTO_STATE_DIR: `${home}/.ecto` },
    [Symbol.asyncDispose]: () => Deno.remove(home, { recursive: true }),
  };
}

Deno.test("`ecto keys add --share`: the card without a connection, then with one; budgets stored", async () => {
  await using sb = await sandbox();
  const early = await runEcto(
    ["keys", "add", "bob", "--agent", "family", "--share", "--max-tokens-per-day", "100"],
    sb.env,
  );
  assert.equal(early.code, 0, early.stderr);
  assert.match(early.stdout, /This key is shown once/);
  assert.match(early.stdout, /API key {3}ecto_[0-9a-f]{64}\n/);
  assert.match(early.stdout, /run `ecto connect` first/);
  assert.match(early.stdout, /Budget {4}100 tokens per UTC day/);

  await Deno.writeTextFile(
    `${sb.home}/.openclaw/ecto-credentials.json`,
    JSON.stringify({ token: "ecto_owner", url: "https://box.tail1234.ts.net", port: 18789 }),
  );
  const json = await runEcto(
    [
      "keys",
      "add",
      "alice",
      "--agent",
      "family",
      "--share",
      "--json",
      "--max-requests-per-day",
      "5",
    ],
    sb.env,
  );
  assert.equal(json.code, 0, json.stderr);
  const card = JSON.parse(json.stdout);
  assert.equal(card.baseUrl, "https://box.tail1234.ts.net/v1");
  assert.equal(card.model, "openclaw/family");
  assert.equal(card.shownOnce, true);
  assert.equal(card.env.OPENAI_API_KEY, card.key);
  assert.deepEqual(card.budget, { maxRequestsPerDay: 5 });
  assert.ok(card.curl.includes(card.key) && card.python.includes(card.key));
  assert.ok(!json.stderr.includes(card.key), "the key only on stdout");

  const set = await runEcto(
    ["keys", "set", "alice", "--max-tokens-per-day", "900", "--json"],
    sb.env,
  );
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual(JSON.parse(set.stdout).key.limits, {
    maxRequestsPerDay: 5,
    maxTokensPerDay: 900,
  });
  const cleared = await runEcto(["keys", "edit", card.id, "--max-requests-per-day", "0"], sb.env);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.match(cleared.stdout, /budget 900 tokens per UTC day/);

  await runEcto(["keys", "add", "bob", "--agent", "family"], sb.env);
  const ambiguous = await runEcto(["keys", "edit", "bob", "--max-tokens-per-day", "1"], sb.env);
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /2 keys are named "bob"/);
  const none = await runEcto(["keys", "set", "nobody", "--max-tokens-per-day", "1"], sb.env);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no key with id or name "nobody"/);
});

Deno.test("`ecto usage` and `keys list` read usage.db while its writer is open", async () => {
  await using sb = await sandbox();
  const add = await runEcto(
    ["keys", "add", "carol", "--agent", "family", "--json", "--max-requests-per-day", "10"],
    sb.env,
  );
  assert.equal(add.code, 0, add.stderr);
  const id = JSON.parse(add.stdout).id;
  const today = utcDay(Date.now());
  const old = utcDayBefore(Date.now(), 3);
  using writer = await UsageStore.openWriter(`${sb.home}/.ecto/usage.db`);
  const row = (day: string, requests: number) => ({
    keyId: id,
    keyName: "carol",
    day,
    requests,
    promptTokens: requests * 10,
    completionTokens: requests * 5,
    errors: 1,
    refused: 0,
    bytesIn: 100,
    bytesOut: 2048,
    lastUsed: `${day}T08:00:00.000Z`,
  });
  writer.add([row(old, 2), row(today, 3)]);
  writer.add([{ ...row(old, 1), keyId: "k_gone", keyName: "revoked-one" }]);

  const all = await runEcto(["usage", "--json"], sb.env);
  assert.equal(all.code, 0, all.stderr);
  const usage = JSON.parse(all.stdout).usage;
  assert.deepEqual(
    usage.map((
      r: { day: string; keyId: string; requests: number },
    ) => [r.day, r.keyId, r.requests]),
    // by day, then key id (ids are random: either may sort first)
    [...[[old, "k_gone", 1], [old, id, 2]].sort((a, b) => a[1] < b[1] ? -1 : 1), [today, id, 3]],
  );

  const mine = await runEcto(["usage", "--key", "carol", "--since", "today", "--json"], sb.env);
  assert.deepEqual(JSON.parse(mine.stdout).usage.map((r: { requests: number }) => r.requests), [3]);

  const table = await runEcto(["usage", "--since", "7d"], sb.env);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^day\s+key\s+name\s+requests\s+prompt\s+completion\s+errors/);
  assert.match(table.stdout, new RegExp(`${today}\\s+${id}\\s+carol\\s+3\\s+30\\s+15\\s+1\\s+0`));
  assert.match(table.stdout, /\ntotal\s+6\s+60\s+30\s+3\s+0/);

  const list = await runEcto(["keys", "list"], sb.env);
  assert.match(list.stdout, /carol .* last used \d{4}-\d{2}-\d{2} 08:00\s+today 3\/10 req 45 tok/);
  const listJson = JSON.parse((await runEcto(["keys", "list", "--json"], sb.env)).stdout);
  const carol = listJson.keys.find((k: { id: string }) => k.id === id);
  assert.equal(carol.today.requests, 3);
  assert.equal(carol.today.promptTokens, 30);
});
