/**
 * The exit on Ctrl-C waits for a section that must not be cut in half (spawning the edge and
 * writing its pidfile), including the write inside it that starts after the exit began. (Its
 * own file: the close lasts for the rest of the process.)
 */
import assert from "node:assert/strict";
import { closeAtomicWrites, exitWaitsFor, writeFileAtomic } from "../lib/core/atomic_file.ts";

Deno.test("`closeAtomicWrites()` waits for an `exitWaitsFor()` section and the write inside it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-exit-guard-" });
  try {
    let spawned!: () => void;
    const spawn = new Promise<void>((resolve) => spawned = resolve);
    // The edge's start: the spawn takes a while, then the pidfile is written.
    const section = exitWaitsFor(async () => {
      await spawn;
      await writeFileAtomic(`${dir}/edge.pid`, "4242");
      return 4242;
    });
    let pidfileAtExit: string[] | undefined;
    const closing = closeAtomicWrites().then(() => {
      pidfileAtExit = [...Deno.readDirSync(dir)].map((e) => e.name);
    });
    spawned(); // the spawn returns after Ctrl-C: its pidfile is still written before the exit
    await closing;
    assert.deepEqual(pidfileAtExit, ["edge.pid"]);
    assert.equal(await section, 4242);
    assert.equal(await Deno.readTextFile(`${dir}/edge.pid`), "4242");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
