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
import { createHash } from "node:crypto";
import { KeyStoreError } from "./errors.ts";
import type { KeyLimits } from "./limits.ts";

/** `owner`: the key ecto hands to the person who connected; `client`: keys they hand out. */
export type KeyRole = "owner" | "client";

/** What the store knows about a key (never the key itself). */
export interface KeyRecord {
  /** Stable public id, e.g. `k_7f3kq2m9xa`; safe to log and show. */
  readonly id: string;
  /** A human label ("laptop", "n8n"). */
  readonly name: string;
  /** `owner` or `client` (which default limits apply). */
  readonly role: KeyRole;
  /** ISO 8601 creation time. */
  readonly created: string;
  /** ISO 8601 time of the last accepted request (batched, so up to a flush interval stale). */
  readonly lastUsed?: string;
  /** Limits that override the role's defaults. */
  readonly limits?: KeyLimits;
  /**
   * The OpenClaw agent id this key reaches, and the only one: the edge pins
   * every request to it. A key without one is refused (`key_not_bound`).
   */
  readonly agent?: string;
  /** ISO 8601 time after which the key is refused with `key_expired`. */
  readonly expires?: string;
  /** An existing secret adopted with {@link KeyStore.importKey} (e.g. the old skill's token). */
  readonly imported?: true;
}

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

/** One key as stored in the key file (its SHA-256, never the key). */
export interface StoredKey {
  /** Public id. */
  id: string;
  /** Human label. */
  name: string;
  /** `owner` or `client`. */
  role: KeyRole;
  /** ISO 8601 creation time. */
  created: string;
  /** ISO 8601 time of the last accepted request. */
  lastUsed?: string;
  /** Limits overriding the role's defaults. */
  limits?: KeyLimits;
  /** The agent the key is bound to. */
  agent?: string;
  /** ISO 8601 expiry time. */
  expires?: string;
  /** Lowercase hex SHA-256 of the full key string. */
  sha256: string;
  /** Adopted with {@link KeyStore.importKey}: any shape, never the owner key. */
  imported?: true;
}

/** The key file: `{ "version": 1, "keys": [...] }`. */
export interface KeyFile {
  /** Format version. */
  version: 1;
  /** Every live key, oldest first. */
  keys: StoredKey[];
}

interface Entry {
  sha256: string;
  record: KeyRecord;
}

/** The shape of a key: `ecto_` + base64url (43 chars for 32 bytes) or hex (64 chars). */
const KEY_SHAPE = /^ecto_[A-Za-z0-9_-]{32,128}$/;
const KEY_PREFIX = "ecto_";
const HEX64 = /^[0-9a-f]{64}$/;
/** OpenClaw's agent id syntax (`agents.entries` keys), lower-cased as OpenClaw normalises it. */
const AGENT_ID = /^[a-z0-9_][a-z0-9_-]{0,63}$/;

/** Whether `id` is a valid OpenClaw agent id (lower case, as OpenClaw normalises ids). */
export function isAgentId(id: string): boolean {
  return AGENT_ID.test(id);
}

/** Whether `record` has expired at `now` (epoch ms). */
export function isExpired(record: KeyRecord, now: number): boolean {
  return record.expires !== undefined && !(Date.parse(record.expires) > now);
}

function checkLimits(limits: KeyLimits | undefined): void {
  for (const [name, value] of Object.entries(limits ?? {})) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
      throw new KeyStoreError("invalid_limit", `The limit ${name} must be a whole number.`);
    }
  }
}

function checkEdit(agent: string | undefined, expires: string | null | undefined): void {
  if (agent !== undefined && !AGENT_ID.test(agent)) {
    throw new KeyStoreError(
      "invalid_agent_id",
      `"${agent}" is not an OpenClaw agent id (lower-case letters, digits, "_" and "-").`,
      { fix: "openclaw agents list" },
    );
  }
  if (typeof expires === "string" && Number.isNaN(Date.parse(expires))) {
    throw new KeyStoreError("invalid_expiry", `"${expires}" is not a time.`);
  }
}

/** Whether `value` looks like an ecto client key (shape only, not validity). */
export function looksLikeKey(value: string): boolean {
  return KEY_SHAPE.test(value);
}

/** Lowercase hex SHA-256 of a key string. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Compares two equal-length strings without an early exit. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** A fresh key: `ecto_` + base64url of 32 random bytes. */
export function generateKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return KEY_PREFIX + btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function generateId(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let id = "k_";
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
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
    if (!KEY_SHAPE.test(presented) && !this.#keys.some((k) => k.imported)) return undefined;
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
    let signature: string;
    try {
      signature = signatureOf(await Deno.stat(this.path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        this.#apply([], "missing");
        return;
      }
      return new KeyStoreError("keys_unreadable", `Cannot read the key file ${this.path}.`, {
        cause: error,
      });
    }
    if (signature === this.#signature) return;
    let parsed: KeyFile;
    try {
      parsed = parseKeyFile(await Deno.readTextFile(this.path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        this.#apply([], "missing");
        return;
      }
      return error instanceof KeyStoreError ? error : new KeyStoreError(
        "keys_unreadable",
        `The key file ${this.path} is not valid.`,
        { cause: error },
      );
    }
    this.#apply(parsed.keys, signature);
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
    const lock = await Deno.open(`${this.path}.lock`, {
      create: true,
      write: true,
      mode: 0o600,
    });
    try {
      await lock.lock(true);
      this.#signature = ""; // force a re-read under the lock
      const loaded = await this.#load();
      if (loaded instanceof Error) throw loaded;
      const next = change(this.#keys);
      if (next === undefined) return;
      const file: KeyFile = { version: 1, keys: next };
      await writeJsonAtomic(this.path, file);
      this.#apply(next, signatureOf(await Deno.stat(this.path)));
    } finally {
      await lock.unlock().catch(() => {});
      lock.close();
    }
  }
}

/** Atomic writes rename a new file into place, so the inode changes with every write. */
function signatureOf(info: Deno.FileInfo): string {
  return `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
}

function toRecord(k: StoredKey): KeyRecord {
  const record: {
    -readonly [P in keyof KeyRecord]: KeyRecord[P];
  } = { id: k.id, name: k.name, role: k.role, created: k.created };
  if (k.lastUsed !== undefined) record.lastUsed = k.lastUsed;
  if (k.limits !== undefined) record.limits = k.limits;
  if (k.agent !== undefined) record.agent = k.agent;
  if (k.expires !== undefined) record.expires = k.expires;
  if (k.imported) record.imported = true;
  return Object.freeze(record);
}

/**
 * Parses and validates a key file's text.
 *
 * @throws {KeyStoreError} `keys_invalid` when it is not a valid key file.
 */
export function parseKeyFile(text: string): KeyFile {
  const data = JSON.parse(text) as unknown;
  const bad = (why: string) =>
    new KeyStoreError("keys_invalid", `The key file is not valid: ${why}.`, {
      fix: "Restore it from a backup or remove it and create new keys.",
    });
  if (typeof data !== "object" || data === null || !Array.isArray((data as KeyFile).keys)) {
    throw bad("no `keys` list");
  }
  const keys: StoredKey[] = [];
  for (const raw of (data as { keys: unknown[] }).keys) {
    const k = raw as Partial<StoredKey>;
    if (typeof k !== "object" || k === null) throw bad("a key entry is not an object");
    if (typeof k.id !== "string" || k.id === "") throw bad("a key has no id");
    if (typeof k.sha256 !== "string" || !HEX64.test(k.sha256)) {
      throw bad(`key ${k.id} has no valid sha256`);
    }
    if (k.role !== "owner" && k.role !== "client") throw bad(`key ${k.id} has an unknown role`);
    const limits = k.limits;
    if (limits !== undefined) {
      if (typeof limits !== "object" || limits === null) throw bad(`key ${k.id} has bad limits`);
      for (const v of Object.values(limits)) {
        if (typeof v !== "number" || !(v >= 0)) throw bad(`key ${k.id} has bad limits`);
      }
    }
    if (k.agent !== undefined && (typeof k.agent !== "string" || !AGENT_ID.test(k.agent))) {
      throw bad(`key ${k.id} has a bad agent id`);
    }
    if (
      k.expires !== undefined &&
      (typeof k.expires !== "string" || Number.isNaN(Date.parse(k.expires)))
    ) {
      throw bad(`key ${k.id} has a bad expiry`);
    }
    keys.push({
      id: k.id,
      name: typeof k.name === "string" ? k.name : k.id,
      role: k.role,
      created: typeof k.created === "string" ? k.created : new Date(0).toISOString(),
      ...(typeof k.lastUsed === "string" ? { lastUsed: k.lastUsed } : {}),
      ...(limits ? { limits } : {}),
      ...(k.agent !== undefined ? { agent: k.agent } : {}),
      ...(k.expires !== undefined ? { expires: k.expires } : {}),
      sha256: k.sha256,
      ...(k.imported === true ? { imported: true as const } : {}),
    });
  }
  return { version: 1, keys };
}
