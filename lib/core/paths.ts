/**
 * Where ecto keeps its files. Pure: everything is computed from an
 * environment lookup so tests can point it at a throwaway HOME.
 *
 * @module
 */

/** A read-only view of environment variables (Deno.env.get in production). */
export type EnvLookup = (name: string) => string | undefined;

/** ecto's own files. */
export interface EctoPaths {
  /** The user's home directory. */
  home: string;
  /** ecto's state directory (0700): keys, snapshots, edge pidfile, audit log. */
  stateDir: string;
  /** Client key store (hashes only), 0600. */
  keysFile: string;
  /** The owner key in clear, 0600, so a re-run of connect can print it again. */
  ownerKeyFile: string;
  /** Snapshot of every OpenClaw key ecto changed, for undo. 0600. */
  openclawSnapshotFile: string;
  /** What ecto created (funnel route, edge service), for disconnect. */
  connectionFile: string;
  /** Lock file that stops two connect/disconnect runs from interleaving. */
  lockFile: string;
  /** Edge audit log (JSON lines, rotated). */
  auditLog: string;
  /** Usage per key and UTC day (SQLite, WAL; the edge writes, `ecto usage` reads), 0600. */
  usageDb: string;
  /** Edge stdout/stderr log. */
  edgeLog: string;
  /** Pidfile of a detached edge. */
  edgePidFile: string;
  /** Edge settings (listen address, upstream) the supervisor runs with. */
  edgeConfigFile: string;
  /** The seed's credentials file, kept for existing scripts: `~/.openclaw/ecto-credentials.json`. */
  credentialsFile: string;
}

/** Computes ecto's paths. `ECTO_STATE_DIR` overrides the state directory. */
export function ectoPaths(env: EnvLookup): EctoPaths {
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) throw new Error("HOME is not set");
  const stateDir = env("ECTO_STATE_DIR") ?? `${home}/.ecto`;
  return {
    home,
    stateDir,
    keysFile: `${stateDir}/keys.json`,
    ownerKeyFile: `${stateDir}/owner-key`,
    openclawSnapshotFile: `${stateDir}/openclaw-snapshot.json`,
    connectionFile: `${stateDir}/connection.json`,
    lockFile: `${stateDir}/ecto.lock`,
    auditLog: `${stateDir}/audit.log`,
    usageDb: `${stateDir}/usage.db`,
    edgeLog: `${stateDir}/edge.log`,
    edgePidFile: `${stateDir}/edge.pid`,
    edgeConfigFile: `${stateDir}/edge.json`,
    credentialsFile: `${home}/.openclaw/ecto-credentials.json`,
  };
}
