/**
 * Applying a plan: snapshot first (ecto's own 0600 file), one validated
 * write (the running gateway's config API, or `openclaw config patch --stdin`
 * when it is down), then restart only if the plan needs it, and probe until
 * the change is live instead of trusting the writer's hint. Undo is
 * `undo.ts`; making a change live, `live.ts`.
 *
 * @module
 */
import { ensurePrivateDir, writeJsonAtomic } from "../core/atomic_file.ts";
import { ignoreEvents } from "../core/events.ts";
import { ectoPaths } from "../core/paths.ts";
import { assertConfigChangeable } from "./cli.ts";
import { restartAfterWrite, writeOpenClawConfig } from "./config_writer.ts";
import {
  type GatewayApiProbe,
  type GatewayDeps,
  gatewayHealth,
  gatewayRunning,
  probeGatewayApi,
} from "./gateway_health.ts";
import type { RestartResult } from "./gateway.ts";
import type { OpenClawPlan } from "./plan.ts";
import { mergeSnapshot, readSnapshot } from "./snapshot.ts";
import { type ApplyOptions, expectedApiState, makeLive } from "./live.ts";

/** What {@link applyOpenClawPlan} did, with timings. */
export interface ApplyResult {
  /** Whether the config was written. */
  changed: boolean;
  /** ecto's snapshot of the pre-ecto values. */
  snapshotPath: string;
  /** `openclaw config patch` wall time. */
  cliMs?: number;
  /** Who wrote the config: the running gateway's API or the CLI (`cliMs` is its time). */
  writer?: "gateway" | "cli";
  /** The CLI's hint (a prediction only). */
  cliMessage?: string;
  /** From the CLI's exit until the probe saw the change (includes any restart). */
  liveMs?: number;
  /** The restart ecto did, if any. */
  restart?: RestartResult;
  /** Whether the gateway was running; when not, the change applies when it starts. */
  gatewayRunning: boolean;
  /** The last API probe (`state: "ok"` when live). */
  probe?: GatewayApiProbe;
}

/**
 * Applies a plan: refuses read-only/unwritable configs before writing
 * anything; writes the snapshot (keeping the ORIGINAL values of an earlier
 * ecto run); runs ONE `openclaw config patch --stdin`; restarts only when the
 * plan says so; then probes `GET /v1/models` until the change is live
 * (bounded, reported as progress events). When the gateway is not running the
 * change simply applies at its next start (`gatewayRunning: false`).
 *
 * @throws {ActionRequiredError} read-only/Nix-managed config (nothing written).
 * @throws {EctoError} unwritable config (nothing written), change not live in time.
 * @throws {ToolError} the CLI refused the patch (snapshot rolled back).
 */
export async function applyOpenClawPlan(
  deps: GatewayDeps,
  plan: OpenClawPlan,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const events = deps.events ?? ignoreEvents;
  const now = deps.now ?? Date.now;
  const paths = ectoPaths(deps.env);
  const secrets = [plan.credential.value];
  const step = "openclaw.configure";

  if (Object.keys(plan.patch).length === 0) {
    events({ kind: "step", step, status: "skip", detail: "OpenClaw is already configured" });
    const health = await gatewayHealth(deps.fetch, plan.url);
    return {
      changed: false,
      snapshotPath: paths.openclawSnapshotFile,
      gatewayRunning: health.live,
      ...(health.live
        ? { probe: await probeGatewayApi(deps.fetch, plan.url, plan.credential.value) }
        : {}),
    };
  }

  const keys = plan.changes.map((c) => c.path.join("."));
  await assertConfigChangeable(deps.env, plan.configPath, keys);

  events({
    kind: "step",
    step,
    status: "start",
    detail: `changing ${keys.join(", ")} in ${plan.configPath}`,
  });

  // 1. Snapshot first.
  const previous = await readSnapshot(paths.openclawSnapshotFile);
  const snapshot = mergeSnapshot(previous, plan.snapshot, plan.configPath, new Date(now()));
  await ensurePrivateDir(paths.stateDir);
  // A take-over's changes are not undone: with nothing else changed there is nothing to restore.
  if (snapshot.entries.length > 0) await writeJsonAtomic(paths.openclawSnapshotFile, snapshot);

  // 2. One validated write.
  let patched;
  try {
    patched = await writeOpenClawConfig(
      deps,
      {
        cli: opts.cli,
        url: plan.url,
        credentials: [plan.before.credential, plan.credential],
        authNone: plan.before.effectiveAuthMode === "none",
      },
      plan.patch,
      { secrets, configPath: plan.configPath },
    );
  } catch (error) {
    if (previous) await writeJsonAtomic(paths.openclawSnapshotFile, previous);
    else await Deno.remove(paths.openclawSnapshotFile).catch(() => {});
    throw error;
  }
  const cliExit = now();
  events({ kind: "step", step, status: "done", detail: patched.message || "config patched" });

  // 3. Live?
  if (!(await gatewayRunning(deps.fetch, plan.url))) {
    events({
      kind: "note",
      step,
      level: "info",
      message: "The gateway is not running; the change applies when it starts.",
    });
    return {
      changed: true,
      snapshotPath: paths.openclawSnapshotFile,
      cliMs: patched.ms,
      writer: patched.via,
      cliMessage: patched.message,
      gatewayRunning: false,
    };
  }
  const live = await makeLive(deps, opts, {
    url: plan.url,
    restart: restartAfterWrite(plan.restart, patched),
    credential: plan.credential.value,
    want: expectedApiState(plan.after),
    step: "openclaw.live",
    secrets,
  });
  return {
    changed: true,
    snapshotPath: paths.openclawSnapshotFile,
    cliMs: patched.ms,
    writer: patched.via,
    cliMessage: patched.message,
    liveMs: now() - cliExit,
    gatewayRunning: true,
    probe: live.probe,
    ...(live.restart ? { restart: live.restart } : {}),
  };
}
