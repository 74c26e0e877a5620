/**
 * `ecto keys`: give each person or app a key of its own, list them, revoke
 * one. The edge picks every change up on its next request.
 *
 * @module
 */
import { ensurePrivateDir } from "./atomic_file.ts";
import { EctoError, UsageError } from "./errors.ts";
import { type CreatedKey, type KeyRecord, KeyStore } from "./edge/keys.ts";
import type { KeyLimits } from "./edge/limits.ts";
import type { EctoPaths } from "./paths.ts";

/** Every key's record (never a secret), oldest first. */
export async function listKeys(paths: EctoPaths): Promise<KeyRecord[]> {
  await using store = await KeyStore.open(paths.keysFile);
  return await store.list();
}

/** Adds a client key named `name`; its cleartext is returned once and stored nowhere. */
export async function addKey(
  paths: EctoPaths,
  name: string,
  limits?: KeyLimits,
): Promise<CreatedKey> {
  await ensurePrivateDir(paths.stateDir);
  await using store = await KeyStore.open(paths.keysFile);
  return await store.create(name, { role: "client", ...(limits ? { limits } : {}) });
}

/** Revokes key `id`. The owner key is renewed with `ecto connect --regenerate-token` instead. */
export async function revokeKey(paths: EctoPaths, id: string): Promise<KeyRecord> {
  await using store = await KeyStore.open(paths.keysFile);
  const record = (await store.list()).find((k) => k.id === id);
  if (!record) {
    throw new UsageError(`There is no key with id ${id}.`, { fix: "ecto keys list" });
  }
  if (record.role === "owner") {
    throw new EctoError(
      "owner_key",
      "The owner key is not revoked on its own: connect would have no key to print.",
      {
        fix: "ecto connect --regenerate-token (issues a new owner key and revokes this one)",
      },
    );
  }
  await store.revoke(id);
  return record;
}
