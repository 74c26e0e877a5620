/**
 * Undoing what ecto changed in OpenClaw: exactly the snapshotted keys, back
 * to their pre-ecto values with one write, live before the snapshot is
 * deleted (so an interrupted undo can be re-run).
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import { ignoreEvents } from "../core/events.ts";
import { ectoPaths } from "../core/paths.ts";
import { assertConfigChangeable } from "./cli.ts";
import { restartAfterWrite, writeOpenClawConfig } from "./config_writer.ts";
import { type GatewayApiProbe, type GatewayDeps, gatewayRunning } from "./gateway_health.ts";
import type { RestartResult } from "./gateway.ts";
import { readSnapshot } from "./snapshot.ts";
import { planUndo } from "./undo_patch.ts";
import { loadOpenClaw, type OpenClawState } from "./load.ts";
import { type ApplyOptions, expectedApiState, makeLive } from "./live.ts";

/** What {@link undoOpenClaw} did. */
export interface UndoResult {
  /** `false`: there was no snapshot (ecto changed nothing). */
  restored: boolean;
  /** The keys written back. */
  keys: string[];
  /** `openclaw config patch` wall time. */
  cliMs?: number;
  /** Who wrote the config. */
  writer?: "gateway" | "cli";
  /** From the CLI's exit until the gateway showed the change. */
  liveMs?: number;
  /** The restart ecto did, if any. */
  restart?: RestartResult;
  /** Whether the gateway was running. */
  gatewayRunning?: boolean;
  /** The last API probe. */
  probe?: GatewayApiProbe;
}

/**
 * Restores exactly the snapshotted keys (old values back, `null` for what was
 * absent) with one patch, waits until the gateway shows it, then deletes the
 * snapshot.
 *
 * @throws {ActionRequiredError} the snapshot is for another config, or the config is read-only.
 * @throws {EctoError} unparsable/unwritable config, change not live in time.
 */
export async function undoOpenClaw(
  deps: GatewayDeps,
  opts: ApplyOptions & { state?: OpenClawState },
): Promise<UndoResult> {
  const events = deps.events ?? ignoreEvents;
  const now = deps.now ?? Date.now;
  const paths = ectoPaths(deps.env);
  const step = "openclaw.undo";
  const snapshot = await readSnapshot(paths.openclawSnapshotFile);
  if (!snapshot || snapshot.entries.length === 0) {
    if (snapshot) await Deno.remove(paths.openclawSnapshotFile).catch(() => {});
    events({ kind: "step", step, status: "skip", detail: "ecto changed nothing in OpenClaw" });
    return { restored: false, keys: [] };
  }
  const state = opts.state ?? await loadOpenClaw(deps, { cli: opts.cli });
  if (state.location.configPath !== snapshot.configPath) {
    throw new ActionRequiredError(
      "openclaw_snapshot_other_config",
      `ecto's snapshot is for ${snapshot.configPath}, but this environment's OpenClaw config is ${state.location.configPath}.`,
      {
        fix:
          `Run ecto with the OpenClaw environment of ${snapshot.configPath} (HOME / OPENCLAW_CONFIG_PATH / OPENCLAW_STATE_DIR).`,
      },
    );
  }
  const keys = snapshot.entries.map((e) => e.path.join("."));
  await assertConfigChangeable(deps.env, snapshot.configPath, keys);

  const { patch, restart, after } = planUndo(state.file.config, snapshot, state.env);
  const secrets = [state.settings.credential?.value ?? "", after.credential?.value ?? ""];
  events({ kind: "step", step, status: "start", detail: `restoring ${keys.join(", ")}` });
  const patched = await writeOpenClawConfig(
    deps,
    {
      cli: opts.cli,
      url: state.settings.url,
      credentials: [state.settings.credential, after.credential],
      authNone: state.settings.effectiveAuthMode === "none",
    },
    patch,
    { secrets, configPath: snapshot.configPath },
  );
  const cliExit = now();
  events({ kind: "step", step, status: "done", detail: patched.message || "config restored" });

  const running = await gatewayRunning(deps.fetch, state.settings.url);
  let result: UndoResult = {
    restored: true,
    keys,
    cliMs: patched.ms,
    writer: patched.via,
    gatewayRunning: running,
  };
  if (running) {
    const want = expectedApiState(after);
    const live = await makeLive(deps, opts, {
      url: after.url,
      restart: restartAfterWrite(restart, patched),
      credential: after.credential?.value,
      // Without a readable credential "ok" cannot be checked; 401 without one is then the sign.
      want: want === "ok" && !after.credential ? "unexpected" : want,
      step: "openclaw.undo",
      secrets,
    }); // on failure the snapshot stays, so a re-run can finish the job
    result = {
      ...result,
      liveMs: now() - cliExit,
      probe: live.probe,
      ...(live.restart ? { restart: live.restart } : {}),
    };
  }
  await Deno.remove(paths.openclawSnapshotFile).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return result;
}
