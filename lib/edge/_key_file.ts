/**
 * The key file: what the store keeps for each key (its SHA-256 and metadata,
 * never the key), how a file's text is validated, the file identity a store
 * compares to notice another process's write, reading it when that changed,
 * and the exclusive `flock` on `<file>.lock` every read-modify-write holds.
 *
 * @module
 */
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
  /** An existing secret adopted with `KeyStore.importKey` (e.g. the old skill's token). */
  readonly imported?: true;
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
  /** Adopted with `KeyStore.importKey`: any shape, never the owner key. */
  imported?: true;
}

/** The key file: `{ "version": 1, "keys": [...] }`. */
export interface KeyFile {
  /** Format version. */
  version: 1;
  /** Every live key, oldest first. */
  keys: StoredKey[];
}
const HEX64 = /^[0-9a-f]{64}$/;
/** OpenClaw's agent id syntax (`agents.entries` keys), lower-cased as OpenClaw normalises it. */
export const AGENT_ID = /^[a-z0-9_][a-z0-9_-]{0,63}$/;

/** Whether `id` is a valid OpenClaw agent id (lower case, as OpenClaw normalises ids). */
export function isAgentId(id: string): boolean {
  return AGENT_ID.test(id);
}

/** Whether `record` has expired at `now` (epoch ms). */
export function isExpired(record: KeyRecord, now: number): boolean {
  return record.expires !== undefined && !(Date.parse(record.expires) > now);
}

/** Atomic writes rename a new file into place, so the inode changes with every write. */
export function signatureOf(info: Deno.FileInfo): string {
  return `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
}

/** The public record of a stored key (frozen). */
export function toRecord(k: StoredKey): KeyRecord {
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

/**
 * Reads and validates the key file unless its identity is still `known`:
 * `undefined` when unchanged, an empty list when the file is missing, a
 * `KeyStoreError` (returned, not thrown) when it cannot be read or is invalid.
 */
export async function readKeyFile(
  path: string,
  known: string,
): Promise<{ keys: StoredKey[]; signature: string } | undefined | KeyStoreError> {
  let signature: string;
  try {
    signature = signatureOf(await Deno.stat(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return known === "missing" ? undefined : { keys: [], signature: "missing" };
    }
    return new KeyStoreError("keys_unreadable", `Cannot read the key file ${path}.`, {
      cause: error,
    });
  }
  if (signature === known) return undefined;
  try {
    return { keys: parseKeyFile(await Deno.readTextFile(path)).keys, signature };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { keys: [], signature: "missing" };
    return error instanceof KeyStoreError ? error : new KeyStoreError(
      "keys_unreadable",
      `The key file ${path} is not valid.`,
      { cause: error },
    );
  }
}

/** Runs `fn` holding the exclusive lock on `<path>.lock` (created 0600), released afterwards. */
export async function withKeyFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lock = await Deno.open(`${path}.lock`, { create: true, write: true, mode: 0o600 });
  try {
    await lock.lock(true);
    return await fn();
  } finally {
    await lock.unlock().catch(() => {});
    lock.close();
  }
}
