/**
 * How a plan records each change, in one place so the three views never
 * disagree: the merge patch that is written, the display line (secrets
 * replaced), the snapshot entry undo restores (or the path undo must leave
 * alone) — plus the strongest restart any change needs, and why.
 *
 * @module
 */
import { setPath } from "./merge_patch.ts";
import { getPath } from "./config.ts";
import { samePath, type SnapshotEntry, snapshotEntryFor } from "./snapshot.ts";

/**
 * What it takes for a config change to be live:
 * - `none`: hot reload applies it;
 * - `automatic`: the gateway restarts itself in-process after the write (auth mode change);
 * - `restart`: ecto must restart the gateway (a token added to a gateway running on a
 *   runtime-generated one);
 * - `full`: stop the process and start a new one (`gateway.bind`).
 */
export type RestartKind = "none" | "automatic" | "restart" | "full";

const RESTART_ORDER: RestartKind[] = ["none", "automatic", "restart", "full"];

/** The stronger of two restart kinds. */
export function maxRestart(a: RestartKind, b: RestartKind): RestartKind {
  return RESTART_ORDER.indexOf(a) >= RESTART_ORDER.indexOf(b) ? a : b;
}

/** The config keys ecto plans (and undoes) changes to. */
export const GATEWAY_PATHS = {
  chatCompletions: ["gateway", "http", "endpoints", "chatCompletions", "enabled"],
  responses: ["gateway", "http", "endpoints", "responses", "enabled"],
  authMode: ["gateway", "auth", "mode"],
  token: ["gateway", "auth", "token"],
  bind: ["gateway", "bind"],
  trustedProxies: ["gateway", "trustedProxies"],
  password: ["gateway", "auth", "password"],
  tailscaleMode: ["gateway", "tailscale", "mode"],
} as const;

/** One change of the plan, for display. Secret values are replaced by a description. */
export interface PlannedChange {
  /** Config path as keys. */
  path: string[];
  /** Old value, `undefined` when absent, `"<redacted>"` for a secret. */
  from: unknown;
  /** New value, `"<new 64-hex token>"` for a generated token. */
  to: unknown;
}

/** How one change is recorded. */
export interface ChangeOptions {
  /** The value is a secret: shown redacted, snapshotted without its value. */
  secret?: boolean;
  /** Changed for safety: undo leaves it as it is, so it gets no snapshot entry. */
  permanent?: boolean;
}

/** The changes of a plan being built. */
export interface PlanRecorder {
  /** The config the changes are to (read only, for the old values). */
  readonly config: Record<string, unknown>;
  /** The `openclaw config patch` document so far. */
  readonly patch: Record<string, unknown>;
  /** The changes, for display (no secrets). */
  readonly changes: PlannedChange[];
  /** Pre-change values of every key changed that undo restores. */
  readonly snapshot: SnapshotEntry[];
  /** Paths changed that undo leaves as they are. */
  readonly permanent: string[][];
  /** Things worth telling the user. */
  readonly notes: string[];
  /** Why a restart is needed, one sentence per change that needs one. */
  readonly reasons: string[];
  /** The strongest restart the changes so far need. */
  restart: RestartKind;
  /** Sets `path` to `to` (`null` deletes) and records it. */
  change(path: readonly string[], to: unknown, opts?: ChangeOptions): void;
  /** Records that a change needs at least `kind` to be live, and why. */
  needs(kind: RestartKind, reason: string): void;
}

/** A recorder for changes to `config` (read only for the old values). */
export function planRecorder(config: Record<string, unknown>): PlanRecorder {
  const recorder: PlanRecorder = {
    config,
    patch: {},
    changes: [],
    snapshot: [],
    permanent: [],
    notes: [],
    reasons: [],
    restart: "none",
    change(path, to, opts = {}) {
      setPath(recorder.patch, path, to);
      const from = getPath(config, path);
      recorder.changes.push({
        path: [...path],
        from: opts.secret && from !== undefined ? "<redacted>" : from,
        to: opts.secret ? (to === null ? null : "<new 64-hex token>") : to,
      });
      if (opts.permanent) {
        recorder.permanent.push([...path]);
        return;
      }
      const entry = snapshotEntryFor(config, path, opts.secret === true);
      if (!recorder.snapshot.some((e) => samePath(e.path, entry.path))) {
        recorder.snapshot.push(entry);
      }
    },
    needs(kind, reason) {
      recorder.restart = maxRestart(recorder.restart, kind);
      recorder.reasons.push(reason);
    },
  };
  return recorder;
}
