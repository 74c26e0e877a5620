/**
 * The stored record of a key as the store changes it: a new key, an adopted
 * secret, an edit of its binding, expiry or limits, and `lastUsed` times
 * written in a batch. Pure: the store runs these under its file lock.
 *
 * @module
 */
import type { KeyRole, StoredKey } from "./_key_file.ts";
import { KeyStoreError } from "./errors.ts";
import { generateId } from "./_key_values.ts";
import type { KeyLimits } from "./limits.ts";

/** Options of `KeyStore.create` (and `KeyStore.importKey`). */
export interface CreateKeyOptions {
  /** Default `client`. There is at most one owner key. */
  role?: KeyRole;
  /** Limits overriding the role's defaults. */
  limits?: KeyLimits;
  /** The agent the key is bound to (see `KeyRecord.agent`). */
  agent?: string;
  /** ISO 8601 expiry time. */
  expires?: string;
}

/** What `KeyStore.update` may change on a key. */
export interface KeyEdit {
  /** Bind the key to this agent id. */
  agent?: string;
  /** A new expiry (ISO 8601), or `null` for none. */
  expires?: string | null;
  /** Limits to set (merged over the key's own); a `0` removes that limit (back to the default). */
  limits?: KeyLimits;
}

/** A key id no key in `keys` has. */
function freshId(keys: StoredKey[]): string {
  let id = generateId();
  while (keys.some((k) => k.id === id)) id = generateId();
  return id;
}

/**
 * The record of a new key named `name` (already checked) with digest `sha256`.
 *
 * @throws {KeyStoreError} `owner_key_exists` when `keys` already has an owner key.
 */
export function newKey(
  keys: StoredKey[],
  args: { name: string; sha256: string; options: CreateKeyOptions; now: () => number },
): StoredKey {
  const { name, sha256, options } = args;
  const role = options.role ?? "client";
  if (role === "owner" && keys.some((k) => k.role === "owner" && !k.imported)) {
    throw new KeyStoreError("owner_key_exists", "There is already an owner key.", {
      fix: "Revoke the current owner key first (ecto keys revoke <id>).",
    });
  }
  const id = freshId(keys);
  return {
    id,
    name,
    role,
    created: new Date(args.now()).toISOString(),
    ...(options.limits ? { limits: { ...options.limits } } : {}),
    ...(options.agent !== undefined ? { agent: options.agent } : {}),
    ...(options.expires !== undefined
      ? { expires: new Date(Date.parse(options.expires)).toISOString() }
      : {}),
    sha256,
  };
}

/** The record of an adopted secret with digest `sha256`: any shape, never the owner key. */
export function importedKey(
  keys: StoredKey[],
  args: { name: string; sha256: string; options: CreateKeyOptions; now: () => number },
): StoredKey {
  const { name, sha256, options } = args;
  const id = freshId(keys);
  return {
    id,
    name,
    role: options.role ?? "client",
    created: new Date(args.now()).toISOString(),
    ...(options.limits ? { limits: { ...options.limits } } : {}),
    ...(options.agent ? { agent: options.agent } : {}),
    ...(options.expires ? { expires: options.expires } : {}),
    sha256,
    imported: true,
  };
}

/** `key` with `edit` applied (`edit` already checked). */
export function editedKey(key: StoredKey, edit: KeyEdit): StoredKey {
  const next: StoredKey = { ...key };
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
  return next;
}

/** `keys` with the `lastUsed` times in `used` (id → epoch ms), or `undefined` when none is newer. */
export function withLastUsed(
  keys: StoredKey[],
  used: ReadonlyMap<string, number>,
): StoredKey[] | undefined {
  let changed = false;
  const next = keys.map((k) => {
    const at = used.get(k.id);
    if (at === undefined) return k;
    const iso = new Date(at).toISOString();
    if (k.lastUsed !== undefined && k.lastUsed >= iso) return k;
    changed = true;
    return { ...k, lastUsed: iso };
  });
  return changed ? next : undefined;
}
