import assert from "node:assert/strict";
import { atomicWritesSettled, writeFileAtomic } from "../lib/core/atomic_file.ts";

Deno.test("`atomicWritesSettled()` resolves only once every write in flight is renamed into place", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-atomic-" });
  try {
    await atomicWritesSettled(); // nothing in flight: at once
    const writes = [1, 2, 3].map((n) => writeFileAtomic(`${dir}/f${n}`, "x".repeat(1 << 20)));
    await atomicWritesSettled();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["f1", "f2", "f3"]); // no `.tmp` left, every file complete
    for (const name of names) assert.equal((await Deno.stat(`${dir}/${name}`)).size, 1 << 20);
    await Promise.all(writes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
