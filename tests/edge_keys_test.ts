import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { KeyStoreError } from "../lib/edge/errors.ts";
import {
  constantTimeEqual,
  generateKey,
  hashKey,
  KeyStore,
  looksLikeKey,
} from "../lib/edge/keys.ts";
import { FakeClock } from "./fixtures/edge/helpers.ts";
import { pollUntil } from "./harness/poll.ts";

async function tempStore(): Promise<AsyncDisposable & { dir: string; file: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ecto-keys-" });
  return {
    dir,
    file: `${dir}/state/keys.json`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("`KeyStore.create()` returns the key once and stores only its SHA-256", async () => {
  await using tmp = await tempStore();
  await using store = await KeyStore.open(tmp.file);
  const { id, key, record } = await store.create("laptop");
  assert.match(key, /^ecto_[0-9a-f]{64}$/);
  assert.ok(looksLikeKey(key));
  assert.match(id, /^k_[a-z0-9]{10}$/);
  assert.equal(record.name, "laptop");
  assert.equal(record.role, "client");
  const text = await Deno.readTextFile(tmp.file);
  assert.ok(!text.includes(key), "cleartext key not stored");
  assert.ok(!text.includes(key.slice(5, 15)), "no part of the key stored");
  const stored = JSON.parse(text);
  assert.equal(stored.keys[0].sha256, createHash("sha256").update(key).digest("hex"));
  assert.equal((await Deno.stat(tmp.file)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${tmp.dir}/state`)).mode! & 0o777, 0o700);
  const other = await store.create("phone");
  assert.notEqual(other.key, key);
  assert.notEqual(other.id, id);
});

Deno.test("`KeyStore.verify()` accepts live keys only", async (t) => {
  await using tmp = await tempStore();
  await using store = await KeyStore.open(tmp.file);
  const owner = await store.create("me", { role: "owner", limits: { maxConcurrent: 4 } });
  const client = await store.create("n8n");

  await t.step("good keys give their records", async () => {
    assert.equal((await store.verify(owner.key))?.id, owner.id);
    assert.deepEqual((await store.verify(owner.key))?.limits, { maxConcurrent: 4 });
    assert.equal((await store.verify(client.key))?.role, "client");
  });
  await t.step("wrong, malformed and near-miss keys give undefined", async () => {
    const nearMiss = client.key.slice(0, -1) + (client.key.endsWith("A") ? "B" : "A");
    for (
      const bad of [
        "",
        "ecto_",
        "ecto_short",
        nearMiss,
        client.key + "x",
        "Bearer x",
        "x".repeat(5000),
      ]
    ) {
      assert.equal(await store.verify(bad), undefined, bad.slice(0, 20));
    }
  });
  await t.step("a revoked key gives undefined at once in the same process", async () => {
    assert.equal((await store.revoke(client.id))?.id, client.id);
    assert.equal(await store.verify(client.key), undefined);
    assert.equal(await store.revoke(client.id), undefined);
  });
  await t.step("owner() and list()", async () => {
    assert.equal((await store.owner())?.id, owner.id);
    assert.deepEqual((await store.list()).map((k) => k.name), ["me"]);
  });
  await t.step("a second owner key is refused", async () => {
    await assert.rejects(
      store.create("again", { role: "owner" }),
      (e: unknown) => e instanceof KeyStoreError && e.code === "owner_key_exists",
    );
  });
  await t.step("names must be printable and short", async () => {
    for (const name of ["", "  ", "a".repeat(65), "bad\nname"]) {
      await assert.rejects(store.create(name), KeyStoreError);
    }
  });
});

Deno.test("`KeyStore` sees keys added and revoked by another process on the very next request", async (t) => {
  await using tmp = await tempStore();
  await using edge = await KeyStore.open(tmp.file);
  await using cli = await KeyStore.open(tmp.file);

  await t.step("a key created elsewhere works on the very next request", async () => {
    const created = await cli.create("new");
    assert.equal((await edge.verify(created.key))?.name, "new");
  });
  await t.step(
    "a key revoked elsewhere is refused on the very next request, 20 times of 20",
    async () => {
      for (let i = 0; i < 20; i++) {
        const k = await cli.create(`friend-${i}`);
        assert.ok(await edge.verify(k.key), `round ${i}: works before the revoke`);
        await cli.revoke(k.id);
        assert.equal(await edge.verify(k.key), undefined, `round ${i}: refused right after`);
      }
    },
  );
  await t.step(
    "a hit costs one synchronous stat and no re-read while the file is unchanged",
    async () => {
      const again = await cli.create("again");
      assert.ok(await edge.verify(again.key));
      const realStatSync = Deno.statSync;
      const realRead = Deno.readTextFile;
      let stats = 0;
      let reads = 0;
      Deno.statSync = ((path: string | URL) => {
        stats++;
        return realStatSync(path);
      }) as typeof Deno.statSync;
      Deno.readTextFile = ((...args: Parameters<typeof Deno.readTextFile>) => {
        reads++;
        return realRead(...args);
      }) as typeof Deno.readTextFile;
      try {
        for (let i = 0; i < 100; i++) assert.ok(await edge.verify(again.key));
        assert.equal(stats, 100);
        assert.equal(reads, 0);
      } finally {
        Deno.statSync = realStatSync;
        Deno.readTextFile = realRead;
      }
    },
  );
  await t.step("a deleted key file means no keys", async () => {
    const k = await cli.create("gone");
    assert.ok(await edge.verify(k.key));
    await Deno.remove(tmp.file);
    assert.equal(await edge.verify(k.key), undefined);
  });
});

Deno.test("`KeyStore` batches lastUsed and never undoes another process's revoke", async (t) => {
  await using tmp = await tempStore();
  const clock = new FakeClock();
  await using edge = await KeyStore.open(tmp.file, { now: clock.now, flushIntervalMs: 60_000 });
  const a = await edge.create("a");
  const b = await edge.create("b");

  await t.step("verifying does not write the file per request", async () => {
    const before = await Deno.stat(tmp.file);
    for (let i = 0; i < 50; i++) await edge.verify(a.key);
    const after = await Deno.stat(tmp.file);
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    const listed = await edge.list();
    assert.equal(listed.find((k) => k.id === a.id)?.lastUsed, new Date(clock.t).toISOString());
  });

  await t.step("flush() writes lastUsed", async () => {
    await edge.flush();
    const stored = JSON.parse(await Deno.readTextFile(tmp.file));
    assert.equal(
      stored.keys.find((k: { id: string }) => k.id === a.id).lastUsed,
      new Date(clock.t).toISOString(),
    );
  });

  await t.step("a flush after a revoke elsewhere keeps the key revoked", async () => {
    await edge.verify(b.key);
    await using cli = await KeyStore.open(tmp.file);
    await cli.revoke(b.id);
    await edge.flush();
    const stored = JSON.parse(await Deno.readTextFile(tmp.file));
    assert.deepEqual(stored.keys.map((k: { id: string }) => k.id), [a.id]);
  });

  await t.step("the flush timer writes on its own", async () => {
    await using quick = await KeyStore.open(tmp.file, { flushIntervalMs: 30 });
    await quick.verify(a.key);
    const before = JSON.parse(await Deno.readTextFile(tmp.file)).keys[0].lastUsed;
    const now = await pollUntil(async () => {
      const lastUsed = JSON.parse(await Deno.readTextFile(tmp.file)).keys[0].lastUsed;
      return lastUsed !== before && { lastUsed };
    }, { what: "the flush timer's write" });
    assert.notEqual(now.lastUsed, before);
  });
});

Deno.test("`KeyStore.open()` refuses an invalid key file; a later bad edit keeps the last good keys", async () => {
  await using tmp = await tempStore();
  await Deno.mkdir(`${tmp.dir}/state`, { recursive: true });
  await Deno.writeTextFile(tmp.file, "{ not json");
  await assert.rejects(KeyStore.open(tmp.file), KeyStoreError);
  await Deno.writeTextFile(tmp.file, JSON.stringify({ keys: [{ id: "x", role: "owner" }] }));
  await assert.rejects(KeyStore.open(tmp.file), KeyStoreError);
  await Deno.remove(tmp.file);

  const clock = new FakeClock();
  await using store = await KeyStore.open(tmp.file, { now: clock.now });
  const { key } = await store.create("ok");
  await Deno.writeTextFile(tmp.file, "{ broken");
  clock.advance(250);
  assert.ok(await store.verify(key), "old keys stay in force");
  assert.ok(store.lastReloadError instanceof KeyStoreError);
});

Deno.test("`constantTimeEqual()` compares whole values; `hashKey()` is SHA-256 hex (FIPS 180-4 vectors)", () => {
  assert.equal(constantTimeEqual("abc", "abc"), true);
  assert.equal(constantTimeEqual("abc", "abd"), false);
  assert.equal(constantTimeEqual("abc", "ab"), false);
  // Known answers, so the test does not compare node:crypto with itself.
  assert.equal(hashKey(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hashKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(
    hashKey("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  // UTF-8, not UTF-16: "é" is c3 a9.
  assert.equal(
    hashKey("é"),
    createHash("sha256").update(new Uint8Array([0xc3, 0xa9])).digest("hex"),
  );
});

Deno.test("`KeyStore.update()` merges limits over the key's own: a 0 removes one, none left removes them", async (t) => {
  await using tmp = await tempStore();
  await using store = await KeyStore.open(tmp.file);
  const { id } = await store.create("n8n", {
    agent: "main",
    limits: { requestsPerMinute: 30, burst: 5 },
    expires: "2030-01-01T00:00:00Z",
  });
  const stored = async () =>
    JSON.parse(await Deno.readTextFile(tmp.file)).keys.find((k: { id: string }) => k.id === id);
  await t.step("a new limit is added, a 0 removes one, the rest stay", async () => {
    const record = await store.update(id, { limits: { maxConcurrent: 2, burst: 0 } });
    assert.deepEqual(record?.limits, { requestsPerMinute: 30, maxConcurrent: 2 });
    assert.deepEqual((await stored()).limits, { requestsPerMinute: 30, maxConcurrent: 2 });
    assert.equal(record?.agent, "main", "what the edit leaves out stays");
  });
  await t.step("removing the last limits removes the field", async () => {
    const record = await store.update(id, { limits: { requestsPerMinute: 0, maxConcurrent: 0 } });
    assert.equal(record?.limits, undefined);
    assert.equal("limits" in (await stored()), false);
  });
  await t.step("an expiry is normalised to ISO 8601; null removes it", async () => {
    const later = await store.update(id, { expires: "2031-06-01T12:00:00+02:00" });
    assert.equal(later?.expires, "2031-06-01T10:00:00.000Z");
    const none = await store.update(id, { expires: null });
    assert.equal(none?.expires, undefined);
    assert.equal("expires" in (await stored()), false);
  });
  await t.step("an unknown id gives undefined and writes nothing", async () => {
    const before = await Deno.readTextFile(tmp.file);
    assert.equal(await store.update("k_nosuchkey0", { agent: "work" }), undefined);
    assert.equal(await Deno.readTextFile(tmp.file), before);
  });
  await t.step("a bad limit is refused before anything is written", async () => {
    const before = await Deno.readTextFile(tmp.file);
    await assert.rejects(
      store.update(id, { limits: { burst: 1.5 } }),
      (e: unknown) => e instanceof KeyStoreError && e.code === "invalid_limit",
    );
    assert.equal(await Deno.readTextFile(tmp.file), before);
  });
});

/**
 * OpenClaw 2026.9.6 masks agent-visible text where a run of exactly 40 `[A-Za-z0-9/+=]` stands
 * between delimiters (its AWS-secret rule). Recorded: these base64url keys came back from its
 * model-visible redaction as `ecto_x…xxxx` (103 of 20,000 such keys; 0 of 20,000 hex keys).
 */
const MASKED_BY_OPENCLAW = [
  "ecto_It-uXu8ZkTvZ9t7l61ko1M2U0ASGtUGvKetX8UMxnd0",
  "ecto_0Z-JUQf9Z18xGpAFVBlRlKC3ceJxIOooJX7OIJrVDdM",
  "ecto_5E-aMXplnqevUbmB0xv9vLst7wxAyG3Nn6oVBEIoK8k",
];
const hasFortyRun = (key: string) =>
  (key.match(/[A-Za-z0-9/+=]+/g) ?? []).some((run) => run.length === 40);

Deno.test("`generateKey()` makes keys OpenClaw's redaction never masks in the agent's chat", () => {
  for (const key of MASKED_BY_OPENCLAW) assert.ok(hasFortyRun(key), key);
  for (let i = 0; i < 2_000; i++) {
    const key = generateKey();
    assert.match(key, /^ecto_[0-9a-f]{64}$/);
    assert.ok(looksLikeKey(key));
    assert.ok(!hasFortyRun(key));
  }
});
