/**
 * Client keys for the edge.
 *
 * A key is `ecto_` followed by 32 random bytes in base64url (48 characters in
 * all). The store keeps only each key's SHA-256 digest, with metadata, in one
 * JSON file (mode 0600 in a 0700 directory, written atomically under an
 * exclusive `flock` on `<file>.lock` so `ecto keys ...` and a running edge
 * never lose each other's writes).
 *
 * Verification hashes the presented key once (SHA-256) and looks the digest
 * up in a map. Every verify first `stat`s the file synchronously (a few
 * microseconds, no thread hop) and re-reads it when it changed, so a key
 * created, edited or revoked by another process takes effect on the very next
 * request: there is no cache window (a 250 ms one let revoked keys answer).
 * The same holds for {@link KeyStore.update} (agent binding, expiry, limits and budgets).
 * `lastUsed` is kept in memory and written in batches (every
 * `flushIntervalMs`, and on `flush()`/`close()`).
 *
 * Every key carries the OpenClaw agent it is bound to (`agent`) and may carry
 * an expiry (`expires`); the edge enforces both.
 *
 * @example
 * ```ts
 * await using store = await KeyStore.open(ectoPaths(Deno.env.get).keysFile);
 * const { id, key } = await store.create("laptop"); // show `key` once, never store it
 * const record = await store.verify(key); // { id, name: "laptop", role: "client", ... }
 * await store.revoke(id);
 * ```
 *
 * @module
 */
import { ensurePrivateDir, writeJsonAtomic } from "../core/atomic_file.ts";
import {
  type KeyFile,
  type KeyRecord,
  type KeyRole,
  readKeyFile,
  signatureOf,
  type StoredKey,
  toRecord,
  withKeyFileLock,
} from "./_key_file.ts";
import {
  checkEdit,
  checkLimits,
  generateId,
  generateKey,
  hasControlCharacter,
  hashKey,
  looksLikeKey,
} from "./_key_values.ts";
import { KeyStoreError } from "./errors.ts";
import type { KeyLimits } from "./limits.ts";

export {
  isAgentId,
  isExpired,
  type KeyFile,
  type KeyRecord,
  type KeyRole,
  parseKeyFile,
  type StoredKey,
} from "./_key_file.ts";
export { constantTimeEqual, generateKey, hashKey, looksLikeKey } from "./_key_values.ts";

/** A newly created key: `key` is the cleartext, returned once and stored nowhere by the store. */
export interface CreatedKey {
  /** The key's public id. */
  id: string;
  /** The key itself (`ecto_...`): show it once, never store or log it. */
  key: string;
  /** The stored metadata. */
  record: KeyRecord;
}

/** Anything that can check a presented key (the handler takes this, tests pass fakes). */
export interface KeyVerifier {
  /**
   * The record of the key, or `undefined` when it is unknown or revoked. An
   * expired key still returns its record: the caller compares `expires` with
   * its own clock (so it can answer `key_expired` instead of "invalid").
   */
  verify(presented: string): Promise<KeyRecord | undefined>;
}

/** Options of {@link KeyStore.open}. */
export interface KeyStoreOptions {
  /** Wall clock in epoch ms (timestamps and flush pacing). Default `Date.now`. */
  now?: () => number;
  /** How long `lastUsed` updates wait before being written, ms. Default 30 000. */
  flushIntervalMs?: number;
}

/** Options of {@link KeyStore.create}. */
export interface CreateKeyOptions {
  /** Default `client`. There is at most one owner key. */
  role?: KeyRole;
  /** Limits overriding the role's defaults. */
  limits?: KeyLimits;
  /** The agent the key is bound to (see {@link KeyRecord.agent}). */
  agent?: string;
  /** ISO 8601 expiry time. */
  expires?: string;
}

/** What {@link KeyStore.update} may change on a key. */
export interface KeyEdit {
  /** Bind the key to this agent id. */
  agent?: string;
  /** A new expiry (ISO 8601), or `null` for none. */
  expires?: string | null;
  /** Limits to set (merged over the key's own); a `0` removes that limit (back to the default). */
  limits?: KeyLimits;
}

interface Entry {
  sha256: string;
  record: KeyRecord;
}

/** The client key store; see the module documentation. */
export class KeyStore implements KeyVerifier, AsyncDisposable {
  /** The key file. */
  readonly path: string;
  #now: () => number;
  #flushIntervalMs: number;
  #byHash = new Map<string, Entry>();
  #keys: StoredKey[] = [];
  #signature = "";
  /** Loads and mutations run one at a time, so an older read never overwrites a newer write. */
  #tail: Promise<unknown> = Promise.resolve();
  #pendingUse = new Map<string, number>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  /** The last error re-reading the file hit (the previous keys stay in force), if any. */
  lastReloadError: unknown;

  private constructor(path: string, options: KeyStoreOptions) {
    this.path = path;
    this.#now = options.now ?? Date.now;
    this.#flushIntervalMs = options.flushIntervalMs ?? 30_000;
  }

  /**
   * Opens the store at `path` (a missing file is an empty store; nothing is
   * written until a key is created).
   *
   * @throws {KeyStoreError} when the file exists but is not a valid key file.
   */
  static async open(path: string, options: KeyStoreOptions = {}): Promise<KeyStore> {
    const store = new KeyStore(path, options);
    const loaded = await store.#load();
    if (loaded instanceof Error) throw loaded;
    return store;
  }

  /**
   * Creates a key and returns its cleartext once.
   *
   * @throws {KeyStoreError} `owner_key_exists` when asked for a second owner key,
   * `invalid_key_name` for an empty or over-long name.
   */
  async create(name: string, options: CreateKeyOptions = {}): Promise<CreatedKey> {
    const role = options.role ?? "client";
    const trimmed = name.trim();
    if (trimmed === "" || trimmed.length > 64 || hasControlCharacter(trimmed)) {
      throw new KeyStoreError(
        "invalid_key_name",
        "A key name must be 1 to 64 printable characters.",
      );
    }
    checkEdit(options.agent, options.expires);
    checkLimits(options.limits);
    const key = generateKey();
    let created: StoredKey | undefined;
    await this.#mutate((keys) => {
      if (role === "owner" && keys.some((k) => k.role === "owner" && !k.imported)) {
        throw new KeyStoreError("owner_key_exists", "There is already an owner key.", {
          fix: "Revoke the current owner key first (ecto keys revoke <id>).",
        });
      }
      let id = generateId();
      while (keys.some((k) => k.id === id)) id = generateId();
      created = {
        id,
        name: trimmed,
        role,
        created: new Date(this.#now()).toISOString(),
        ...(options.limits ? { limits: { ...options.limits } } : {}),
        ...(options.agent !== undefined ? { agent: options.agent } : {}),
        ...(options.expires !== undefined
          ? { expires: new Date(Date.parse(options.expires)).toISOString() }
          : {}),
        sha256: hashKey(key),
      };
      return [...keys, created];
    });
    return { id: created!.id, key, record: toRecord(created!) };
  }

  /**
   * Adopts an existing secret (say the old skill's public gateway token) as a
   * key named `name`: only its SHA-256 is stored; it is accepted whatever its
   * shape, confined like every key, and never counts as the owner key. An
   * earlier import of the same secret is returned as it is.
   *
   * @throws {KeyStoreError} `invalid_key_name`; `invalid_key` for a secret
   * shorter than 16 or longer than 512 characters or with control characters.
   */
  async importKey(
    name: string,
    secret: string,
    options: CreateKeyOptions = {},
  ): Promise<KeyRecord> {
    const trimmed = name.trim();
    if (trimmed === "" || trimmed.length > 64 || hasControlCharacter(trimmed)) {
      throw new KeyStoreError(
        "invalid_key_name",
        "A key name must be 1 to 64 printable characters.",
      );
    }
    if (secret.length < 16 || secret.length > 512 || hasControlCharacter(secret)) {
      throw new KeyStoreError(
        "invalid_key",
        "An imported key must be 16 to 512 printable characters.",
      );
    }
    const sha256 = hashKey(secret);
    let record: StoredKey | undefined;
    await this.#mutate((keys) => {
      record = keys.find((k) => k.sha256 === sha256);
      if (record) return undefined;
      let id = generateId();
      while (keys.some((k) => k.id === id)) id = generateId();
      record = {
        id,
        name: trimmed,
        role: options.role ?? "client",
        created: new Date(this.#now()).toISOString(),
        ...(options.limits ? { limits: { ...options.limits } } : {}),
        ...(options.agent ? { agent: options.agent } : {}),
        ...(options.expires ? { expires: options.expires } : {}),
        sha256,
        imported: true,
      };
      return [...keys, record];
    });
    return toRecord(record!);
  }

  /** Revokes key `id`; returns its record, or `undefined` when there was no such key. */
  async revoke(id: string): Promise<KeyRecord | undefined> {
    let removed: StoredKey | undefined;
    await this.#mutate((keys) => {
      removed = keys.find((k) => k.id === id);
      return removed ? keys.filter((k) => k !== removed) : undefined;
    });
    this.#pendingUse.delete(id);
    return removed ? toRecord(removed) : undefined;
  }

  /**
   * Changes key `id`'s binding or expiry (durable when it returns, so the edge
   * applies it from its next request). Returns the new record, or `undefined`
   * when there is no such key.
   *
   * @throws {KeyStoreError} `invalid_agent_id` / `invalid_expiry`.
   */
  async update(id: string, edit: KeyEdit): Promise<KeyRecord | undefined> {
    checkEdit(edit.agent, edit.expires);
    checkLimits(edit.limits);
    let updated: StoredKey | undefined;
    await this.#mutate((keys) => {
      const index = keys.findIndex((k) => k.id === id);
      if (index === -1) return undefined;
      const next: StoredKey = { ...keys[index] };
      if (edit.agent !== undefined) next.agent = edit.agent;
      if (edit.expires === null) delete next.expires;
      else if (edit.expires !== undefined) {
        next.expires = new Date(Date.parse(edit.expires)).toISOString();
      }
      if (edit.limits !== undefined) {
        const limits: Record<string, number> = { ...next.limits };
        for (const [name, value] of Object.entries(edit.limits)) {
          if (value === undefined) continue;
          if (value === 0) delete limits[name];
          else limits[name] = value;
        }
        if (Object.keys(limits).length > 0) next.limits = limits as KeyLimits;
        else delete next.limits;
      }
      updated = next;
      return keys.map((k, i) => (i === index ? next : k));
    });
    return updated ? toRecord(updated) : undefined;
  }

  /** Every key's record (re-reads the file if it changed), oldest first. */
  async list(): Promise<KeyRecord[]> {
    await this.#refresh();
    return this.#keys.map((k) => this.#withPendingUse(toRecord(k)));
  }

  /** The owner key's record, if there is one. */
  async owner(): Promise<KeyRecord | undefined> {
    return (await this.list()).find((k) => k.role === "owner" && !k.imported);
  }

  /**
   * The record of the key `presented`, or `undefined`. One synchronous `stat`
   * of the file (re-read when it changed), one SHA-256, one map lookup.
   */
  async verify(presented: string): Promise<KeyRecord | undefined> {
    // The stat runs now, after whatever revoke returned before this request
    // arrived; a load that is already queued may predate it, so queue our own.
    if (this.#statSignature() !== this.#signature) await this.#refresh();
    if (!looksLikeKey(presented) && !this.#keys.some((k) => k.imported)) return undefined;
    const entry = this.#byHash.get(hashKey(presented));
    if (entry === undefined) return undefined;
    this.#markUsed(entry.record.id, this.#now());
    return entry.record;
  }

  /** Writes pending `lastUsed` times now. */
  flush(): Promise<void> {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#pendingUse.size === 0) return this.#flushing ?? Promise.resolve();
    const pending = this.#pendingUse;
    this.#pendingUse = new Map();
    const run = async () => {
      await this.#flushing?.catch(() => {});
      await this.#mutate((keys) => {
        let changed = false;
        const next = keys.map((k) => {
          const used = pending.get(k.id);
          if (used === undefined) return k;
          const iso = new Date(used).toISOString();
          if (k.lastUsed !== undefined && k.lastUsed >= iso) return k;
          changed = true;
          return { ...k, lastUsed: iso };
        });
        return changed ? next : undefined;
      }, { createDir: false });
    };
    const flushing = run().catch((error) => {
      // Keep the times for the next attempt; a lost lastUsed is not worth failing a request.
      for (const [id, t] of pending) {
        if ((this.#pendingUse.get(id) ?? 0) < t) this.#pendingUse.set(id, t);
      }
      this.lastReloadError = error;
    }).finally(() => {
      if (this.#flushing === flushing) this.#flushing = undefined;
    });
    this.#flushing = flushing;
    return flushing;
  }

  /** Flushes pending `lastUsed` times and stops the flush timer. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    await this.#tail;
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #markUsed(id: string, now: number): void {
    this.#pendingUse.set(id, now);
    if (this.#flushTimer === undefined && !this.#closed) {
      const timer = setTimeout(() => {
        this.#flushTimer = undefined;
        void this.flush();
      }, this.#flushIntervalMs);
      Deno.unrefTimer(timer);
      this.#flushTimer = timer;
    }
  }

  #withPendingUse(record: KeyRecord): KeyRecord {
    const used = this.#pendingUse.get(record.id);
    if (used === undefined) return record;
    const iso = new Date(used).toISOString();
    return record.lastUsed !== undefined && record.lastUsed >= iso
      ? record
      : { ...record, lastUsed: iso };
  }

  /** Re-reads the file if its signature changed, after every load or write already queued. */
  #refresh(): Promise<void> {
    return this.#serial(async () => {
      const result = await this.#load();
      this.lastReloadError = result instanceof Error ? result : undefined;
    });
  }

  /** The file's identity now ("missing" when absent, "" when unreadable, so a load reports why). */
  #statSignature(): string {
    try {
      return signatureOf(Deno.statSync(this.path));
    } catch (error) {
      return error instanceof Deno.errors.NotFound ? "missing" : "";
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Loads the file when changed. Returns an error instead of throwing (callers decide). */
  async #load(): Promise<void | KeyStoreError> {
    const read = await readKeyFile(this.path, this.#signature);
    if (read instanceof KeyStoreError) return read;
    if (read !== undefined) this.#apply(read.keys, read.signature);
  }

  #apply(keys: StoredKey[], signature: string): void {
    this.#keys = keys;
    this.#signature = signature;
    const byHash = new Map<string, Entry>();
    for (const k of keys) byHash.set(k.sha256, { sha256: k.sha256, record: toRecord(k) });
    this.#byHash = byHash;
  }

  /**
   * Read-modify-write under the lock: `change` gets the current keys and
   * returns the new list, or `undefined` for "no change".
   */
  #mutate(
    change: (keys: StoredKey[]) => StoredKey[] | undefined,
    options: { createDir?: boolean } = {},
  ): Promise<void> {
    return this.#serial(() => this.#mutateNow(change, options));
  }

  async #mutateNow(
    change: (keys: StoredKey[]) => StoredKey[] | undefined,
    options: { createDir?: boolean },
  ): Promise<void> {
    const dir = this.path.slice(0, this.path.lastIndexOf("/")) || "/";
    if (options.createDir !== false) await ensurePrivateDir(dir);
    await withKeyFileLock(this.path, async () => {
      this.#signature = ""; // force a re-read under the lock
      const loaded = await this.#load();
      if (loaded instanceof Error) throw loaded;
      const next = change(this.#keys);
      if (next === undefined) return;
      const file: KeyFile = { version: 1, keys: next };
      await writeJsonAtomic(this.path, file);
      this.#apply(next, signatureOf(await Deno.stat(this.path)));
    });
  }
}
