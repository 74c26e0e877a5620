/**
 * A lock that stops two `connect`/`disconnect` runs from interleaving: an
 * exclusive `flock` on the lock file (`Deno.FsFile.tryLock`). The kernel
 * releases it when the holder's process dies, however it dies, so there are no
 * stale locks to judge and no pid reuse to detect. The file also holds the
 * holder's pid, start time and command, for the message a second run shows.
 *
 * @example
 * ```ts
 * import { acquireLock } from "./lock.ts";
 * {
 *   await using _lock = await acquireLock("/home/me/.ecto/ecto.lock", { command: "connect" });
 *   // ... change things ...
 * } // released here, even on throw
 * ```
 *
 * @module
 */
import { ensurePrivateDir } from "./atomic_file.ts";
import { EctoError } from "./errors.ts";
import type { Shell } from "./shell.ts";
import { poll } from "./poll.ts";

/** What the lock file tells about its holder. */
export interface LockInfo {
  /** The holder's process id. */
  pid: number;
  /** When the lock was taken, ISO-8601 UTC. */
  startedAt: string;
  /** The ecto command holding it, e.g. `connect`. */
  command: string;
}

/** Options for {@link acquireLock}. */
export interface AcquireLockOptions {
  /** The ecto command taking the lock, e.g. `connect`, `disconnect`. */
  command: string;
  /** Not used any more (the kernel tells a live holder); accepted so callers need not change. */
  $?: Shell;
  /** This process's pid, written for the message others see (default `Deno.pid`). */
  pid?: number;
  /** Clock (default `new Date()`). */
  now?: () => Date;
}

/** A held lock; release it with `await using` or {@link Lock.release}. */
export interface Lock extends AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  /** What was written into it. */
  readonly info: LockInfo;
  /** Releases the lock; `true` the first time, `false` after. The file stays. */
  release(): Promise<boolean>;
}

/** Parses lock file text; `undefined` when it is not a lock this module wrote. */
export function parseLockInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (
      typeof v === "object" && v !== null && Number.isInteger(v.pid) && (v.pid as number) > 0 &&
      typeof v.startedAt === "string" && typeof v.command === "string"
    ) return { pid: v.pid!, startedAt: v.startedAt, command: v.command };
  } catch { /* not JSON */ }
  return undefined;
}

function lockedError(path: string, info: LockInfo | undefined): EctoError {
  if (!info) {
    return new EctoError("locked", `Another ecto command is running (it holds ${path}).`, {
      fix: "Wait for it to finish, then run this again.",
    });
  }
  return new EctoError(
    "locked",
    `Another ecto ${info.command} is running (pid ${info.pid}, started ${info.startedAt}).`,
    { fix: `Wait for it to finish, or stop it with: kill ${info.pid}` },
  );
}

async function openLockFile(path: string): Promise<Deno.FsFile> {
  return await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
}

/**
 * The holder's info. The holder writes it just after
 * taking the lock, so a loser of a close race may find it still empty: it
 * looks again a few times (at most ~100 ms) before saying "unknown".
 */
async function holderInfo(path: string): Promise<LockInfo | undefined> {
  const read = async () => parseLockInfo(await Deno.readTextFile(path).catch(() => ""));
  return (await poll(read, { timeoutMs: 100, intervalMs: 10 }))?.value;
}

/**
 * Takes the lock at `path` (creating its directory 0700 and the file 0600),
 * or throws {@link EctoError} `locked` naming the live holder.
 */
export async function acquireLock(path: string, options: AcquireLockOptions): Promise<Lock> {
  await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
  const file = await openLockFile(path);
  let held = false;
  try {
    if (!(await file.tryLock(true))) throw lockedError(path, await holderInfo(path));
    held = true;
    const info: LockInfo = {
      pid: options.pid ?? Deno.pid,
      startedAt: (options.now ?? (() => new Date()))().toISOString(),
      command: options.command,
    };
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    const bytes = new TextEncoder().encode(JSON.stringify(info) + "\n");
    for (let written = 0; written < bytes.length;) {
      written += await file.write(bytes.subarray(written));
    }
    return heldLock(path, info, file);
  } catch (error) {
    if (held) await file.unlock().catch(() => {});
    file.close();
    throw error;
  }
}

function heldLock(path: string, info: LockInfo, file: Deno.FsFile): Lock {
  let released = false;
  const release = async (): Promise<boolean> => {
    if (released) return false;
    released = true;
    try {
      await file.unlock();
    } finally {
      file.close();
    }
    return true;
  };
  return { path, info, release, [Symbol.asyncDispose]: async () => void await release() };
}

/** Who holds the lock at `path` right now, or `undefined` when nobody does. */
export async function readLock(path: string): Promise<LockInfo | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    if (await file.tryLock(true)) {
      await file.unlock();
      return undefined;
    }
    return await holderInfo(path);
  } finally {
    file.close();
  }
}
