/**
 * The share card `ecto keys add NAME --share` prints: every piece a friend
 * needs, the QR code only on a terminal, and without a connection the key
 * with the reason the rest is missing. Base URL from ecto's connection state.
 */
import assert from "node:assert/strict";
import { buildShareCard, publishedBaseUrl } from "../lib/edge/share_card.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { renderShareCard } from "../lib/cli/render.ts";

const KEY = "ecto_" + "K".repeat(43);
const created = {
  id: "k_friend1234",
  key: KEY,
  record: {
    id: "k_friend1234",
    name: "alice",
    role: "client" as const,
    created: "2026-12-01T00:00:00.000Z",
    agent: "ecto-guest",
    limits: { maxTokensPerDay: 50_000, maxRequestsPerDay: 200 },
  },
};
const BASE = "https://box.tail1234.ts.net/v1";

Deno.test("`buildShareCard()` holds base URL, key, model, curl, exports, Python and JavaScript", () => {
  const card = buildShareCard(created, "ecto-guest", { baseUrl: BASE, private: false });
  assert.equal(card.baseUrl, BASE);
  assert.equal(card.model, "openclaw/ecto-guest");
  assert.equal(card.shownOnce, true);
  assert.deepEqual(card.env, { OPENAI_BASE_URL: BASE, OPENAI_API_KEY: KEY });
  assert.deepEqual(card.budget, { maxRequestsPerDay: 200, maxTokensPerDay: 50_000 });
  assert.equal(
    card.curl,
    `curl ${BASE}/chat/completions -H "Authorization: Bearer ${KEY}" -H "Content-Type: application/json" -d '{"model":"openclaw/ecto-guest","messages":[{"role":"user","content":"Hello!"}]}'`,
  );
  assert.match(card.python!, /^from openai import OpenAI\n/);
  assert.ok(card.python!.includes(`OpenAI(base_url="${BASE}", api_key="${KEY}")`));
  assert.match(card.javascript!, /^import OpenAI from "openai";\n/);
  assert.ok(card.javascript!.includes(`new OpenAI({ baseURL: "${BASE}", apiKey: "${KEY}" })`));
  assert.deepEqual(JSON.parse(card.qr!), {
    baseUrl: BASE,
    apiKey: KEY,
    model: "openclaw/ecto-guest",
  });
});

Deno.test("`renderShareCard()` says the key is shown once; QR only on a terminal", () => {
  const card = buildShareCard(created, "ecto-guest", { baseUrl: BASE, private: false });
  const plain = renderShareCard(card, { colour: false, terminal: false });
  assert.match(plain, /This key is shown once/);
  assert.match(plain, /Base URL {2}https:\/\/box\.tail1234\.ts\.net\/v1/);
  assert.match(plain, new RegExp(`API key {3}${KEY}`));
  assert.match(plain, /Model {5}openclaw\/ecto-guest/);
  assert.match(plain, /Budget {4}200 requests, 50000 tokens per UTC day/);
  assert.match(plain, /export OPENAI_BASE_URL=https:\/\/box\.tail1234\.ts\.net\/v1\n/);
  assert.match(plain, new RegExp(`export OPENAI_API_KEY=${KEY}\n`));
  assert.match(plain, /Python \(pip install openai\):/);
  assert.match(plain, /JavaScript \(npm install openai\):/);
  assert.ok(!plain.includes("▀") && !plain.includes("█"), "no QR off a terminal");
  const tty = renderShareCard(card, { colour: false, terminal: true });
  assert.match(tty, /Scan with the Ecto app/);
  assert.ok(/[▀▄█]/.test(tty), "a QR code on a terminal");
});

Deno.test("a private-mode card says the URL works only in the owner's tailnet", () => {
  const card = buildShareCard(created, "ecto-guest", { baseUrl: BASE, private: true });
  assert.equal(card.tailnetOnly, true);
  assert.match(card.note, /works only on devices in your tailnet/);
  const text = renderShareCard(card, { colour: false, terminal: false });
  assert.match(text, /works only on devices in your tailnet/);
  const publicCard = buildShareCard(created, "ecto-guest", { baseUrl: BASE, private: false });
  assert.equal(publicCard.tailnetOnly, undefined);
  assert.doesNotMatch(publicCard.note, /tailnet/);
});

Deno.test("without a connection the card shows the key and says `ecto connect` comes first", () => {
  const card = buildShareCard(created, "ecto-guest", undefined);
  assert.equal(card.baseUrl, null);
  assert.equal(card.curl, undefined);
  assert.match(card.missing!, /ecto connect/);
  const text = renderShareCard(card, { colour: false, terminal: true });
  assert.ok(text.includes(KEY));
  assert.match(text, /This key is shown once/);
  assert.match(text, /The share card needs the public URL: run `ecto connect` first\./);
  assert.ok(!text.includes("Scan with"));
});

Deno.test("`publishedBaseUrl()` reads the credentials file, else the connection record", async () => {
  const home = await Deno.makeTempDir({ prefix: "ecto-share-" });
  try {
    const paths = ectoPaths((n) => ({ HOME: home } as Record<string, string>)[n]);
    assert.equal(await publishedBaseUrl(paths), undefined);
    await Deno.mkdir(paths.stateDir, { recursive: true });
    await Deno.writeTextFile(
      paths.connectionFile,
      JSON.stringify({ dnsName: "box.tail1234.ts.net.", funnelPort: 8443 }),
    );
    assert.deepEqual(await publishedBaseUrl(paths), {
      baseUrl: "https://box.tail1234.ts.net:8443/v1",
      private: false,
    });
    await Deno.mkdir(`${home}/.openclaw`, { recursive: true });
    await Deno.writeTextFile(
      paths.credentialsFile,
      JSON.stringify({ token: "ecto_x", url: "https://box.tail1234.ts.net/", port: 18789 }),
    );
    assert.deepEqual(await publishedBaseUrl(paths), {
      baseUrl: "https://box.tail1234.ts.net/v1",
      private: false,
    });
    await Deno.writeTextFile(
      paths.credentialsFile,
      JSON.stringify({
        token: "ecto_x",
        url: "https://box.tail1234.ts.net/",
        port: 18789,
        mode: "private",
      }),
    );
    assert.deepEqual(await publishedBaseUrl(paths), {
      baseUrl: "https://box.tail1234.ts.net/v1",
      private: true,
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
