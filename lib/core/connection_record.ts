/**
 * The record of what ecto created on this machine, so `disconnect` removes
 * exactly that and nothing else, and `status` knows which route is ours.
 * Written atomically after each step that creates something.
 *
 * @module
 */
import {
  ensurePrivateDir,
  readJsonIfExists,
  removeIfExists,
  writeJsonAtomic,
} from "./atomic_file.ts";
import type { EctoPaths } from "./paths.ts";

/** What ecto created. Every field is optional: a half-finished connect records what it got to. */
export interface ConnectionRecord {
  /** The node's DNS name when the route was made. */
  dnsName?: string;
  /** The HTTPS port ecto's route is on (a Funnel port, or the Serve port in private mode). */
  funnelPort?: number;
  /** `private`: the route is Serve only (tailnet); `public` (or absent): Funnel. */
  mode?: "public" | "private";
  /** The exact proxy target of ecto's route (the edge), e.g. `http://127.0.0.1:18795`. */
  funnelTarget?: string;
  /** Where the edge listens. */
  edgeListen?: string;
  /** How the edge is supervised. */
  supervisor?: string;
  /** The gateway port the edge forwards to. */
  gatewayPort?: number;
  /** When the connection was first made (ISO-8601). */
  created?: string;
  /** When connect last completed (ISO-8601). */
  updated?: string;
  /**
   * A take-over of a directly published gateway. Its changes are safety
   * fixes: `disconnect --purge` never undoes them (no direct route, no
   * `gateway.tailscale.mode`, no return to the public credential).
   */
  takeover?: {
    /** When (ISO-8601). */
    at: string;
    /** How many routes straight to the gateway were removed or dropped. */
    removedRoutes: number;
    /** `gateway.tailscale.mode` was turned off. */
    tailscaleModeOff: boolean;
    /** The public credential was replaced. */
    credentialRotated: boolean;
  };
}

/** Reads the record; an empty one when there is none. */
export async function readConnectionRecord(paths: EctoPaths): Promise<ConnectionRecord> {
  return (await readJsonIfExists<ConnectionRecord>(paths.connectionFile)) ?? {};
}

/** Merges `patch` into the record and writes it atomically (0600 in a 0700 dir). */
export async function updateConnectionRecord(
  paths: EctoPaths,
  patch: Partial<ConnectionRecord>,
): Promise<ConnectionRecord> {
  await ensurePrivateDir(paths.stateDir);
  const next = { ...(await readConnectionRecord(paths)), ...patch };
  for (const [k, v] of Object.entries(next)) {
    if (v === undefined) delete (next as Record<string, unknown>)[k];
  }
  await writeJsonAtomic(paths.connectionFile, next);
  return next;
}

/** Deletes the record (disconnect). */
export async function removeConnectionRecord(paths: EctoPaths): Promise<void> {
  await removeIfExists(paths.connectionFile);
}
