/**
 * The owner key: reused while it is valid, reissued on `--regenerate-token`.
 * The key store keeps only hashes; the owner's cleartext lives in its own 0600
 * file so a repeat connect can print the same summary.
 *
 * @module
 */
import { ensurePrivateDir, removeIfExists, writeFileAtomic } from "../atomic_file.ts";
import type { EctoContext } from "../context.ts";
import { KeyStore } from "../edge/keys.ts";
import type { KeysLayer, OwnerKey, StepResult } from "../layers.ts";

async function readOwnerKey(path: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(path)).trim() || undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Builds the keys layer. */
export function keysLayer(): KeysLayer {
  return {
    async ensureOwner(ctx: EctoContext, options: { regenerate: boolean }): Promise<OwnerKey> {
      await ensurePrivateDir(ctx.paths.stateDir);
      await using store = await KeyStore.open(ctx.paths.keysFile);
      const owner = await store.owner();
      const clear = await readOwnerKey(ctx.paths.ownerKeyFile);
      const valid = owner && clear ? (await store.verify(clear))?.id === owner.id : false;
      if (owner && valid && !options.regenerate) {
        return { id: owner.id, key: clear!, detail: `Reusing the owner key ${owner.id}.` };
      }
      // Revoke first: the store holds one owner key, and the old key must stop working now.
      if (owner) await store.revoke(owner.id);
      const created = await store.create("owner", { role: "owner" });
      await writeFileAtomic(ctx.paths.ownerKeyFile, created.key + "\n", 0o600);
      const why = options.regenerate
        ? `Issued a new owner key ${created.id}${owner ? ` and revoked ${owner.id}` : ""}.`
        : owner
        ? `Issued a new owner key ${created.id} (the old one's secret was lost; ${owner.id} revoked).`
        : `Issued the owner key ${created.id}.`;
      return { id: created.id, key: created.key, changed: true, detail: why };
    },

    async purge(ctx: EctoContext): Promise<StepResult> {
      const removed = [
        await removeIfExists(ctx.paths.keysFile),
        await removeIfExists(ctx.paths.ownerKeyFile),
      ];
      return removed.some(Boolean)
        ? { changed: true, detail: "Deleted ecto's client keys." }
        : { detail: "No client keys." };
    },
  };
}
