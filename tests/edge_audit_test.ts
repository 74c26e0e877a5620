import assert from "node:assert/strict";
import { AuditLog, auditPath, type AuditRecord } from "../lib/edge/audit.ts";
import { pollUntil } from "./harness/poll.ts";

function record(i: number): AuditRecord {
  return {
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    keyId: "k_abc",
    keyName: "laptop",
    client: "203.0.113.7",
    method: "POST",
    path: "/v1/chat/completions",
    status: 200,
    bytesIn: 10,
    bytes: 100 + i,
    durationMs: 5,
    streamed: true,
  };
}

Deno.test("`AuditLog` writes JSON lines off the hot path, 0600 in a 0700 dir", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-audit-" });
  try {
    const path = `${dir}/state/audit.log`;
    await using log = await AuditLog.open(path, { flushDelayMs: 10_000 });
    log.sink(record(1));
    log.sink(record(2));
    assert.equal(await Deno.readTextFile(path), "", "nothing written synchronously");
    await log.flush();
    const lines = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [record(1), record(2)]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`AuditLog` flushes on its own timer and appends across opens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-audit-" });
  try {
    const path = `${dir}/audit.log`;
    {
      await using log = await AuditLog.open(path, { flushDelayMs: 20 });
      log.sink(record(1));
      await pollUntil(async () => (await Deno.readTextFile(path)) !== "", {
        what: "the audit log's own flush",
      });
    }
    {
      await using log = await AuditLog.open(path);
      log.sink(record(2));
    }
    assert.equal((await Deno.readTextFile(path)).trim().split("\n").length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`AuditLog` rotates by size and keeps the configured number of files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-audit-" });
  try {
    const path = `${dir}/audit.log`;
    await using log = await AuditLog.open(path, { maxBytes: 1000, files: 3 });
    for (let i = 0; i < 60; i++) {
      log.sink(record(i));
      await log.flush();
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["audit.log", "audit.log.1", "audit.log.2"]);
    for (const name of names) {
      const size = (await Deno.stat(`${dir}/${name}`)).size;
      assert.ok(size <= 1000, `${name} is ${size} bytes`);
      assert.equal((await Deno.stat(`${dir}/${name}`)).mode! & 0o777, 0o600);
    }
    const newest = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(newest.at(-1).bytes, 159);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`auditPath()` drops the query, truncates, redacts anything key-shaped", () => {
  assert.equal(auditPath("/v1/models?api_key=ecto_abcdefghijklmnop"), "/v1/models");
  assert.equal(auditPath("/x/ecto_abcdefghijklmnopqrstuvwxyz/y"), "/x/ecto_[redacted]/y");
  assert.equal(auditPath("/" + "a".repeat(500)).length, 201);
  assert.equal(auditPath("/v1/models#x"), "/v1/models");
});
