/**
 * Following the live audit file like `tail -F`: everything in it now, then
 * each line as it is written, across a rotation (the edge renames the file to
 * `audit.log.1` and creates a new one: the old handle is read to its end
 * first, then the new file from its start). Wakes on a file-system event for
 * the log's directory (`Deno.watchFs`) and, in case events are lost or not
 * delivered (network file systems), on a bounded poll.
 *
 * @module
 */

/** Options of {@link followAuditLog}. */
export interface FollowOptions {
  /** The live file, e.g. `~/.ecto/audit.log`. */
  path: string;
  /** Stops following; the promise then resolves. */
  signal: AbortSignal;
  /** Called with complete lines, in order. */
  onLines: (lines: string[]) => void;
  /** Longest wait without an event before the file is looked at anyway. Default 1000 ms. */
  pollMs?: number;
  /** Directory watcher. Default: `Deno.watchFs(dir)`; `null`: poll only. */
  watch?: ((dir: string) => AsyncIterable<unknown> & { close(): void }) | null;
}

interface Open {
  file: Deno.FsFile;
  ino: number | null;
}

async function openIfExists(path: string): Promise<Open | undefined> {
  try {
    const file = await Deno.open(path, { read: true });
    return { file, ino: (await file.stat()).ino };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function currentIno(path: string): Promise<number | null | undefined> {
  try {
    return (await Deno.stat(path)).ino;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Splits a growing text into complete lines, keeping the unfinished tail. */
class LineBuffer {
  #decoder = new TextDecoder();
  #rest = "";

  push(bytes: Uint8Array): string[] {
    const text = this.#rest + this.#decoder.decode(bytes, { stream: true });
    const parts = text.split("\n");
    this.#rest = parts.pop()!;
    return parts;
  }

  /** The unfinished tail as a line of its own (the file it came from is done). */
  end(): string[] {
    const rest = this.#rest + this.#decoder.decode();
    this.#rest = "";
    this.#decoder = new TextDecoder();
    return rest === "" ? [] : [rest];
  }
}

async function drain(open: Open, buffer: LineBuffer): Promise<string[]> {
  const lines: string[] = [];
  const chunk = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await open.file.read(chunk);
    if (n === null || n === 0) return lines;
    lines.push(...buffer.push(chunk.subarray(0, n)));
  }
}

/** A wake-up: resolved by a watcher event, a poll, or the abort. */
class Waker {
  #wake: (() => void) | undefined;
  #pending = false;

  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        this.#pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }
}

/**
 * Emits the live file's lines, then new ones as they are written, until
 * `signal` aborts. A missing file is waited for.
 */
export async function followAuditLog(options: FollowOptions): Promise<void> {
  const { path, signal, onLines } = options;
  const pollMs = options.pollMs ?? 1000;
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const waker = new Waker();
  const watch = options.watch === undefined
    ? (d: string) => Deno.watchFs(d, { recursive: false })
    : options.watch;
  let watcher: (AsyncIterable<unknown> & { close(): void }) | undefined;
  try {
    watcher = watch?.(dir);
  } catch {
    watcher = undefined; // No watcher here (the directory may not exist yet): poll only.
  }
  const watching = watcher
    ? (async () => {
      try {
        for await (const _ of watcher!) waker.notify();
      } catch { /* closed */ }
    })()
    : Promise.resolve();
  const buffer = new LineBuffer();
  let open = await openIfExists(path);
  const emit = (lines: string[]) => {
    if (lines.length > 0) onLines(lines);
  };
  try {
    while (!signal.aborted) {
      if (open) emit(await drain(open, buffer));
      const ino = await currentIno(path);
      if (ino !== undefined && (!open || ino !== open.ino)) {
        // Rotated (or created): finish the old file, then start the new one from its beginning.
        if (open) {
          emit(await drain(open, buffer));
          open.file.close();
        }
        emit(buffer.end());
        open = await openIfExists(path);
        continue;
      }
      await waker.wait(pollMs, signal);
    }
  } finally {
    open?.file.close();
    watcher?.close();
    await watching;
  }
}
