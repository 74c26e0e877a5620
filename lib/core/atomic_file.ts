/**
 * Atomic, private file writes: write a temp file beside the target with the
 * final mode, fsync it, rename over the target, then fsync the directory. A crash leaves either
 * the old file or the new one, never half of one; an interrupt waits for writes in flight
 * ({@link atomicWritesSettled}), so not even a temp file is left behind.
 *
 * @module
 */

/** Creates `dir` (and parents) and makes sure it is mode 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  if (Deno.build.os !== "windows") await Deno.chmod(dir, 0o700);
}

let inFlight = 0;
let settled: Array<() => void> = [];
let closed = false;

/**
 * Resolves once no atomic write (or {@link exitWaitsFor} section) is in progress: `cli.ts` waits
 * for it on Ctrl-C before it exits, so an interrupted run leaves no temp file and no process it
 * did not record (steps running in parallel may be writing).
 */
export function atomicWritesSettled(): Promise<void> {
  return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => settled.push(resolve));
}

/**
 * For an exit on a signal (`cli.ts`): resolves once every write and section in flight is done,
 * and from the moment nothing is in flight, nothing new starts. Work that would start then is
 * held (its promise never settles; the process exits first): a step that awaited one write and
 * goes on to the next must not begin a temp file the exit then leaves behind. Work started while
 * something is still in flight (a write inside a section) runs, and the exit waits for it too.
 */
export function closeAtomicWrites(): Promise<void> {
  closed = true;
  return atomicWritesSettled();
}

/**
 * Runs `fn` as one piece an exit on a signal waits for: what must not be cut in half, such as
 * starting a background process and recording its pid (an edge nobody recorded would hold its
 * port against the re-run).
 */
export async function exitWaitsFor<T>(fn: () => Promise<T>): Promise<T> {
  if (closed && inFlight === 0) return new Promise<never>(() => {}); // exiting: start nothing
  inFlight++;
  try {
    return await fn();
  } finally {
    if (--inFlight === 0) {
      const waiting = settled;
      settled = [];
      for (const resolve of waiting) resolve();
    }
  }
}

/** Writes `data` to `path` atomically with mode `mode` (default 0600). */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  return exitWaitsFor(() => writeAtomic(path, data, mode));
}

async function writeAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const tmp = `${dir}/.${path.slice(dir.length + 1)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    await file.write(bytes).then(async (n) => {
      let written = n;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
    });
    await file.sync();
  } finally {
    file.close();
  }
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  await syncDir(dir);
}

/** Makes the rename itself durable (a crash right after could otherwise lose it); best effort. */
async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename has still happened.
  }
}

/** Writes JSON (2-space, trailing newline) atomically with mode 0600. */
export function writeJsonAtomic(path: string, value: unknown, mode = 0o600): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n", mode);
}

/** Reads and parses a JSON file; `undefined` when it does not exist. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Deletes a file; `false` when it was not there. */
export async function removeIfExists(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
