import assert from "node:assert/strict";
import { EctoError } from "../lib/errors.ts";
import {
  acquireLock,
  defaultProcessInspector,
  type LockInfo,
  type ProcessInspector,
  readLock,
} from "../lib/lock.ts";
import { ectoPaths } from "../lib/paths.ts";
import { createShell } from "../lib/shell.ts";

const $ = createShell();

async function tempState(): Promise<AsyncDisposable & { dir: string; lockFile: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ecto-lock-" });
  const lockFile =
    ectoPaths((n) => n === "HOME" ? dir : n === "ECTO_STATE_DIR" ? `${dir}/state` : undefined)
      .lockFile;
  return { dir, lockFile, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** A pid that certainly belonged to a process which has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), { args: ["--version"], stdout: "null" }).spawn();
  await child.status;
  return child.pid;
}

function staleLock(pid: number, processCommand: string): string {
  const info: LockInfo = {
    pid,
    startedAt: "2026-01-01T00:00:00.000Z",
    command: "connect",
    processCommand,
    token: "someone-else",
  };
  return JSON.stringify(info) + "\n";
}

async function lockError(p: Promise<unknown>): Promise<EctoError> {
  const error = await p.then(() => undefined, (e) => e);
  assert.ok(error instanceof EctoError, `expected EctoError, got ${error}`);
  return error;
}

Deno.test("`acquireLock()` writes pid, start time and command, and `await using` releases it", async () => {
  await using tmp = await tempState();
  {
    await using lock = await acquireLock(tmp.lockFile, {
      command: "connect",
      $,
      now: () => new Date("2026-02-03T04:05:06.000Z"),
    });
    const info = await readLock(tmp.lockFile);
    assert.deepEqual(info, lock.info);
    assert.equal(info?.pid, Deno.pid);
    assert.equal(info?.command, "connect");
    assert.equal(info?.startedAt, "2026-02-03T04:05:06.000Z");
    assert.notEqual(info?.processCommand, "");
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(tmp.lockFile)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${tmp.dir}/state`)).mode! & 0o777, 0o700);
    }
  }
  assert.equal(await readLock(tmp.lockFile), undefined);
  await using again = await acquireLock(tmp.lockFile, { command: "disconnect", $ });
  assert.equal(again.info.command, "disconnect");
});

Deno.test("`acquireLock()` lets exactly one of two concurrent acquirers win", async () => {
  await using tmp = await tempState();
  const results = await Promise.allSettled([
    acquireLock(tmp.lockFile, { command: "connect", $ }),
    acquireLock(tmp.lockFile, { command: "disconnect", $ }),
  ]);
  const won = results.filter((r) => r.status === "fulfilled");
  const lost = results.filter((r) => r.status === "rejected");
  assert.equal(won.length, 1);
  assert.equal(lost.length, 1);
  const error = lost[0]!.reason;
  assert.ok(error instanceof EctoError);
  assert.equal(error.code, "locked");
  assert.match(error.message, new RegExp(`pid ${Deno.pid}`));
  assert.match(error.fix ?? "", new RegExp(`kill ${Deno.pid}`));
  await won[0]!.value.release();
});

Deno.test("`acquireLock()` lets exactly one of four racing processes win", async () => {
  await using tmp = await tempState();
  const script = `${tmp.dir}/child.ts`;
  const lockModule = new URL("../lib/lock.ts", import.meta.url).href;
  const shellModule = new URL("../lib/shell.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { acquireLock } from ${JSON.stringify(lockModule)};
import { createShell } from ${JSON.stringify(shellModule)};
const $ = createShell();
const [lockFile, goFile] = Deno.args;
await Deno.writeTextFile(\`\${goFile}.ready.\${Deno.pid}\`, "");
while (true) { try { await Deno.stat(goFile); break; } catch { await new Promise((r) => setTimeout(r, 5)); } }
try {
  const lock = await acquireLock(lockFile, { command: "connect", $ });
  console.log("won");
  await new Promise((r) => setTimeout(r, 1500));
  await lock.release();
} catch (e) { console.log(e.code ?? String(e)); }
`,
  );
  const goFile = `${tmp.dir}/go`;
  const children = Array.from({ length: 4 }, () =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        `--config=${new URL("../deno.json", import.meta.url).pathname}`,
        "-P=test",
        script,
        tmp.lockFile,
        goFile,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn());
  try {
    // Start the race only once every child is up and polling.
    const deadline = Date.now() + 30_000;
    while (
      [...Deno.readDirSync(tmp.dir)].filter((e) => e.name.startsWith("go.ready.")).length < 4
    ) {
      assert.ok(Date.now() < deadline, "children did not start");
      await new Promise((r) => setTimeout(r, 20));
    }
    await Deno.writeTextFile(goFile, "");
    const outputs = await Promise.all(children.map((c) => c.output()));
    const lines = outputs.map((o) =>
      new TextDecoder().decode(o.stdout).trim() || new TextDecoder().decode(o.stderr)
    );
    assert.equal(lines.filter((l) => l === "won").length, 1, lines.join("\n"));
    assert.equal(lines.filter((l) => l === "locked").length, 3, lines.join("\n"));
  } finally {
    for (const c of children) {
      try {
        c.kill();
      } catch { /* already exited */ }
    }
  }
});

Deno.test("`acquireLock()` takes over a stale lock", async (t) => {
  await using tmp = await tempState();
  await Deno.mkdir(`${tmp.dir}/state`);
  await t.step("whose pid is gone", async () => {
    await Deno.writeTextFile(tmp.lockFile, staleLock(await deadPid(), "ecto connect"));
    await using lock = await acquireLock(tmp.lockFile, { command: "connect", $ });
    assert.equal((await readLock(tmp.lockFile))?.token, lock.info.token);
  });
  await t.step("whose pid now runs another program", async () => {
    await Deno.writeTextFile(tmp.lockFile, staleLock(Deno.pid, "/usr/sbin/sshd -D"));
    await using lock = await acquireLock(tmp.lockFile, { command: "connect", $ });
    assert.equal((await readLock(tmp.lockFile))?.token, lock.info.token);
  });
  await t.step("that is empty and older than the grace period", async () => {
    await Deno.writeTextFile(tmp.lockFile, "");
    await new Promise((r) => setTimeout(r, 20));
    await using lock = await acquireLock(tmp.lockFile, {
      command: "connect",
      $,
      unreadableGraceMs: 5,
    });
    assert.equal((await readLock(tmp.lockFile))?.token, lock.info.token);
  });
  await t.step("with a takeover guard left behind by a crashed run", async () => {
    await Deno.writeTextFile(tmp.lockFile, staleLock(await deadPid(), "ecto connect"));
    await Deno.writeTextFile(`${tmp.lockFile}.takeover`, "{}");
    await new Promise((r) => setTimeout(r, 20));
    await using lock = await acquireLock(tmp.lockFile, {
      command: "connect",
      $,
      unreadableGraceMs: 5,
    });
    assert.equal((await readLock(tmp.lockFile))?.token, lock.info.token);
    await assert.rejects(Deno.stat(`${tmp.lockFile}.takeover`), Deno.errors.NotFound);
  });
  await t.step("once, when two runs find the same stale lock", async () => {
    await Deno.writeTextFile(tmp.lockFile, staleLock(await deadPid(), "ecto connect"));
    const results = await Promise.allSettled([
      acquireLock(tmp.lockFile, { command: "connect", $ }),
      acquireLock(tmp.lockFile, { command: "connect", $ }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1);
    const lost = results.find((r) => r.status === "rejected");
    assert.equal((lost?.reason as EctoError).code, "locked");
    await won[0]!.value.release();
  });
});

Deno.test("`acquireLock()` refuses a live lock with the holder's pid and what to do", async () => {
  await using tmp = await tempState();
  await Deno.mkdir(`${tmp.dir}/state`);
  await Deno.writeTextFile(tmp.lockFile, staleLock(4242, "ecto disconnect"));
  const inspect: ProcessInspector = (pid) =>
    Promise.resolve(pid === 4242 ? { alive: true, command: "ecto disconnect" } : { alive: false });
  const error = await lockError(
    acquireLock(tmp.lockFile, { command: "connect", $, inspectProcess: inspect }),
  );
  assert.equal(error.code, "locked");
  assert.equal(
    error.message,
    "Another ecto connect is running (pid 4242, started 2026-01-01T00:00:00.000Z).",
  );
  assert.match(error.fix ?? "", /kill 4242/);
  assert.match(error.fix ?? "", new RegExp(tmp.lockFile.replaceAll("/", "\\/")));
  assert.equal((await readLock(tmp.lockFile))?.pid, 4242, "the live lock is untouched");
});

Deno.test("`Lock.release()` only deletes the file while it is still ours", async () => {
  await using tmp = await tempState();
  const lock = await acquireLock(tmp.lockFile, { command: "connect", $ });
  const foreign = staleLock(4242, "ecto connect");
  await Deno.writeTextFile(tmp.lockFile, foreign);
  assert.equal(await lock.release(), false);
  assert.equal(await Deno.readTextFile(tmp.lockFile), foreign);
  await Deno.remove(tmp.lockFile);

  const second = await acquireLock(tmp.lockFile, { command: "connect", $ });
  assert.equal(await second.release(), true);
  assert.equal(await second.release(), false, "idempotent");
});

Deno.test("`defaultProcessInspector()` tells a live pid from a gone one", {
  ignore: Deno.build.os === "windows",
}, async () => {
  const inspect = defaultProcessInspector($);
  const self = await inspect(Deno.pid);
  assert.equal(self.alive, true);
  assert.equal((await inspect(await deadPid())).alive, false);
});
