import assert from "node:assert/strict";
import { EctoError } from "../lib/core/errors.ts";
import { acquireLock, readLock } from "../lib/core/lock.ts";
import { ectoPaths } from "../lib/core/paths.ts";

async function tempState(): Promise<AsyncDisposable & { dir: string; lockFile: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ecto-lock-" });
  const lockFile =
    ectoPaths((n) => n === "HOME" ? dir : n === "ECTO_STATE_DIR" ? `${dir}/state` : undefined)
      .lockFile;
  return { dir, lockFile, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

async function lockError(p: Promise<unknown>): Promise<EctoError> {
  const error = await p.then(() => undefined, (e) => e);
  assert.ok(error instanceof EctoError, `expected EctoError, got ${error}`);
  return error;
}

/** A child Deno process that tries the lock, prints `won` or the error code, and holds until stdin closes. */
function lockChild(lockFile: string): Deno.ChildProcess {
  const lockModule = new URL("../lib/core/lock.ts", import.meta.url).href;
  const code = `import { acquireLock } from ${JSON.stringify(lockModule)};
try {
  const lock = await acquireLock(${JSON.stringify(lockFile)}, { command: "connect" });
  console.log("won");
  for await (const _ of Deno.stdin.readable) { /* hold until stdin closes */ }
  await lock.release();
} catch (e) { console.log(e.code ?? String(e)); }
`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--no-config", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** The first line a child prints. */
async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0]!;
}

Deno.test("`acquireLock()` writes pid, start time and command 0600, and `await using` releases it", async () => {
  await using tmp = await tempState();
  {
    await using lock = await acquireLock(tmp.lockFile, {
      command: "connect",
      now: () => new Date("2026-02-03T04:05:06.000Z"),
    });
    assert.deepEqual(await readLock(tmp.lockFile), lock.info);
    assert.deepEqual(lock.info, {
      pid: Deno.pid,
      command: "connect",
      startedAt: "2026-02-03T04:05:06.000Z",
    });
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(tmp.lockFile)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${tmp.dir}/state`)).mode! & 0o777, 0o700);
    }
  }
  assert.equal(await readLock(tmp.lockFile), undefined);
  await using again = await acquireLock(tmp.lockFile, { command: "disconnect" });
  assert.equal(again.info.command, "disconnect");
  assert.equal(await again.release(), true);
  assert.equal(await again.release(), false, "idempotent");
});

Deno.test("`acquireLock()` lets exactly one of two concurrent acquirers win and names the holder", async () => {
  await using tmp = await tempState();
  const results = await Promise.allSettled([
    acquireLock(tmp.lockFile, { command: "connect" }),
    acquireLock(tmp.lockFile, { command: "disconnect" }),
  ]);
  const won = results.filter((r) => r.status === "fulfilled");
  const lost = results.filter((r) => r.status === "rejected");
  assert.equal(won.length, 1);
  assert.equal(lost.length, 1);
  const error = lost[0]!.reason;
  assert.ok(error instanceof EctoError);
  assert.equal(error.code, "locked");
  assert.match(
    error.message,
    new RegExp(
      `^Another ecto ${won[0]!.value.info.command} is running \\(pid ${Deno.pid}, started `,
    ),
  );
  assert.match(error.fix ?? "", new RegExp(`kill ${Deno.pid}`));
  await won[0]!.value.release();
});

Deno.test("`acquireLock()` lets exactly one of four racing processes win", async () => {
  await using tmp = await tempState();
  await Deno.mkdir(`${tmp.dir}/state`, { mode: 0o700 });
  const children = Array.from({ length: 4 }, () => lockChild(tmp.lockFile));
  try {
    const lines = await Promise.all(children.map(firstLine));
    assert.equal(lines.filter((l) => l === "won").length, 1, lines.join("\n"));
    assert.equal(lines.filter((l) => l === "locked").length, 3, lines.join("\n"));
  } finally {
    for (const c of children) await c.stdin.close().catch(() => {});
    await Promise.all(children.map((c) => c.status));
  }
});

Deno.test("`acquireLock()` takes the lock the moment its holder is killed (the kernel releases it)", async () => {
  await using tmp = await tempState();
  await Deno.mkdir(`${tmp.dir}/state`, { mode: 0o700 });
  const holder = lockChild(tmp.lockFile);
  assert.equal(await firstLine(holder), "won");
  const error = await lockError(acquireLock(tmp.lockFile, { command: "disconnect" }));
  assert.equal(error.code, "locked");
  assert.match(error.message, new RegExp(`pid ${holder.pid}`));
  assert.equal((await readLock(tmp.lockFile))?.pid, holder.pid);

  holder.kill("SIGKILL");
  await holder.status;
  await holder.stdin.close().catch(() => {});
  assert.equal(await readLock(tmp.lockFile), undefined, "a dead holder holds nothing");
  await using lock = await acquireLock(tmp.lockFile, { command: "disconnect" });
  assert.equal(lock.info.pid, Deno.pid);
});

Deno.test("`acquireLock()` ignores a lock file left behind with someone's info but no holder", async () => {
  await using tmp = await tempState();
  await Deno.mkdir(`${tmp.dir}/state`, { mode: 0o700 });
  await Deno.writeTextFile(
    tmp.lockFile,
    JSON.stringify({ pid: 4242, startedAt: "2026-01-01T00:00:00.000Z", command: "connect" }),
  );
  assert.equal(await readLock(tmp.lockFile), undefined);
  await using lock = await acquireLock(tmp.lockFile, { command: "connect" });
  assert.deepEqual(await readLock(tmp.lockFile), lock.info);
});
