/**
 * The pid of the process listening on a loopback TCP port, without the
 * OpenClaw CLI: its `gateway status` takes seconds and, on a loaded machine,
 * can come back without the listener it was asked about. Linux asks `ss`
 * (iproute2; Deno's permissions keep `/proc/<pid>/fd` out of reach without
 * `--allow-all`), macOS `lsof`.
 *
 * @module
 */
import type { Shell } from "../core/shell.ts";

/** The first pid `ss -Hltnp` reports listening on `port` (any address). Pure. */
export function pidFromSs(ssOutput: string, port: number): number | undefined {
  for (const line of ssOutput.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] !== "LISTEN" || cols.length < 5) continue;
    const local = cols[3]!;
    if (Number(local.slice(local.lastIndexOf(":") + 1)) !== port) continue;
    const pid = /pid=(\d+)/.exec(line)?.[1];
    if (pid !== undefined) return Number(pid);
  }
  return undefined;
}

/** The pid listening on TCP `port`, or `undefined` when none is found (or no tool answers). */
export async function listenerPid($: Shell, port: number): Promise<number | undefined> {
  if (Deno.build.os === "linux") {
    const ss = await $`ss -Hltnp ${`sport = :${port}`}`.stdout("piped").stderr("null").noThrow();
    if (ss.code === 0) return pidFromSs(ss.stdout, port);
  }
  const lsof = await $`lsof -nP -t ${`-iTCP:${port}`} -sTCP:LISTEN`
    .stdout("piped").stderr("null").noThrow();
  const pid = Number(lsof.stdout.trim().split("\n")[0]);
  return lsof.code === 0 && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
