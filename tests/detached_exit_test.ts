/**
 * Ctrl-C while connect starts the detached edge: the exit waits until the edge's pidfile is
 * written, so an interrupted connect never leaves an edge nobody recorded (which would hold its
 * port against the re-run). (Its own file: the close lasts for the rest of the process.)
 */
import assert from "node:assert/strict";
import { build$ } from "dax";
import { closeAtomicWrites } from "../lib/core/atomic_file.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { edgeServiceSpec, installEdgeService, type ServiceDeps } from "../lib/service/mod.ts";
import { pollUntil } from "./harness/poll.ts";

Deno.test("Ctrl-C during the detached edge's start exits only once its pidfile is written", async () => {
  const home = await Deno.makeTempDir({ prefix: "ecto-detached-exit-" });
  try {
    const vars: Record<string, string> = { HOME: home, ECTO_STATE_DIR: `${home}/.ecto` };
    const paths = ectoPaths((name) => vars[name]);
    const spec = edgeServiceSpec(paths, ["/usr/local/bin/ecto", "edge", "run"]);
    let spawning = false;
    let spawned!: () => void;
    const spawn = new Promise<void>((resolve) => spawned = resolve);
    // `sh -c … &; echo $!`: the background start, slow as on a loaded machine.
    const $ = build$({
      commandBuilder: (b) =>
        b.registerCommands({
          sh: async (ctx) => {
            spawning = true;
            await spawn;
            await ctx.stdout.write(new TextEncoder().encode("4242\n"));
            return { code: 0 };
          },
        }),
    });
    const deps: ServiceDeps = { $, env: (name) => vars[name], supervisor: "detached" };
    const install = installEdgeService(deps, spec, { startTimeoutMs: 50 }).catch((e) => e);
    await pollUntil(() => spawning, { what: "the background start" });
    let atExit: string | undefined;
    const exiting = closeAtomicWrites().then(async () => {
      atExit = await Deno.readTextFile(paths.edgePidFile).catch(() => "no pidfile");
    });
    spawned(); // Ctrl-C came while the start ran
    await exiting;
    assert.match(atExit ?? "", /"pid":\s*4242/, "the exit found the edge recorded");
    await install; // (pid 4242 is not an edge here: the install then fails; not this test's point)
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
