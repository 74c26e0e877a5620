/**
 * Entry point of the `tailscale` test double (run by the `tailscale` bash
 * launcher beside it). State lives in `$TS_DOUBLE_DIR`. Mirrors `cli.Run` in
 * `cmd/tailscale/cli/cli.go`: argument clean-up, `-V`, the root `--socket`
 * flag, subcommand dispatch, errors on stderr with exit 1, and the
 * access-denied hint.
 *
 * @module
 */

import { CliError, err, Exit, out, parseFlags } from "./cli_io.ts";
import { runDown, runLogout, runSet, runUp } from "./cmd_login.ts";
import { runServeCommand } from "./cmd_serve.ts";
import { runStatus, runVersion } from "./cmd_status.ts";
import type { Ctx } from "./daemon_api.ts";
import { type DoubleState, readState } from "./state.ts";
import { atLeast } from "./version_info.ts";

const ROOT_USAGE = `USAGE
  tailscale [flags] <subcommand> [command flags]

SUBCOMMANDS
  up, down, set, login, logout, status, version, serve, funnel

(usage text abbreviated by the test double)
`;

/** `CleanUpArgs`: `--authkey` → `--auth-key`. */
export function cleanUpArgs(args: string[]): string[] {
  return args.map((a) => {
    if (a === "--authkey" || a === "-authkey") return "--auth-key";
    if (a.startsWith("--authkey=") || a.startsWith("-authkey=")) {
      return "--auth-key=" + a.slice(a.indexOf("=") + 1);
    }
    return a;
  });
}

/** Runs the double's CLI; returns the exit code. */
export async function main(rawArgs: string[]): Promise<number> {
  const dir = Deno.env.get("TS_DOUBLE_DIR");
  if (!dir) {
    err("tailscale double: TS_DOUBLE_DIR is not set\n");
    return 1;
  }
  let args = cleanUpArgs(rawArgs);
  if (args.length === 1 && (args[0] === "-V" || args[0] === "--version")) args = ["version"];
  const ctx: Ctx = { dir, args, root: Deno.env.get("TS_DOUBLE_SUDO") === "1", warned: false };
  const failure = appCliFailureText(await readState(dir));
  if (failure) {
    // The app's CLI prints this itself (on stdout, as reported) before doing anything.
    out(failure + "\n");
    return 1;
  }
  try {
    const { values, args: rest } = parseFlags(args, { socket: { kind: "string" } }, ROOT_USAGE);
    if (typeof values.socket === "string") ctx.socket = values.socket;
    const [sub, ...subArgs] = rest;
    switch (sub) {
      case undefined:
        err(ROOT_USAGE);
        return 0;
      case "version":
        await runVersion(ctx, subArgs);
        break;
      case "status":
        await runStatus(ctx, subArgs);
        break;
      case "up":
      case "login":
        await runUp(ctx, sub, subArgs);
        break;
      case "logout":
        await runLogout(ctx, subArgs);
        break;
      case "down":
        await runDown(ctx, subArgs);
        break;
      case "set":
        await runSet(ctx, subArgs);
        break;
      case "serve":
      case "funnel":
        await runServeCommand(ctx, sub, subArgs);
        break;
      default:
        err(`tailscale: unknown subcommand: ${sub}\n`);
        return 1;
    }
    return 0;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    // A closed stdout (e.g. `| head`): Go dies of SIGPIPE, silently.
    if (e instanceof Deno.errors.BrokenPipe) return 141;
    if (e instanceof CliError) {
      let message = e.message;
      if (e.accessDenied && !ctx.root) message += await accessHint(ctx);
      err(message + "\n");
      return 1;
    }
    err(`tailscale double: internal error: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}

/** The macOS app CLI's own start failure, when the state asks for one (GUI variants only). */
export function appCliFailureText(state: DoubleState): string | undefined {
  const o = state.options;
  if (o.os !== "macOS" || o.macVariant === "darwin" || !o.appCliFailure) return undefined;
  return o.appCliFailure === "gui"
    ? "The Tailscale GUI failed to start: The operation couldn\u2019t be completed. (Tailscale.CLIError error 3.)"
    : "The Tailscale CLI failed to start: Failed to load preferences.";
}

async function accessHint(ctx: Ctx): Promise<string> {
  const version = (await readState(ctx.dir)).options.version;
  const joined = ctx.args.join(" ");
  return atLeast(version, "1.86")
    ? `\n\nUse 'sudo tailscale ${joined}'.\nTo not require root, use 'sudo tailscale set --operator=$USER' once.`
    : `\n\nUse 'sudo tailscale ${joined}' or 'tailscale up --operator=$USER' to not require root.`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
