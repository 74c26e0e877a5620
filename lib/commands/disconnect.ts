/**
 * `ecto disconnect`: removes what ecto created and nothing else. Without
 * `--purge` it keeps keys and gateway settings so a later connect is quick;
 * with `--purge` it also restores the OpenClaw snapshot and deletes ecto's keys
 * and credentials. Safe to run twice, and after a half-finished connect.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { readConnectionRecord, removeConnectionRecord } from "../core/connection_record.ts";
import { credentialsFileFor, removeCredentials } from "../core/credentials.ts";
import { gatewayCredentialFile } from "../edge/token_source.ts";
import { ensurePrivateDir, removeIfExists } from "../core/atomic_file.ts";
import type { Layers, StepResult } from "../core/layer_types.ts";
import { realLayers } from "./real_layers.ts";
import { acquireLock } from "../core/lock.ts";

/** What the user asked for. */
export interface DisconnectOptions {
  /** Also restore the gateway settings and delete keys and credentials. */
  purge: boolean;
}

/** What disconnect did. */
export interface DisconnectResult {
  /** Always true: disconnect throws instead of returning a failure. */
  ok: true;
  /** One sentence per thing removed or restored. */
  actions: string[];
  /** Whether `--purge` ran. */
  purged: boolean;
}

/** Runs disconnect with the real layers or the ones given. */
export async function disconnect(
  ctx: EctoContext,
  options: DisconnectOptions,
  layers?: Layers,
): Promise<DisconnectResult> {
  const l = layers ?? realLayers();
  await ensurePrivateDir(ctx.paths.stateDir);
  await using _lock = await acquireLock(ctx.paths.lockFile, { command: "disconnect", $: ctx.$ });
  const record = await readConnectionRecord(ctx.paths);
  const actions: string[] = [];
  const step = async (id: string, start: string, run: () => Promise<StepResult>) => {
    ctx.events({ kind: "step", step: id, status: "start", detail: start });
    const result = await run();
    ctx.events({
      kind: "step",
      step: id,
      status: result.changed ? "done" : "skip",
      detail: result.detail,
    });
    if (result.changed) actions.push(result.detail);
  };

  // The route first: once it is gone nothing from outside reaches the edge.
  await step(
    "funnel.route",
    record.mode === "private"
      ? "Removing ecto's Serve route (private)"
      : "Removing ecto's Funnel route",
    () => l.tailscale.unpublish(ctx, { port: record.funnelPort, target: record.funnelTarget }),
  );
  await step("edge.remove", "Stopping the edge", () => l.edge.remove(ctx));
  await removeConnectionRecord(ctx.paths);

  if (options.purge) {
    // Keys (and ecto's confined agent, removed through the gateway) while the gateway still
    // runs with the credential ecto knows; then the settings.
    await step("keys.purge", "Deleting ecto's keys and agent", () => l.keys.purge(ctx));
    await step(
      "openclaw.undo",
      "Restoring the gateway settings ecto changed",
      () => l.openclaw.undo(ctx),
    );
    await step("credentials", "Deleting the credentials file", async () => {
      const file = credentialsFileFor(ctx.paths);
      await removeIfExists(gatewayCredentialFile(ctx.paths.stateDir));
      const removed = await removeCredentials(file);
      return removed
        ? { changed: true, detail: `Deleted ${file}.` }
        : { detail: "No credentials file." };
    });
  }
  return { ok: true, actions, purged: options.purge };
}
