/**
 * Client keys for the edge.
 *
 * A key is `ecto_` followed by 32 random bytes in lowercase hex (69 characters
 * in all; older keys in base64url, 48, stay valid). The store keeps only each key's SHA-256 digest, with metadata, in one
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
 * The parts beside this file: `_key_file.ts` (the file's format, reading, the
 * lock), `_key_file_state.ts` (the file as last read, kept in step with it),
 * `_key_records.ts` (new, imported and edited records), `_key_last_used.ts`
 * (the batched `lastUsed` times) and `_key_values.ts` (key strings, ids, checks).
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
import { type KeyRecord, type StoredKey, toRecord } from "./_key_file.ts";
import { KeyFileState } from "./_key_file_state.ts";
import { LastUsedBatch } from "./_key_last_used.ts";
import {
  type CreateKeyOptions,
  editedKey,
  importedKey,
  type KeyEdit,
  newKey,
  withLastUsed,
} from "./_key_records.ts";
import {
  checkEdit,
  checkImportedSecret,
  checkKeyName,
  checkLimits,
  generateKey,
  hashKey,
  looksLikeKey,
} from "./_key_values.ts";

export {
  isAgentId,
  isExpired,
  type KeyFile,
  type KeyRecord,
  type KeyRole,
  parseKeyFile,
  type StoredKey,
} from "./_key_file.ts";
export type { CreateKeyOptions, KeyEdit } from "./_key_records.ts";
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

/** The client key store; see the module documentation. */
export class KeyStore implements KeyVerifier, AsyncDisposable {
  /** The key file. */
  readonly path: string;
  #now: () => number;
  #file: KeyFileState;
  #lastUsed: LastUsedBatch;
  /** The last error re-reading the file hit (the previous keys stay in force), if any. */
  lastReloadError: unknown;

  private constructor(path: string, options: KeyStoreOptions) {
    this.path = path;
    this.#now = options.now ?? Date.now;
    this.#file = new KeyFileState(path);
    this.#lastUsed = new LastUsedBatch({
      intervalMs: options.flushIntervalMs ?? 30_000,
      write: (used) => this.#file.mutate((keys) => withLastUsed(keys, used), { createDir: false }),
      onError: (error) => {
        this.lastReloadError = error;
      },
    });
  }

  /**
   * Opens the store at `path` (a missing file is an empty store; nothing is
   * written until a key is created).
   *
   * @throws {KeyStoreError} when the file exists but is not a valid key file.
   */
  static async open(path: string, options: KeyStoreOptions = {}): Promise<KeyStore> {
    const store = new KeyStore(path, options);
    const loaded = await store.#file.load();
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
    const trimmed = checkKeyName(name);
    checkEdit(options.agent, options.expires);
    checkLimits(options.limits);
    const key = generateKey();
    let created: StoredKey | undefined;
    await this.#file.mutate((keys) => {
      created = newKey(keys, { name: trimmed, sha256: hashKey(key), options, now: this.#now });
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
    const trimmed = checkKeyName(name);
    checkImportedSecret(secret);
    const sha256 = hashKey(secret);
    let record: StoredKey | undefined;
    await this.#file.mutate((keys) => {
      record = keys.find((k) => k.sha256 === sha256);
      if (record) return undefined;
      record = importedKey(keys, { name: trimmed, sha256, options, now: this.#now });
      return [...keys, record];
    });
    return toRecord(record!);
  }

  /** Revokes key `id`; returns its record, or `undefined` when there was no such key. */
  async revoke(id: string): Promise<KeyRecord | undefined> {
    let removed: StoredKey | undefined;
    await this.#file.mutate((keys) => {
      removed = keys.find((k) => k.id === id);
      return removed ? keys.filter((k) => k !== removed) : undefined;
    });
    this.#lastUsed.forget(id);
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
    await this.#file.mutate((keys) => {
      const index = keys.findIndex((k) => k.id === id);
      if (index === -1) return undefined;
      const next = editedKey(keys[index], edit);
      updated = next;
      return keys.map((k, i) => (i === index ? next : k));
    });
    return updated ? toRecord(updated) : undefined;
  }

  /** Every key's record (re-reads the file if it changed), oldest first. */
  async list(): Promise<KeyRecord[]> {
    await this.#refresh();
    return this.#file.keys.map((k) => this.#lastUsed.overlay(toRecord(k)));
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
    if (this.#file.changed()) await this.#refresh();
    if (!looksLikeKey(presented) && !this.#file.keys.some((k) => k.imported)) return undefined;
    const record = this.#file.find(hashKey(presented));
    if (record === undefined) return undefined;
    this.#lastUsed.mark(record.id, this.#now());
    return record;
  }

  /** Writes pending `lastUsed` times now. */
  flush(): Promise<void> {
    return this.#lastUsed.flush();
  }

  /** Flushes pending `lastUsed` times and stops the flush timer. */
  async close(): Promise<void> {
    await this.#lastUsed.close();
    await this.#file.settled();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Re-reads the file if its signature changed, after every load or write already queued. */
  #refresh(): Promise<void> {
    return this.#file.serial(async () => {
      const result = await this.#file.load();
      this.lastReloadError = result instanceof Error ? result : undefined;
    });
  }
}
