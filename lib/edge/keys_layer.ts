/**
 * The owner key: reused while it is valid, reissued on `--regenerate-token`.
 * The key store keeps only hashes; the owner's cleartext lives in its own 0600
 * file so a repeat connect can print the same summary.
 *
 * @module
 */
import { ensurePrivateDir, removeIfExists, writeFileAtomic } from "../core/atomic_file.ts";
import type { EctoContext } from "../core/context.ts";
import { isAgentId, KeyStore } from "./keys.ts";
import { ActionRequiredError, UsageError } from "../core/errors.ts";
import type { KeysLayer, OwnerKey, StepResult } from "../core/layer_types.ts";
import { locateOpenClaw } from "../openclaw/cli.ts";
import { readOpenClawConfig } from "../openclaw/config.ts";
import { resolveOpenClawLocation } from "../openclaw/location.ts";
import {
  agentIds,
  confinedAgentRecordPath,
  ownerAgentId,
  removeConfinedAgent,
} from "../openclaw/confined_agent.ts";

/** The owner's agent: `requested` (checked against OpenClaw's config) or the owner's default. */
async function ownerAgent(ctx: EctoContext, requested: string | undefined): Promise<string> {
  const location = resolveOpenClawLocation(ctx.env);
  const config = (await readOpenClawConfig(location.configPath)).config;
  if (requested !== undefined) {
    const id = requested.trim().toLowerCase();
    if (!isAgentId(id) || !agentIds(config).includes(id)) {
      throw new UsageError(
        `OpenClaw has no agent "${requested}" (it has ${agentIds(config).join(", ")}).`,
        { fix: "openclaw agents list" },
      );
    }
    return id;
  }
  const id = ownerAgentId(config);
  if (id === undefined) {
    throw new ActionRequiredError(
      "owner_agent_unknown",
      `OpenClaw has several agents (${
        agentIds(config).join(", ")
      }) and none is the default, so ecto cannot tell which one the owner key should reach.`,
      { fix: "ecto connect --agent <id>" },
    );
  }
  return id;
}

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
    async ensureOwner(
      ctx: EctoContext,
      options: { regenerate: boolean; agent?: string | undefined },
    ): Promise<OwnerKey> {
      await ensurePrivateDir(ctx.paths.stateDir);
      const agent = await ownerAgent(ctx, options.agent);
      await using store = await KeyStore.open(ctx.paths.keysFile);
      const owner = await store.owner();
      const clear = await readOwnerKey(ctx.paths.ownerKeyFile);
      const valid = owner && clear ? (await store.verify(clear))?.id === owner.id : false;
      if (owner && valid && !options.regenerate) {
        if (owner.agent === agent) {
          return {
            id: owner.id,
            key: clear!,
            detail: `Reusing the owner key ${owner.id} (agent ${agent}).`,
          };
        }
        await store.update(owner.id, { agent });
        return {
          id: owner.id,
          key: clear!,
          changed: true,
          detail: `Bound the owner key ${owner.id} to the agent ${agent}.`,
        };
      }
      // Revoke first: the store holds one owner key, and the old key must stop working now.
      if (owner) await store.revoke(owner.id);
      const created = await store.create("owner", { role: "owner", agent });
      await writeFileAtomic(ctx.paths.ownerKeyFile, created.key + "\n", 0o600);
      const why = options.regenerate
        ? `Issued a new owner key ${created.id}${owner ? ` and revoked ${owner.id}` : ""}.`
        : owner
        ? `Issued a new owner key ${created.id} (the old one's secret was lost; ${owner.id} revoked).`
        : `Issued the owner key ${created.id}.`;
      return { id: created.id, key: created.key, changed: true, detail: why };
    },

    async purge(ctx: EctoContext): Promise<StepResult> {
      // The confined agent first: while it exists its keys' holders have somewhere to go.
      let agentNote: string | undefined;
      const recordPath = confinedAgentRecordPath(ctx.paths.stateDir);
      if (await Deno.stat(recordPath).then(() => true, () => false)) {
        const location = resolveOpenClawLocation(ctx.env);
        agentNote = await removeConfinedAgent({
          $: ctx.$,
          env: ctx.env,
          cli: await locateOpenClaw(ctx.env),
          readConfig: async () => (await readOpenClawConfig(location.configPath)).config,
          recordPath,
          now: ctx.now,
        });
      }
      const removed = [
        await removeIfExists(ctx.paths.keysFile),
        await removeIfExists(ctx.paths.ownerKeyFile),
      ];
      // The keys' usage goes with them (the edge, its one writer, is stopped by now).
      const usage = [
        await removeIfExists(ctx.paths.usageDb),
        await removeIfExists(`${ctx.paths.usageDb}-wal`),
        await removeIfExists(`${ctx.paths.usageDb}-shm`),
      ];
      const detail = (removed.some(Boolean) ? "Deleted ecto's client keys." : "No client keys.") +
        (usage.some(Boolean) ? " Deleted their usage (usage.db)." : "");
      return removed.some(Boolean) || agentNote
        ? { changed: true, detail: agentNote ? `${agentNote} ${detail}` : detail }
        : { detail };
    },
  };
}
