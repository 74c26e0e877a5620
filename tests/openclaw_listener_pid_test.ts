import assert from "node:assert/strict";
import { build$ } from "dax";
import { listenerPid, pidFromSs } from "../lib/openclaw/listener_pid.ts";

Deno.test("`pidFromSs()` reads the listener's pid for the port from recorded `ss -Hltnp` output", async () => {
  const text = await Deno.readTextFile(new URL("./fixtures/ss/ss_ltnp.txt", import.meta.url));
  assert.equal(pidFromSs(text, 42661), 20480);
  assert.equal(pidFromSs(text, 41083), 12337);
  assert.equal(pidFromSs(text, 18789), undefined);
});

Deno.test({
  name: "`listenerPid()` finds this very process behind a port it listens on",
  ignore: Deno.build.os !== "linux" && Deno.build.os !== "darwin",
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    assert.equal(await listenerPid(build$({}), port), Deno.pid);
  },
});
