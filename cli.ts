/**
 * The ecto command line: the only impure entry point. It parses arguments,
 * builds the real dependencies, renders results and events, and returns an
 * exit code. Everything else lives in `lib/`.
 *
 * @module
 */
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import denoJson from "./deno.json" with { type: "json" };
import { EctoError, ExitCode, exitCodeFor } from "./lib/errors.ts";

/** What `main` needs from the outside world. Tests pass their own. */
export interface CliDeps {
  /** Environment lookup. */
  env: (name: string) => string | undefined;
  /** Writes to stdout (no newline added). */
  stdout: (text: string) => void;
  /** Writes to stderr (no newline added). */
  stderr: (text: string) => void;
  /** Whether stdin and stdout are a terminal (prompts, colours, QR codes). */
  isTerminal: boolean;
}

/** The real dependencies. */
export function realDeps(): CliDeps {
  const enc = new TextEncoder();
  return {
    env: (name) => Deno.env.get(name),
    stdout: (text) => void Deno.stdout.writeSync(enc.encode(text)),
    stderr: (text) => void Deno.stderr.writeSync(enc.encode(text)),
    isTerminal: Deno.stdin.isTerminal() && Deno.stdout.isTerminal(),
  };
}

/** The ecto version, from deno.json (one version source). */
export const VERSION: string = denoJson.version;

/** Runs ecto with `args` and returns the exit code. Never exits the process. */
export async function main(args: string[], deps: CliDeps): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = new Command()
    .name("ecto")
    .description(
      "Publish your OpenClaw assistant's OpenAI-compatible API at a stable HTTPS URL with a key.",
    )
    .version(VERSION, "-V, --version", "print the ecto version")
    .exitOverride()
    .configureOutput({
      writeOut: deps.stdout,
      writeErr: deps.stderr,
    })
    .showHelpAfterError("(run `ecto --help` for usage)");

  program.command("version").description("print the ecto version").action(() => {
    deps.stdout(`${VERSION}\n`);
  });

  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") {
        return ExitCode.ok;
      }
      if (error.code === "commander.help") return ExitCode.ok;
      return ExitCode.usage;
    }
    exitCode = exitCodeFor(error);
    if (error instanceof EctoError) {
      deps.stderr(`ecto: ${error.message}\n${error.fix ? `fix: ${error.fix}\n` : ""}`);
    } else {
      deps.stderr(`ecto: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  return exitCode;
}

void Option;

if (import.meta.main) Deno.exit(await main(Deno.args, realDeps()));
