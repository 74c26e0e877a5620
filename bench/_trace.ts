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

/** Spawns ecto and returns its exit code, wall time and time-stamped stderr lines. */
export async function traceEcto(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; ms: number; lines: TracedLine[] }> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${repoRoot}deno.json`,
      "-P=ecto",
      `${repoRoot}cli.ts`,
      ...args,
    ],
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
  return { code: status.code, ms: Math.round(performance.now() - started), lines };
}
