/**
 * The sandbox's clean-up stops an edge whose pidfile is missing: one that Ctrl-C left without a
 * renamed pidfile, or whose state dir a failing test deleted, must not outlive the sandbox.
 */
import assert from "node:assert/strict";
import { stopEdgeIfRunning } from "./e2e/sandbox.ts";
import { pollUntil } from "./harness/poll.ts";

/** Until the child has exec'd, `ps` shows the parent's environment and command. */
function execd(pid: number, entry: string): Promise<boolean> {
  return pollUntil(async () => {
    const out = await new Deno.Command("ps", { args: ["eww", "-o", "args=", "-p", String(pid)] })
      .output();
    return new TextDecoder().decode(out.stdout).split(/\s/).includes(entry);
  }, { what: `pid ${pid} to run with ${entry}` });
}

Deno.test({
  name: "sandbox clean-up stops a process that carries its state dir but left no pidfile",
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "ecto-sandbox-cleanup-" });
    await Deno.remove(stateDir); // as a failed test leaves it: gone, pidfile and all
    const other = new Deno.Command("sleep", {
      args: ["60"],
      env: { ECTO_STATE_DIR: `${stateDir}-other` },
    }).spawn();
    const leftover = new Deno.Command("sleep", { args: ["60"], env: { ECTO_STATE_DIR: stateDir } })
      .spawn();
    try {
      await execd(other.pid, `ECTO_STATE_DIR=${stateDir}-other`);
      await execd(leftover.pid, `ECTO_STATE_DIR=${stateDir}`);
      await stopEdgeIfRunning({ ECTO_STATE_DIR: stateDir });
      let status: Deno.CommandStatus | undefined;
      leftover.status.then((s) => status = s);
      await pollUntil(() => status, { timeoutMs: 5_000, what: "the leftover to be stopped" });
      assert.equal(status?.signal, "SIGTERM");
      // A process of another sandbox (a longer dir with the same prefix) is left alone.
      const raced = await Promise.race([
        other.status.then(() => "exited"),
        Promise.resolve("alive"),
      ]);
      assert.equal(raced, "alive");
    } finally {
      try {
        leftover.kill("SIGKILL");
      } catch { /* stopped */ }
      try {
        other.kill("SIGKILL");
      } catch { /* a failed assertion above is the error to see */ }
      await other.status;
    }
  },
});
