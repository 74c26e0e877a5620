/**
 * The reverse of a plan, pure: the patch that restores ecto's snapshot, the
 * settings it leaves, and what it takes to be live. Undo writes it; the same
 * rules as the plan decide the restart.
 *
 * @module
 */
import type { EnvLookup } from "../core/paths.ts";
import { type GatewaySettings, inspectGatewaySettings } from "./settings.ts";
import { getPath } from "./config.ts";
import { applyMergePatch, setPath } from "./merge_patch.ts";
import type { OpenClawSnapshot } from "./snapshot.ts";
import { GATEWAY_PATHS as P, type RestartKind } from "./plan_changes.ts";

/** The `config patch` document that restores a snapshot: old values back, `null` for absent. Pure. */
export function undoPatch(snapshot: OpenClawSnapshot): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const entry of snapshot.entries) {
    setPath(
      patch,
      entry.path,
      entry.absent || entry.redacted ? null : structuredClone(entry.value),
    );
  }
  return patch;
}

/** Restoring a snapshot, worked out before anything is written. */
export interface UndoPlan {
  /** The patch to write ({@link undoPatch}). */
  patch: Record<string, unknown>;
  /** The settings once it is written. */
  after: GatewaySettings;
  /** What it takes to be live ({@link undoRestartKind}). */
  restart: RestartKind;
}

/** Plans restoring `snapshot` onto `config`: patch, resulting settings, restart. Pure. */
export function planUndo(
  config: Record<string, unknown>,
  snapshot: OpenClawSnapshot,
  env: EnvLookup = () => undefined,
): UndoPlan {
  const patch = undoPatch(snapshot);
  const restored = applyMergePatch(config, patch);
  const a = inspectGatewaySettings(config, env);
  const b = inspectGatewaySettings(restored, env);
  let restart: RestartKind = "none";
  if (a.bind !== b.bind || a.customBindHost !== b.customBindHost) restart = "full";
  else if (
    b.effectiveAuthMode === "token" && b.token.state === "absent" && a.token.state !== "absent"
  ) {
    restart = "restart";
  } else if (getPath(config, P.authMode) !== getPath(restored, P.authMode)) restart = "automatic";
  return { patch, after: b, restart };
}

/**
 * What restoring the snapshot needs to be live (same rules as the plan): bind
 * change → `full`; a token removed while token auth stays → `restart` (a
 * running gateway refuses to hot-reload a token-mode config without a token:
 * "config reload failed: gateway auth mode is token, but no token was
 * configured", and keeps the old config); auth mode change → `automatic`;
 * otherwise `none`. Pure.
 */
export function undoRestartKind(
  config: Record<string, unknown>,
  snapshot: OpenClawSnapshot,
  env: EnvLookup = () => undefined,
): RestartKind {
  return planUndo(config, snapshot, env).restart;
}
