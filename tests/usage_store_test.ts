/**
 * The usage database (`node:sqlite`, WAL): batches add up per key and day,
 * files are 0600, readers work while the writer is open, and a writer killed
 * mid-transaction leaves the last committed batch and a sound file.
 */
import assert from "node:assert/strict";
import { UsageStore } from "../lib/usage/store.ts";

const delta = (keyId: string, day: string, requests: number, tokens = 0) => ({
  keyId,
  keyName: keyId.slice(2),
  day,
  requests,
  promptTokens: tokens,
  completionTokens: tokens * 2,
  errors: 0,
  refused: 1,
  bytesIn: 10,
  bytesOut: 20,
  lastUsed: `${day}T10:00:00.000Z`,
});

Deno.test("`UsageStore` adds batches per key and day; readers see them while the writer is open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-usage-db-" });
  try {
    const path = `${dir}/state/usage.db`;
    assert.equal(UsageStore.openReader(path), undefined, "no database yet: nothing recorded");
    using writer = await UsageStore.openWriter(path);
    writer.add([delta("k_a", "2026-12-01", 2, 3), delta("k_b", "2026-12-01", 1)]);
    writer.add([delta("k_a", "2026-12-01", 1, 1), delta("k_a", "2026-12-02", 4)]);
    using reader = UsageStore.openReader(path)!;
    const rows = reader.rows();
    assert.deepEqual(
      rows.map((r) => [r.keyId, r.day, r.requests, r.promptTokens, r.completionTokens, r.refused]),
      [
        ["k_a", "2026-12-01", 3, 4, 8, 2],
        ["k_b", "2026-12-01", 1, 0, 0, 1],
        ["k_a", "2026-12-02", 4, 0, 0, 1],
      ],
    );
    assert.deepEqual(reader.rows({ since: "2026-12-02" }).map((r) => r.keyId), ["k_a"]);
    assert.deepEqual(reader.rows({ keyId: "k_b" }).length, 1);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600, file);
    }
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    assert.throws(() => reader.add([delta("k_a", "2026-12-01", 1)]), /read-only/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`UsageStore.openReader()` on a file that is not a usage database: one clear error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-usage-db-" });
  try {
    await Deno.writeTextFile(`${dir}/usage.db`, "not sqlite at all, just text\n".repeat(20));
    assert.throws(
      () => UsageStore.openReader(`${dir}/usage.db`),
      (e: Error) => /usage database .* cannot be read/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a writer killed with SIGKILL mid-transaction: the committed batch stays, the file is sound", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-usage-crash-" });
  try {
    const path = `${dir}/usage.db`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        new URL("./fixtures/edge/usage_crash_writer.ts", import.meta.url).pathname,
        path,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("in-transaction\n")) {
      const { done, value } = await reader.read();
      if (done) break;
      seen += value;
    }
    assert.match(seen, /in-transaction/);
    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    await reader.cancel();

    using after = UsageStore.openReader(path)!;
    assert.deepEqual(after.rows().map((r) => [r.keyId, r.requests]), [["k_crash", 5]]);
    after.close();
    // The writer recovers the WAL and goes on adding.
    using writer = await UsageStore.openWriter(path);
    writer.add([delta("k_crash", "2026-12-01", 1)]);
    assert.equal(writer.rows()[0].requests, 6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
