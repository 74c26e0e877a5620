/**
 * The key file as this process last read it: the keys and a map from each
 * key's SHA-256 to its record, the file identity they were read at (a
 * synchronous `stat` tells whether another process wrote since), loads and
 * writes run one at a time, and every write a read-modify-write under the
 * file's lock.
 *
 * @module
 */
import { ensurePrivateDir, writeJsonAtomic } from "../core/atomic_file.ts";
import {
  type KeyFile,
  type KeyRecord,
  readKeyFile,
  signatureOf,
  type StoredKey,
  toRecord,
  withKeyFileLock,
} from "./_key_file.ts";
import { KeyStoreError } from "./errors.ts";

/** The key file's contents in memory, kept in step with the file; see the module documentation. */
export class KeyFileState {
  /** The key file. */
  readonly path: string;
  #byHash = new Map<string, KeyRecord>();
  #keys: StoredKey[] = [];
  #signature = "";
  /** Loads and mutations run one at a time, so an older read never overwrites a newer write. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** Every key as last read, oldest first. */
  get keys(): StoredKey[] {
    return this.#keys;
  }

  /** The record of the key whose SHA-256 is `sha256`, as last read. */
  find(sha256: string): KeyRecord | undefined {
    return this.#byHash.get(sha256);
  }

  /** Whether the file changed since it was last read (one synchronous `stat`). */
  changed(): boolean {
    return this.#statSignature() !== this.#signature;
  }

  /** Resolves once every load and write queued so far has finished. */
  settled(): Promise<unknown> {
    return this.#tail;
  }

  /** The file's identity now ("missing" when absent, "" when unreadable, so a load reports why). */
  #statSignature(): string {
    try {
      return signatureOf(Deno.statSync(this.path));
    } catch (error) {
      return error instanceof Deno.errors.NotFound ? "missing" : "";
    }
  }

  /** Runs `fn` after every load and write already queued. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Loads the file when changed. Returns an error instead of throwing (callers decide). */
  async load(): Promise<void | KeyStoreError> {
    const read = await readKeyFile(this.path, this.#signature);
    if (read instanceof KeyStoreError) return read;
    if (read !== undefined) this.#apply(read.keys, read.signature);
  }

  #apply(keys: StoredKey[], signature: string): void {
    this.#keys = keys;
    this.#signature = signature;
    const byHash = new Map<string, KeyRecord>();
    for (const k of keys) byHash.set(k.sha256, toRecord(k));
    this.#byHash = byHash;
  }

  /**
   * Read-modify-write under the lock: `change` gets the current keys and
   * returns the new list, or `undefined` for "no change".
   */
  mutate(
    change: (keys: StoredKey[]) => StoredKey[] | undefined,
    options: { createDir?: boolean } = {},
  ): Promise<void> {
    return this.serial(() => this.#mutateNow(change, options));
  }

  async #mutateNow(
    change: (keys: StoredKey[]) => StoredKey[] | undefined,
    options: { createDir?: boolean },
  ): Promise<void> {
    const dir = this.path.slice(0, this.path.lastIndexOf("/")) || "/";
    if (options.createDir !== false) await ensurePrivateDir(dir);
    await withKeyFileLock(this.path, async () => {
      this.#signature = ""; // force a re-read under the lock
      const loaded = await this.load();
      if (loaded instanceof Error) throw loaded;
      const next = change(this.#keys);
      if (next === undefined) return;
      const file: KeyFile = { version: 1, keys: next };
      await writeJsonAtomic(this.path, file);
      this.#apply(next, signatureOf(await Deno.stat(this.path)));
    });
  }
}
