/**
 * `ecto edge run` without the rest of ecto: `cli.ts` dispatches here before it
 * loads commander, dax or the orchestration, so the process the supervisor
 * keeps running holds only the edge (measured idle RSS: see README,
 * "Benchmarks"). Flags are the same as the full CLI's; anything else (`--help`,
 * an unknown flag) returns `undefined` and `cli.ts` falls back to the full
 * parser, so usage and help stay identical.
 *
 * @module
 */
import { ExitCode, exitCodeFor } from "../core/errors.ts";
import { runEdgeCommand } from "../edge/command.ts";
import type { EdgeRunFlags } from "../edge/command.ts";
import { ectoPaths } from "../core/paths.ts";

/** Parses `edge run` flags; `undefined` for anything the fast path does not take. */
export function parseEdgeRunArgs(
  args: readonly string[],
): { flags: EdgeRunFlags; verbose: boolean } | undefined {
  const flags: EdgeRunFlags = {};
  let verbose = false;
  const names = {
    "--config": "configFile",
    "--listen": "listen",
    "--upstream": "upstream",
  } as const;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-v" || arg === "--verbose") {
      verbose = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!(name in names)) return undefined;
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === "" || (eq < 0 && value.startsWith("-"))) return undefined;
    flags[names[name as keyof typeof names]] = value;
  }
  return { flags, verbose };
}

/** Runs the edge until SIGTERM/SIGINT; `undefined` when `cli.ts` should parse `args` itself. */
export async function edgeRunMain(
  args: readonly string[],
  io: { env: (name: string) => string | undefined; stderr: (text: string) => void } = {
    env: (name) => Deno.env.get(name),
    stderr: (text) => void Deno.stderr.writeSync(new TextEncoder().encode(text)),
  },
): Promise<number | undefined> {
  const parsed = parseEdgeRunArgs(args);
  if (!parsed) return undefined;
  try {
    await runEdgeCommand(
      { env: io.env, paths: ectoPaths(io.env), now: () => Date.now() },
      parsed.flags,
      (line) => io.stderr(line + "\n"),
    );
    return ExitCode.ok;
  } catch (error) {
    // Same rendering as the full CLI (lib/cli/render.ts), loaded only on this failure path.
    const { renderErrorHuman } = await import("./render.ts");
    const terminal = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
    const style = { colour: terminal && io.env("NO_COLOR") === undefined, terminal };
    io.stderr(renderErrorHuman(error, style, parsed.verbose));
    return exitCodeFor(error);
  }
}
