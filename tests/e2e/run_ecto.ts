/**
 * Spawns `cli.ts` for real, the way the skill's scripts and users run it,
 * under the permission set the binary is compiled with (`permissions.ecto`
 * of deno.json, as flags) except that `net` is loopback only
 * ({@link E2E_PERMISSIONS}): nothing a test runs may leave this machine.
 * Returns exit code, stdout and stderr.
 *
 * With `ECTO_BIN` set (the release workflow sets it to the compiled binary),
 * that binary runs instead, so the e2e tests test what users download.
 */
import { E2E_PERMISSIONS, permissionFlags } from "./permissions.ts";

const root = new URL("../../", import.meta.url).pathname;

/** The compiled `ecto` under test (`ECTO_BIN`), or `undefined` to run `cli.ts` from source. */
export const ectoBin: string | undefined = Deno.env.get("ECTO_BIN") || undefined;

/** The program and leading arguments that run ecto: the binary, or `deno run … cli.ts`. */
export function ectoCommand(): { program: string; args: string[] } {
  if (ectoBin) return { program: ectoBin, args: [] };
  return { program: Deno.execPath(), args: ectoDenoArgs([]) };
}

/** The result of one ecto run. */
export interface EctoRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time in milliseconds. */
  ms: number;
}

/** The arguments of `deno` that run `ecto ARGS` from source under {@link E2E_PERMISSIONS}. */
export function ectoDenoArgs(args: string[]): string[] {
  return [
    "run",
    "--quiet",
    `--config=${root}deno.json`,
    ...permissionFlags(E2E_PERMISSIONS),
    `${root}cli.ts`,
    ...args,
  ];
}

/** Runs `ecto ARGS` with `env` (merged over a minimal base) and no terminal. */
export async function runEcto(
  args: string[],
  env: Record<string, string>,
  opts: { timeoutMs?: number; stdin?: string } = {},
): Promise<EctoRun> {
  const started = performance.now();
  const ecto = ectoCommand();
  const child = new Deno.Command(ecto.program, {
    args: [...ecto.args, ...args],
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  // A safety net for a hung run, above ecto's own longest wait in tests (a cold gateway, 240 s).
  const timer = setTimeout(() => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }, opts.timeoutMs ?? 420_000);
  const out = await child.output();
  clearTimeout(timer);
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    ms: Math.round(performance.now() - started),
  };
}

/** The path of the repository root (ends with `/`). */
export const repoRoot: string = root;

/** The run's stdout as one JSON document; throws with both streams when it is not. */
export function jsonOf(run: EctoRun): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\n${run.stderr}`,
    );
  }
}
