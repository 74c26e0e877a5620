/**
 * `ecto connect`: from "OpenClaw on my machine" to "my assistant's API at a
 * public HTTPS URL with a key". Idempotent steps, each checking before acting
 * and reporting what it found or did; re-running on a connected machine
 * changes nothing, proves the path again and returns the same summary.
 *
 * Orchestration only: it never parses tool output. The layers do the work
 * (see {@link Layers}); `real_layers.ts` binds the real ones. The flow is
 * here; its parts are in `connect_*.ts` beside it (options, steps, Tailscale,
 * take-over, the gateway and edge, records, proof, result).
 *
 * @module
 */
import { ensurePrivateDir } from "../core/atomic_file.ts";
import type { EctoContext } from "../core/context.ts";
import { credentialsFileFor } from "../core/credentials.ts";
import type { Layers } from "../core/layer_types.ts";
import { realLayers } from "./real_layers.ts";
import { acquireLock } from "../core/lock.ts";
import { baseUrl } from "../proof/mod.ts";
import { inspectTakeover } from "./takeover.ts";
import { type ConnectOptions, publishMode } from "./connect_options.ts";
import { type ConnectResult, connectResult } from "./connect_result.ts";
import { stepRunner } from "./connect_steps.ts";
import { readyTailscale } from "./connect_tailscale.ts";
import { keepOldCredential, removeDirectRoutes, takeoverConsent } from "./connect_takeover.ts";
import { configureAndPublish } from "./connect_edge.ts";
import { recordPublished, writeProvenCredentials } from "./connect_records.ts";
import { proveConnection, proveWhileChecking } from "./connect_proof.ts";

/** Runs connect with the real layers or the ones given. */
export async function connect(
  ctx: EctoContext,
  options: ConnectOptions,
  layers?: Layers,
): Promise<ConnectResult> {
  const l = layers ?? realLayers();
  await ensurePrivateDir(ctx.paths.stateDir);
  await using _lock = await acquireLock(ctx.paths.lockFile, { command: "connect", $: ctx.$ });
  const mode = await publishMode(ctx, options);
  const changed: string[] = [];
  const step = stepRunner(ctx, changed);

  const credentialsFile = credentialsFileFor(ctx.paths);
  // (private mode has no public path to prove early)
  const earlyProof = options.restart || mode === "private"
    ? undefined
    : proveWhileChecking(ctx, l, credentialsFile);

  // Preflight: every cheap, read-only check first; nothing is installed or changed until
  // connect knows it can finish (or has said what the user must do first).
  if (l.preflight) {
    await step(
      "preflight",
      "Checking what connect needs",
      (c) =>
        l.preflight!(c, {
          authKey: options.authKey,
          restart: options.restart,
          funnelPort: options.funnelPort,
          keepBind: options.keepBind,
          mode,
        }),
    );
  }

  const node = await readyTailscale(step, l, { options, mode });

  const takeover = await step(
    "takeover.inspect",
    "Looking for routes that publish the gateway itself",
    (c) => inspectTakeover(c, l, { keepBind: options.keepBind, credentialsFile }),
  );
  await takeoverConsent(ctx, takeover.plan, options);

  const owner = await step(
    "keys.owner",
    "Checking the owner key",
    (c) => l.keys.ensureOwner(c, { regenerate: options.regenerateToken, agent: options.agent }),
  );

  const plan = takeover.plan;
  const notes: string[] = [];
  const legacyKeyId = await keepOldCredential(ctx, takeover, { options, notes });
  await removeDirectRoutes(step, l, plan);

  const published = await configureAndPublish(ctx, l, { step, options, mode, node, takeover });
  const { gateway, route } = published;
  await recordPublished(ctx, { node, published, mode, plan, notes });

  const url = baseUrl(node.dnsName, route.port);
  const proof = await proveConnection(ctx, l, {
    url,
    key: owner.key,
    node,
    port: route.port,
    mode,
    timeoutMs: options.proofTimeoutMs,
    early: earlyProof,
    changedAnything: changed.length > 0,
  });

  // Only a proven URL and key reach the file the old skill's scripts read; a failed or
  // interrupted run leaves the previous file as it was (atomic rename).
  await step(
    "credentials",
    "Writing the credentials file",
    () =>
      writeProvenCredentials(ctx, credentialsFile, {
        token: owner.key,
        url,
        port: gateway.port,
        model: gateway.model,
        mode,
      }),
  );

  return connectResult({
    url,
    token: owner.key,
    model: gateway.model,
    funnelPort: route.port,
    mode,
    credentialsFile,
    proof,
    changed,
    notes,
  }, { plan, legacyKeyId });
}
