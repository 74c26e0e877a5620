/**
 * Process plumbing for the benchmark: free loopback ports, children that are
 * always stopped (SIGTERM, bounded wait, SIGKILL; also on Ctrl-C), waiting
 * for a port, and resident memory from `/proc/<pid>/status`.
 *
 * @module
 */

/** A child process the bench started. */
export interface BenchProcess extends AsyncDisposable {
  /** A short name for reports and errors. */
  name: string;
  pid: number;
  /** Where its stdout and stderr go. */
  logFile: string;
  /** Resolves when it exits. */
  status: Promise<Deno.CommandStatus>;
  /** SIGTERM, up to `graceMs`, then SIGKILL. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<BenchProcess>();
let hooked = false;

/** Stops every child still running (used on exit paths and Ctrl-C). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      stopAll().finally(() => Deno.exit(130));
    });
  }
}

/** Spawns `cmd args` with output appended to `logFile`; it is stopped by `stopAll` too. */
export async function spawnLogged(
  name: string,
  cmd: string,
  args: string[],
  options: { logFile: string; env?: Record<string, string>; cwd?: string },
): Promise<BenchProcess> {
  hookSignals();
  const log = await Deno.open(options.logFile, { create: true, append: true });
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = log.writable.getWriter();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await writer.write(chunk);
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)])
    .catch(() => {})
    .finally(() => writer.close().catch(() => {}));
  let stopping: Promise<void> | undefined;
  const proc: BenchProcess = {
    name,
    pid: child.pid,
    logFile: options.logFile,
    status: child.status,
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        const exited = child.status.then(() => true);
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        const timer = new Promise<false>((r) => setTimeout(() => r(false), graceMs));
        const done = await Promise.race([exited, timer]);
        if (!done) {
          try {
            child.kill("SIGKILL");
          } catch {
            // already gone
          }
        }
        await child.status;
        await pumped;
        live.delete(proc);
      })();
      return stopping;
    },
    [Symbol.asyncDispose]() {
      return proc.stop();
    },
  };
  live.add(proc);
  return proc;
}

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until something accepts connections on `127.0.0.1:port`, or the process exits. */
export async function waitForPort(
  port: number,
  proc: BenchProcess,
  timeoutMs = 15000,
): Promise<void> {
  let exited = false;
  proc.status.then(() => exited = true);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (exited) break;
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const log = await Deno.readTextFile(proc.logFile).catch(() => "");
  throw new Error(
    `${proc.name} did not listen on ${port}${exited ? " (it exited)" : ""}:\n${log.slice(-2000)}`,
  );
}

/** Waits for a file to exist with content, e.g. a port file. */
export async function waitForFile(
  path: string,
  proc: BenchProcess,
  timeoutMs = 15000,
): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const text = await Deno.readTextFile(path).catch(() => "");
    if (text.trim() !== "") return text.trim();
    await new Promise((r) => setTimeout(r, 25));
  }
  const log = await Deno.readTextFile(proc.logFile).catch(() => "");
  throw new Error(`${proc.name} did not write ${path}:\n${log.slice(-2000)}`);
}

/** Runs a program to completion and returns its stdout (throws on failure). */
export async function capture(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** VmRSS of one process in KiB (Deno guards /proc, so `cat` reads it). */
export async function rssKiB(pid: number): Promise<number> {
  const status = await capture("cat", [`/proc/${pid}/status`]);
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** The direct children of a process (nginx's workers). */
export async function childPids(pid: number): Promise<number[]> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "pid=", "--ppid", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((s) => Number(s.trim())).filter((n) =>
    n > 0
  );
}

/** VmRSS of a process and all its direct children, in KiB. */
export async function treeRssKiB(pid: number): Promise<number> {
  let total = await rssKiB(pid);
  for (const child of await childPids(pid)) total += await rssKiB(child).catch(() => 0);
  return total;
}

/** Busy share (0–1) of all CPUs over `ms`, from `/proc/stat`. */
export async function cpuBusy(ms = 2000): Promise<number> {
  const sample = async () => {
    const line = (await capture("cat", ["/proc/stat"])).split("\n")[0]!;
    const fields = line.trim().split(/\s+/).slice(1, 11).map(Number);
    const idle = fields[3]! + fields[4]!;
    return { idle, total: fields.reduce((a, b) => a + b, 0) };
  };
  const a = await sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = await sample();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}

/**
 * Waits (up to `maxMs`) until the machine is quiet (under `threshold` busy
 * over 2 s), so another job's load does not end up in the numbers. Returns
 * the last busy share measured.
 */
export async function waitForQuiet(
  maxMs: number,
  threshold = 0.15,
  onWait: (busy: number) => void = () => {},
): Promise<number> {
  const end = Date.now() + maxMs;
  let busy = await cpuBusy();
  while (busy > threshold && Date.now() < end) {
    onWait(busy);
    busy = await cpuBusy(5000);
  }
  return busy;
}

/** CPU time (user + system) a process and its direct children have used, in ms. */
export async function treeCpuMs(pid: number): Promise<number> {
  const one = async (p: number) => {
    const stat = await capture("cat", [`/proc/${p}/stat`]).catch(() => "");
    if (stat === "") return 0;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // after the state letter: ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return (Number(fields[11]) + Number(fields[12])) * 10; // CLK_TCK is 100 on Linux
  };
  let total = await one(pid);
  for (const child of await childPids(pid)) total += await one(child);
  return total;
}

/** user + system CPU ms and parent of every process, from one `cat /proc/[0-9]*\/stat`. */
export async function processTable(): Promise<Map<number, { ppid: number; cpuMs: number }>> {
  const out = await new Deno.Command("sh", {
    args: ["-c", "cat /proc/[0-9]*/stat 2>/dev/null; true"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const table = new Map<number, { ppid: number; cpuMs: number }>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const pid = Number(line.slice(0, line.indexOf(" ")));
    const fields = line.slice(close + 2).split(" ");
    table.set(pid, {
      ppid: Number(fields[1]),
      cpuMs: (Number(fields[11]) + Number(fields[12])) * 10,
    });
  }
  return table;
}

/**
 * CPU ms that processes outside `root`'s tree used between two process
 * tables: other people's work that ended up in the measurement.
 */
export function foreignCpuMs(
  before: Map<number, { ppid: number; cpuMs: number }>,
  after: Map<number, { ppid: number; cpuMs: number }>,
  root: number,
): number {
  const ours = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, { ppid }] of after) {
      if (!ours.has(pid) && ours.has(ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const [pid, { cpuMs }] of after) {
    if (ours.has(pid)) continue;
    total += Math.max(0, cpuMs - (before.get(pid)?.cpuMs ?? 0));
  }
  return total;
}
