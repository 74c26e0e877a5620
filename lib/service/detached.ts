/**
 * The edge as a detached process with a pidfile, where neither launchd nor
 * systemd is usable (containers, CI). The process is started in its own
 * session (`setsid`, or `nohup` where there is none) through `sh -c '… &'`,
 * so it outlives the ecto process that started it; its output is appended
 * to the log file. Nothing restarts it: `ecto connect` does, when it is dead.
 *
 * Before any signal, the pidfile's process is checked to really be the one
 * ecto started (its command line equals the recorded argv): a stale pidfile
 * whose pid now belongs to another program is never signalled.
 *
 * @module
 */
import {
  ensurePrivateDir,
  exitWaitsFor,
  readJsonIfExists,
  writeJsonAtomic,
} from "../core/atomic_file.ts";
import { EctoError, tail } from "../core/errors.ts";
import type { Shell } from "../core/shell.ts";
import {
  defaultSleep,
  dirname,
  type EdgeServiceSpec,
  type EdgeServiceStatus,
  type InstallOptions,
  type InstallResult,
  pollUntil,
  readTextIfExists,
  removeIfExists,
  type ServiceDeps,
  specFingerprint,
  type StopResult,
  validateSpec,
} from "./spec.ts";

/** What the pidfile records about the process ecto started. */
export interface PidRecord {
  /** The detached edge's process id. */
  pid: number;
  /** The argv it was started with: its command line must still equal this. */
  argv: string[];
  /** `specFingerprint` of the description it was started from. */
  fingerprint: string;
  /** ISO-8601. */
  startedAt: string;
}

/** Reads a pidfile: ecto's JSON record, or a bare pid (argv unknown). */
export async function readPidRecord(path: string): Promise<PidRecord | undefined> {
  let record: unknown;
  try {
    record = await readJsonIfExists<unknown>(path);
  } catch {
    const text = await readTextIfExists(path);
    const pid = Number(text?.trim());
    return Number.isInteger(pid) && pid > 1
      ? { pid, argv: [], fingerprint: "", startedAt: "" }
      : undefined;
  }
  if (typeof record === "number" && Number.isInteger(record) && record > 1) {
    return { pid: record, argv: [], fingerprint: "", startedAt: "" };
  }
  if (typeof record !== "object" || record === null) return undefined;
  const r = record as Partial<PidRecord>;
  if (typeof r.pid !== "number" || !Number.isInteger(r.pid) || r.pid <= 1) return undefined;
  if (!Array.isArray(r.argv) || !r.argv.every((a) => typeof a === "string")) return undefined;
  return {
    pid: r.pid,
    argv: r.argv,
    fingerprint: typeof r.fingerprint === "string" ? r.fingerprint : "",
    startedAt: typeof r.startedAt === "string" ? r.startedAt : "",
  };
}

/** A live process's command line: the argv where the OS gives it, else the joined text. */
export interface ProcessCommandLine {
  /** The exact argv (Linux), or undefined where only the joined text is known. */
  argv: string[] | undefined;
  /** The arguments joined with spaces. */
  text: string;
}

// Deno refuses to read /proc/<pid>/* without --allow-all, so the shell reads it:
// line 1 is the state letter (after the last ")" of stat), the rest the raw cmdline.
const PROC_SCRIPT = [
  'IFS= read -r stat < "/proc/$1/stat" || exit 1',
  'rest="${stat##*) }"',
  'printf "%s\\n" "${rest%% *}"',
  'exec cat "/proc/$1/cmdline"',
].join("\n");

/**
 * The command line of a live (not zombie) process, or `undefined` when there
 * is none. Linux reads `/proc/<pid>/stat` and `/proc/<pid>/cmdline` (through
 * `sh`, since Deno guards `/proc`); elsewhere `ps -ww -o stat=,command= -p <pid>`.
 */
export async function processCommandLine(
  $: Shell,
  pid: number,
  os: string,
): Promise<ProcessCommandLine | undefined> {
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  if (os === "linux") {
    const r = await $`sh -c ${PROC_SCRIPT} sh ${String(pid)}`.noThrow().stdout("piped")
      .stderr("piped");
    if (r.code !== 0) return undefined;
    const newline = r.stdout.indexOf("\n");
    const state = r.stdout.slice(0, newline);
    const raw = r.stdout.slice(newline + 1);
    if (newline < 0 || state === "Z" || state === "X" || raw === "") return undefined;
    const argv = raw.split("\0");
    if (argv.at(-1) === "") argv.pop();
    return { argv, text: argv.join(" ") };
  }
  const r = await $`ps -ww -o stat=,command= -p ${String(pid)}`.noThrow().stdout("piped")
    .stderr("piped");
  if (r.code !== 0) return undefined;
  const line = r.stdout.trim();
  const space = line.search(/\s/);
  if (space < 0 || line.startsWith("Z")) return undefined;
  return { argv: undefined, text: line.slice(space).trim() };
}

/** Whether a command line is exactly the argv ecto started. */
export function commandLineMatches(
  cmd: ProcessCommandLine | undefined,
  argv: readonly string[],
): boolean {
  if (!cmd || argv.length === 0) return false;
  if (cmd.argv) return cmd.argv.length === argv.length && cmd.argv.every((a, i) => a === argv[i]);
  return cmd.text === argv.join(" ");
}

function osOf(deps: ServiceDeps): string {
  return deps.os ?? Deno.build.os;
}

async function isOurs(deps: ServiceDeps, record: PidRecord): Promise<boolean> {
  return commandLineMatches(await processCommandLine(deps.$, record.pid, osOf(deps)), record.argv);
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** What `ecto edge run` logs once it listens (`renderEventLine` of its `edge.listen` step). */
export const EDGE_READY_LINE = "[edge.listen] done: ";

/** Starts the edge in the background (`script` via `sh -c`) and writes its pidfile. */
async function spawnAndRecord(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  pidFile: string,
  how: { script: string; base: Record<string, string> },
): Promise<PidRecord> {
  const r = await deps.$`sh -c ${how.script} ecto-edge ${spec.logFile} ${spec.program}`
    .cwd(spec.workingDir)
    .clearEnv()
    .env({ ...how.base, ...spec.env })
    .stdout("piped")
    .stderr("piped")
    .noThrow();
  const pid = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(pid) || pid <= 1) {
    throw new EctoError("edge_start_failed", "The edge could not be started in the background.", {
      cause: new Error(tail(r.stderr, 8)),
    });
  }
  const record: PidRecord = {
    pid,
    argv: spec.program,
    fingerprint: await specFingerprint(spec),
    startedAt: new Date().toISOString(),
  };
  await writeJsonAtomic(pidFile, record);
  return record;
}

/**
 * Starts the edge detached, in its own session, and records it. Resolves
 * with its pid once its command line is the spec's argv and it has logged
 * {@link EDGE_READY_LINE} (or is still starting after `timeoutMs`); throws
 * `edge_start_failed` when it exits first.
 */
async function startDetached(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  pidFile: string,
  timeoutMs: number,
): Promise<number> {
  const sleep = deps.sleep ?? defaultSleep;
  await ensurePrivateDir(dirname(pidFile));
  await ensurePrivateDir(dirname(spec.logFile));
  // $1 is the log; the rest is the argv. `setsid` makes a new session, so the
  // edge gets no SIGHUP/SIGINT meant for ecto's terminal; without it, an
  // asynchronous list already ignores SIGINT and nohup ignores SIGHUP.
  const script = [
    "umask 077",
    'log="$1"; shift',
    "if command -v setsid >/dev/null 2>&1; then",
    '  setsid "$@" </dev/null >>"$log" 2>&1 &',
    "else",
    '  nohup "$@" </dev/null >>"$log" 2>&1 &',
    "fi",
    'echo "$!"',
  ].join("\n");
  const base: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "USER", "LOGNAME", "LANG", "TMPDIR"]) {
    const value = deps.env(name);
    if (value !== undefined) base[name] = value;
  }
  const logStart = ((await readTextIfExists(spec.logFile)) ?? "").length;
  // Spawn and record as one piece a Ctrl-C waits for: an edge without its pidfile would be
  // nobody's, and would hold its port against the re-run.
  const record = await exitWaitsFor(() => spawnAndRecord(deps, spec, pidFile, { script, base }));
  // Until the child has exec'd, its command line is still the shell's.
  const seen = await pollUntil(
    async () => (await isOurs(deps, record)) ? true : undefined,
    timeoutMs,
    sleep,
    25,
  );
  // Then, bounded: it says it listens (its ready line in the log) or it exits. An edge that
  // cannot listen (a squatted address) thus always fails here, however slowly it starts; one
  // still starting at the bound is left to the caller's health check.
  const outcome = seen
    ? await pollUntil(
      async () => {
        if (!(await isOurs(deps, record))) return "exited";
        const log = (await readTextIfExists(spec.logFile)) ?? "";
        // (a log truncated meanwhile is searched from its start)
        return log.includes(EDGE_READY_LINE, log.length < logStart ? 0 : logStart)
          ? "ready"
          : undefined;
      },
      timeoutMs,
      sleep,
      25,
    )
    : "exited";
  if (outcome !== "exited" && await isOurs(deps, record)) return record.pid;
  await removeIfExists(pidFile);
  const log = (await readTextIfExists(spec.logFile)) ?? "";
  throw new EctoError("edge_start_failed", "The edge exited right after it started.", {
    fix: `tail -n 50 ${spec.logFile}`,
    cause: new Error(tail(log, 8)),
  });
}

/** Installs (starts) the detached edge unless the same one already runs; see `installEdgeService`. */
export async function installDetached(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  pidFile: string,
  options: InstallOptions = {},
): Promise<InstallResult> {
  validateSpec(spec);
  const fingerprint = await specFingerprint(spec);
  const record = await readPidRecord(pidFile);
  const alive = record !== undefined && await isOurs(deps, record);
  const changed = record?.fingerprint !== fingerprint;
  if (alive && !changed && !options.restart) {
    return { supervisor: "detached", pid: record.pid, changed: false, started: false };
  }
  if (alive) await stopDetached(deps, pidFile);
  const pid = await startDetached(
    deps,
    spec,
    pidFile,
    options.startTimeoutMs ?? 5000,
  );
  return { supervisor: "detached", pid, changed, started: true };
}

/** Options of `stopDetached`. */
export interface StopDetachedOptions {
  /** How long SIGTERM gets before SIGKILL (default 5000 ms). */
  termTimeoutMs?: number;
}

/**
 * Stops the detached edge: SIGTERM, a bounded wait, then SIGKILL, each sent
 * only while the pidfile's process is still the one ecto started. The
 * pidfile is deleted either way (a stale one points at nothing of ours).
 */
export async function stopDetached(
  deps: ServiceDeps,
  pidFile: string,
  options: StopDetachedOptions = {},
): Promise<StopResult> {
  const sleep = deps.sleep ?? defaultSleep;
  const record = await readPidRecord(pidFile);
  let stopped = false;
  if (record && await isOurs(deps, record)) {
    signal(record.pid, "SIGTERM");
    const gone = await pollUntil(
      async () => (await isOurs(deps, record)) ? undefined : true,
      options.termTimeoutMs ?? 5000,
      sleep,
      50,
    );
    if (!gone && await isOurs(deps, record)) {
      signal(record.pid, "SIGKILL");
      await pollUntil(async () => (await isOurs(deps, record)) ? undefined : true, 2000, sleep, 50);
    }
    stopped = true;
  }
  const removed = await removeIfExists(pidFile);
  return { supervisor: "detached", stopped, removed };
}

/** Whether a pidfile exists and its process is the edge ecto started. */
export async function statusDetached(
  deps: ServiceDeps,
  pidFile: string,
): Promise<EdgeServiceStatus> {
  const record = await readPidRecord(pidFile);
  const running = record !== undefined && await isOurs(deps, record);
  return {
    supervisor: "detached",
    installed: record !== undefined,
    running,
    pid: running ? record!.pid : undefined,
  };
}
