/**
 * A lock file that stops two `connect`/`disconnect` runs from interleaving.
 *
 * The lock (`ectoPaths(env).lockFile`) is created exclusively and holds the
 * holder's pid, start time, ecto command and the process's command line as the
 * OS reports it. A lock whose pid is gone, or whose pid now belongs to another
 * program (pid reuse), is stale and taken over; a live one is an
 * {@link EctoError} with code `locked`.
 *
 * @example
 * ```ts
 * import { acquireLock } from "./lock.ts";
 * import { createShell } from "./shell.ts";
 * {
 *   await using _lock = await acquireLock("/home/me/.ecto/ecto.lock", {
 *     command: "connect",
 *     $: createShell(),
 *   });
 *   // ... change things ...
 * } // released here, even on throw
 * ```
 *
 * @module
 */
import { ensurePrivateDir, removeIfExists } from "./atomic_file.ts";
import { EctoError } from "./errors.ts";
import type { Shell } from "./shell.ts";

/** What the lock file holds. */
export interface LockInfo {
  /** The holder's process id. */
  pid: number;
  /** When the lock was taken, ISO-8601 UTC. */
  startedAt: string;
  /** The ecto command holding it, e.g. `connect`. */
  command: string;
  /** The holder's command line as the OS reported it ("" when unknown), to detect pid reuse. */
  processCommand: string;
  /** Random id of this acquisition; release only deletes a lock carrying it. */
  token: string;
}

/** What the OS says about a pid: gone, or alive with its command line ("" if unknown). */
export type ProcessState = { alive: false } | { alive: true; command: string };

/** Looks a pid up. */
export type ProcessInspector = (pid: number) => Promise<ProcessState>;

/** Options for {@link acquireLock}. */
export interface AcquireLockOptions {
  /** The ecto command taking the lock, e.g. `connect`, `disconnect`. */
  command: string;
  /** The shell `ps` runs in, to tell a live holder from a stale lock. */
  $: Shell;
  /** Overrides how pids are looked up (tests). */
  inspectProcess?: ProcessInspector;
  /** This process's pid (default `Deno.pid`). */
  pid?: number;
  /** Clock (default `new Date()`). */
  now?: () => Date;
  /** How long a lock file may stay empty or unreadable before it counts as stale (default 10 s). */
  unreadableGraceMs?: number;
}

/** A held lock; release it with `await using` or {@link Lock.release}. */
export interface Lock extends AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  /** What was written into it. */
  readonly info: LockInfo;
  /** Deletes the lock file if it is still ours; `true` when it was deleted. Idempotent. */
  release(): Promise<boolean>;
}

/**
 * Looks a pid up with `ps -ww -p <pid> -o command=` through the given shell
 * (works on macOS and Linux; Deno only lets `--allow-all` programs read
 * `/proc`). `ps` exiting 1 with no output means the pid is gone; any other
 * failure reports the pid alive with an unknown command, so a lock is never
 * taken over on a guess.
 */
export function defaultProcessInspector($: Shell): ProcessInspector {
  return async (pid) => {
    const result = await $`ps -ww -p ${String(pid)} -o command=`.noThrow().quiet();
    if (result.code === 0) return { alive: true, command: normalizeCommand(result.stdout) };
    if (result.code === 1 && result.stdout.trim() === "") return { alive: false };
    // `ps` missing or failing: never steal a lock on a guess.
    return { alive: true, command: "" };
  };
}

/** Collapses whitespace so command lines compare equal however `ps` spaced them. */
function normalizeCommand(raw: string): string {
  return raw.replace(/\s+/g, " ").trim();
}

/** Why a lock is held by someone else, or that it is stale. */
export type LockVerdict =
  | { kind: "live"; info: LockInfo }
  | { kind: "stale"; reason: string }
  | { kind: "unreadable" };

/** Parses lock file text; `undefined` when it is not a lock this module wrote. */
export function parseLockInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (
      typeof v === "object" && v !== null && Number.isInteger(v.pid) && (v.pid as number) > 0 &&
      typeof v.startedAt === "string" && typeof v.command === "string" &&
      typeof v.processCommand === "string" && typeof v.token === "string"
    ) return v as LockInfo;
  } catch { /* not JSON */ }
  return undefined;
}

/** Decides whether a parsed lock belongs to a live holder. Pure apart from the inspector. */
export async function judgeLock(
  info: LockInfo,
  inspect: ProcessInspector,
): Promise<LockVerdict> {
  const state = await inspect(info.pid);
  if (!state.alive) return { kind: "stale", reason: `pid ${info.pid} is gone` };
  if (info.processCommand !== "" && state.command !== "" && state.command !== info.processCommand) {
    return { kind: "stale", reason: `pid ${info.pid} is now another program` };
  }
  return { kind: "live", info };
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function createExclusive(path: string, text: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
  try {
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  } finally {
    file.close();
  }
  return true;
}

async function removeIfUnchanged(path: string, expected: string): Promise<void> {
  if ((await readText(path)) !== expected) return;
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function lockedError(path: string, info: LockInfo): EctoError {
  return new EctoError(
    "locked",
    `Another ecto ${info.command} is running (pid ${info.pid}, started ${info.startedAt}).`,
    {
      fix: `Wait for it to finish, or stop it with: kill ${info.pid}` +
        ` (if pid ${info.pid} is not ecto, delete ${path})`,
    },
  );
}

/**
 * Takes the lock at `path` (creating its directory 0700), or throws
 * {@link EctoError} `locked` when a live process holds it. A stale lock is
 * taken over under a short-lived `<path>.takeover` guard, so two runs that
 * find the same stale lock cannot both win.
 */
export async function acquireLock(path: string, options: AcquireLockOptions): Promise<Lock> {
  const pid = options.pid ?? Deno.pid;
  const now = options.now ?? (() => new Date());
  const inspect = options.inspectProcess ?? defaultProcessInspector(options.$);
  const grace = options.unreadableGraceMs ?? 10_000;
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await ensurePrivateDir(dir);

  const self = await inspect(pid);
  const info: LockInfo = {
    pid,
    startedAt: now().toISOString(),
    command: options.command,
    processCommand: self.alive ? self.command : "",
    token: crypto.randomUUID(),
  };
  const text = JSON.stringify(info) + "\n";
  const guardPath = `${path}.takeover`;

  for (let attempt = 0; attempt < 50; attempt++) {
    if (await createExclusive(path, text)) return heldLock(path, info, text);

    const existing = await readText(path);
    if (existing === undefined) continue; // released meanwhile: try again
    const parsed = parseLockInfo(existing);
    let verdict: LockVerdict;
    if (parsed) {
      verdict = await judgeLock(parsed, inspect);
    } else {
      // Empty or garbled: a holder may be between create and write. Stale once old enough.
      const age = await fileAgeMs(path);
      verdict = age === undefined || age < grace
        ? { kind: "unreadable" }
        : { kind: "stale", reason: "it is unreadable" };
    }
    if (verdict.kind === "live") throw lockedError(path, verdict.info);
    if (verdict.kind === "unreadable") {
      await sleep(20);
      continue;
    }

    // Stale: take it over under the guard.
    const guardText = JSON.stringify({ pid, token: info.token }) + "\n";
    if (!(await createExclusive(guardPath, guardText))) {
      const guardAge = await fileAgeMs(guardPath);
      if (guardAge !== undefined && guardAge > grace) {
        await removeIfUnchanged(guardPath, (await readText(guardPath)) ?? "");
      } else {
        await sleep(10 + Math.random() * 20);
      }
      continue;
    }
    try {
      if ((await readText(path)) === existing) {
        await Deno.remove(path).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      }
      if (await createExclusive(path, text)) return heldLock(path, info, text);
    } finally {
      await removeIfUnchanged(guardPath, guardText);
    }
  }
  const holder = parseLockInfo((await readText(path)) ?? "");
  if (holder) throw lockedError(path, holder);
  throw new EctoError("locked", `Could not take the lock ${path}.`, {
    fix: `Make sure no other ecto is running, then delete ${path}`,
  });
}

async function fileAgeMs(path: string): Promise<number | undefined> {
  try {
    const mtime = (await Deno.stat(path)).mtime;
    return mtime ? Date.now() - mtime.getTime() : undefined;
  } catch {
    return undefined;
  }
}

function heldLock(path: string, info: LockInfo, text: string): Lock {
  let released = false;
  const release = async (): Promise<boolean> => {
    if (released) return false;
    released = true;
    const current = await readText(path);
    if (current !== text) return false;
    return await removeIfExists(path);
  };
  return {
    path,
    info,
    release,
    [Symbol.asyncDispose]: async () => {
      await release();
    },
  };
}

/** Reads the lock file without taking it: the holder, or `undefined` if there is none. */
export async function readLock(path: string): Promise<LockInfo | undefined> {
  return parseLockInfo((await readText(path)) ?? "");
}
