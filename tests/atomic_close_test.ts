/**
 * The exit on Ctrl-C closes atomic writes: one that would start after the close is held, so a
 * step that finished one write and goes on to the next leaves no temp file behind. (Its own
 * file: the close lasts for the rest of the process.)
 */
import assert from "node:assert/strict";
import {
  atomicWritesSettled,
  closeAtomicWrites,
  writeFileAtomic,
} from "../lib/core/atomic_file.ts";

Deno.test("`closeAtomicWrites()` waits for the write in flight and starts none after it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-atomic-close-" });
  try {
    let second: Promise<void> | undefined;
    // A step that writes one file and then, in the same breath, the next.
    const step = writeFileAtomic(`${dir}/first`, "x".repeat(1 << 20)).then(() => {
      second = writeFileAtomic(`${dir}/second`, "y");
    });
    await closeAtomicWrites();
    await step;
    assert.ok(second, "the step went on to its next write");
    await atomicWritesSettled(); // nothing in flight: the second write never started
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["first"]);
    assert.equal((await Deno.stat(`${dir}/first`)).size, 1 << 20);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
