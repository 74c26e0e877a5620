/**
 * ecto's own record of the pre-ecto value of every OpenClaw key it changed:
 * its shape, how a new run adds to it without losing the ORIGINAL values, and
 * reading it back from its 0600 file. Apply writes it before the config, undo
 * restores from it; secrets are never recorded (undo deletes such keys).
 *
 * @module
 */
import { readJsonIfExists } from "../core/atomic_file.ts";
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import { ectoPaths, type EnvLookup } from "../core/paths.ts";
import { getPath, hasPath, isRecord } from "./config.ts";

/** One key ecto changes, with its value before (for undo). Secrets never appear. */
export interface SnapshotEntry {
  /** Config path as keys, e.g. `["gateway","http","endpoints","chatCompletions","enabled"]`. */
  path: string[];
  /** The key did not exist before ecto (undo deletes it). */
  absent?: true;
  /** The old value was a secret; it is not stored (undo deletes the key). */
  redacted?: true;
  /** The old value (when neither `absent` nor `redacted`). */
  value?: unknown;
}

/** ecto's own record of the pre-ecto values of every OpenClaw key it changed. */
export interface OpenClawSnapshot {
  /** Format version. */
  version: 1;
  /** The config file these values belong to. */
  configPath: string;
  /** When ecto first changed the config (ISO time). */
  createdAt: string;
  /** When ecto last added to the snapshot (ISO time). */
  updatedAt: string;
  /** One entry per key ecto changed. */
  entries: SnapshotEntry[];
}

/** The snapshot entry for changing `path` in `config`: its old value, or its topmost absent ancestor. */
export function snapshotEntryFor(
  config: Record<string, unknown>,
  path: readonly string[],
  secret: boolean,
): SnapshotEntry {
  for (let i = 1; i <= path.length; i++) {
    if (!hasPath(config, path.slice(0, i))) return { path: path.slice(0, i), absent: true };
  }
  if (secret) return { path: [...path], redacted: true };
  return { path: [...path], value: structuredClone(getPath(config, path)) };
}

/** Whether two config paths are the same key. */
export function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function isPrefix(prefix: readonly string[], path: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((k, i) => k === path[i]);
}

/**
 * Merges new snapshot entries into the snapshot of an earlier ecto run: an
 * entry already recorded keeps its ORIGINAL (pre-ecto) value; a new entry
 * overlapping a recorded one is dropped. Pure.
 *
 * @throws {ActionRequiredError} when the earlier snapshot is for another config file.
 */
export function mergeSnapshot(
  existing: OpenClawSnapshot | undefined,
  entries: SnapshotEntry[],
  configPath: string,
  now: Date,
): OpenClawSnapshot {
  if (existing && existing.configPath !== configPath) {
    throw new ActionRequiredError(
      "openclaw_snapshot_other_config",
      `ecto already changed another OpenClaw config (${existing.configPath}); undo that first.`,
      { fix: "Run `ecto disconnect` with that OpenClaw environment, then connect again." },
    );
  }
  const merged: SnapshotEntry[] = existing ? existing.entries.map((e) => structuredClone(e)) : [];
  for (const entry of entries) {
    const overlaps = merged.some((e) =>
      isPrefix(e.path, entry.path) || isPrefix(entry.path, e.path)
    );
    if (!overlaps) merged.push(structuredClone(entry));
  }
  return {
    version: 1,
    configPath,
    createdAt: existing?.createdAt ?? now.toISOString(),
    updatedAt: now.toISOString(),
    entries: merged,
  };
}

/** Validates a snapshot read from disk (shape only). */
export function isOpenClawSnapshot(value: unknown): value is OpenClawSnapshot {
  return isRecord(value) && value.version === 1 && typeof value.configPath === "string" &&
    Array.isArray(value.entries) &&
    value.entries.every((e) =>
      isRecord(e) && Array.isArray(e.path) && e.path.every((k) => typeof k === "string")
    );
}

/**
 * Reads the snapshot at `path` (`undefined` when there is none).
 *
 * @throws {EctoError} `ecto_snapshot_invalid` when it is corrupt or not a snapshot.
 */
export async function readSnapshot(path: string): Promise<OpenClawSnapshot | undefined> {
  let value: unknown;
  try {
    value = await readJsonIfExists<unknown>(path);
  } catch (error) {
    throw new EctoError("ecto_snapshot_invalid", `ecto's OpenClaw snapshot ${path} is corrupt.`, {
      fix: `Inspect ${path}; restore the keys it lists by hand, then delete it.`,
      cause: error,
    });
  }
  if (value === undefined) return undefined;
  if (!isOpenClawSnapshot(value)) {
    throw new EctoError("ecto_snapshot_invalid", `ecto's OpenClaw snapshot ${path} is not valid.`, {
      fix: `Inspect ${path}; restore the keys it lists by hand, then delete it.`,
    });
  }
  return value;
}

/** Reads ecto's OpenClaw snapshot (`undefined` when ecto changed nothing). */
export function readOpenClawSnapshot(env: EnvLookup): Promise<OpenClawSnapshot | undefined> {
  return readSnapshot(ectoPaths(env).openclawSnapshotFile);
}
