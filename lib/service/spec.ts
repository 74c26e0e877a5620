/**
 * The one description every supervisor's unit is generated from, the
 * dependencies the supervisor functions take, and the checks a description
 * must pass before anything is written.
 *
 * @module
 */
import { EctoError, UsageError } from "../core/errors.ts";
import type { EventSink } from "../core/events.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import { poll, sleep, waitedClock } from "../core/poll.ts";

/** How the edge is kept running. */
export type Supervisor = "launchd" | "systemd" | "detached";

/** Every supervisor ecto knows, in the order it prefers them. */
export const SUPERVISORS: readonly Supervisor[] = ["launchd", "systemd", "detached"];

/**
 * What to run as the edge: one description, rendered as a launchd plist, a
 * systemd unit, or a detached process. Holds no secrets: the edge reads its
 * secrets from files.
 */
export interface EdgeServiceSpec {
  /**
   * Reverse-DNS label, e.g. `dev.ecto.edge`: the launchd Label and plist name.
   * The systemd unit name is derived from it (see `systemdUnitName`).
   */
  label: string;
  /** The full argv; `program[0]` is an absolute path, e.g. `[execPath, "edge", "run"]`. */
  program: string[];
  /** Environment of the edge (names are checked: nothing that looks like a secret). */
  env: Record<string, string>;
  /** Where stdout and stderr are appended. */
  logFile: string;
  /** The edge's working directory. */
  workingDir: string;
}

/** What the supervisor functions need from the outside world. `EctoContext` fits. */
export interface ServiceDeps {
  /** The injected dax shell. */
  $: Shell;
  /** Environment lookup (HOME, XDG_CONFIG_HOME, ECTO_STATE_DIR, ECTO_SUPERVISOR, PATH). */
  env: EnvLookup;
  /** `Deno.build.os` (default: the running one). */
  os?: string;
  /** The user id for launchd's `gui/<uid>` domain (default: `Deno.uid()`). */
  uid?: number;
  /** Which supervisor to use; detected with `detectSupervisor` when absent. */
  supervisor?: Supervisor;
  /** Where notes go (e.g. "enable lingering"). */
  events?: EventSink;
  /** Waits `ms` milliseconds (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
}

/** Options of `installEdgeService`. */
export interface InstallOptions {
  /** Restart the edge even when its unit did not change (its settings file did). */
  restart?: boolean;
  /** How long to wait for the edge to be running after a start (default 5000 ms). */
  startTimeoutMs?: number;
  /**
   * Whether the started edge answers (its health check). A detached start then waits for that
   * answer, or for the process to die, instead of a fixed settling time.
   */
  ready?: () => Promise<boolean>;
}

/** What `installEdgeService` did. */
export interface InstallResult {
  /** The supervisor the edge runs under. */
  supervisor: Supervisor;
  /** The edge's process id, when the supervisor reports one. */
  pid: number | undefined;
  /** Whether the unit (or the detached process's description) was written anew. */
  changed: boolean;
  /** Whether the edge was started or restarted by this call. */
  started: boolean;
}

/** What the supervisor knows about the edge. */
export interface EdgeServiceStatus {
  /** The supervisor that was asked. */
  supervisor: Supervisor;
  /** A unit file (or, detached, a pidfile) exists. */
  installed: boolean;
  /** The edge process is alive (and, detached, is the process ecto started). */
  running: boolean;
  /** The edge's process id while it runs. */
  pid: number | undefined;
}

/** What `stopEdgeService` / `removeEdgeService` did. */
export interface StopResult {
  /** The supervisor that was asked. */
  supervisor: Supervisor;
  /** Whether a running edge was stopped by this call. */
  stopped: boolean;
  /** Whether a unit file (remove) or the detached edge's pidfile (stop and remove) was deleted. */
  removed: boolean;
}

/** Environment names that would carry a secret: refused in a unit. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|(^|_)KEY$|API_?KEY|AUTH_?KEY)/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9-]*)+$/;

/**
 * Checks a description before anything is rendered: a reverse-DNS label, an
 * absolute program, absolute paths, no NUL or line breaks where a unit file
 * cannot carry them, and no environment variable that looks like a secret.
 * Throws `UsageError` (bad input from the caller) or `EctoError` (`edge_env_secret`).
 */
export function validateSpec(spec: EdgeServiceSpec): void {
  if (!LABEL.test(spec.label)) {
    throw new UsageError(`The service label "${spec.label}" is not a reverse-DNS name.`);
  }
  if (spec.program.length === 0 || !spec.program[0]!.startsWith("/")) {
    throw new UsageError("The edge's program must start with an absolute path.");
  }
  for (const arg of spec.program) {
    if (arg.includes("\0")) throw new UsageError("An argument of the edge contains a NUL byte.");
  }
  for (const [what, path] of [["log file", spec.logFile], ["working directory", spec.workingDir]]) {
    if (!path!.startsWith("/") || /[\0\r\n]/.test(path!) || path!.trim() !== path) {
      throw new UsageError(`The edge's ${what} must be an absolute path on one line.`);
    }
  }
  for (const [name, value] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(name)) {
      throw new UsageError(`"${name}" is not a valid environment variable name.`);
    }
    if (SECRET_NAME.test(name)) {
      throw new EctoError(
        "edge_env_secret",
        `The edge's environment may not carry ${name}: secrets go in files the edge reads.`,
      );
    }
    if (/[\0\r\n]/.test(value)) {
      throw new UsageError(`The value of ${name} must be one line without NUL bytes.`);
    }
  }
}

/** A stable fingerprint of a description (what a detached edge was started with). */
export async function specFingerprint(spec: EdgeServiceSpec): Promise<string> {
  const canonical = JSON.stringify([
    spec.label,
    spec.program,
    Object.entries(spec.env).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
    spec.logFile,
    spec.workingDir,
  ]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The directory part of an absolute path. */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Waits `ms` milliseconds (the one timer: `lib/core/poll.ts`). */
export const defaultSleep: (ms: number) => Promise<void> = sleep;

/** Reads a text file; `undefined` when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

export { removeIfExists } from "../core/atomic_file.ts";

/**
 * Polls `check` every `intervalMs` until it returns a value or `timeoutMs` of
 * pauses have passed (time counted by the injected `sleep`, see `waitedClock`).
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
  intervalMs = 100,
): Promise<T | undefined> {
  return (await poll(check, { timeoutMs, intervalMs, ...waitedClock(sleep) }))?.value;
}
