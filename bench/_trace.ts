/**
 * Runs `cli.ts ARGS` like `tests/e2e/run_ecto.ts` does and stamps each stderr line (ecto's
 * progress events) with the ms since the spawn: where a slow step spends its time.
 *
 * @module
 */
import { repoRoot } from "../tests/e2e/run_ecto.ts";

/** One stderr line and when it arrived. */
export interface TracedLine {
  /** ms since the spawn. */
  ms: number;
  /** The line. */
  line: string;
}

/**
 * GNU time, when the machine has it: CPU seconds of a step (ecto and the processes it waited
 * for, e.g. the tailscale double's runs; not the detached edge), which a busy machine stretches
 * far less than wall time.
 */
const gnuTime: Promise<string | undefined> = (async () => {
  try {
    const out = await new Deno.Command("/usr/bin/time", {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return out.code === 0 && /GNU/.test(text) ? "/usr/bin/time" : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * Spawns ecto and returns its exit code, wall time, CPU time (`cpuMs`, user + system, when GNU
 * time is there) and time-stamped stderr lines.
 */
export async function traceEcto(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; ms: number; cpuMs?: number; lines: TracedLine[] }> {
  const time = await gnuTime;
  const cpuFile = time ? await Deno.makeTempFile({ prefix: "ecto-bench-cpu-" }) : undefined;
  const ecto = [
    Deno.execPath(),
    "run",
    "--quiet",
    `--config=${repoRoot}deno.json`,
    "-P=ecto",
    `${repoRoot}cli.ts`,
    ...args,
  ];
  const argv = time && cpuFile ? [time, "-f", "%U %S", "-o", cpuFile, ...ecto] : ecto;
  const started = performance.now();
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: TracedLine[] = [];
  let rest = "";
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) lines.push({ ms: Math.round(performance.now() - started), line });
  }
  const status = await child.status;
  const ms = Math.round(performance.now() - started);
  let cpuMs: number | undefined;
  if (cpuFile) {
    const text = await Deno.readTextFile(cpuFile).catch(() => "");
    await Deno.remove(cpuFile).catch(() => {});
    const m = /(\d+(?:\.\d+)?) (\d+(?:\.\d+)?)\s*$/.exec(text);
    if (m) cpuMs = Math.round((Number(m[1]) + Number(m[2])) * 1000);
  }
  return { code: status.code, ms, ...(cpuMs === undefined ? {} : { cpuMs }), lines };
}
