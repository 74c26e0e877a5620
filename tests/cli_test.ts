import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { runEcto } from "./e2e/run_ecto.ts";
import { EctoError, ToolError } from "../lib/core/errors.ts";
import { renderErrorHuman } from "../lib/cli/render.ts";

const base = {
  HOME: Deno.env.get("HOME") ?? "/tmp",
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
};

Deno.test("`ecto --version` prints the version from deno.json and exits 0", async () => {
  const run = await runEcto(["--version"], base);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), denoJson.version);
});

Deno.test("`ecto --help` lists every command and the exit codes", async () => {
  const run = await runEcto(["--help"], base);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(subcommands(run.stdout), [
    "connect",
    "status",
    "disconnect",
    "edge",
    "keys",
    "usage",
    "logs",
    "test",
    "version",
  ]);
  assert.match(run.stdout, /\nExit codes: 0 ok, 1 failed, 2 usage, 3 you must act/);
});

/**
 * Lines a wrapped paragraph broke too early: a line followed by another line
 * of the same paragraph whose first word would still have fitted in `width`.
 */
function earlyBreaks(help: string, width = 80): string[] {
  const early: string[] = [];
  const lines = help.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const [line, next] = [lines[i]!, lines[i + 1]!];
    const indent = (text: string) => text.length - text.trimStart().length;
    // Prose paragraphs start at column 0; option and command descriptions continue
    // on lines indented to their description column.
    const sameParagraph = next.trim() !== "" && line.trim() !== "" &&
      (indent(line) === 0 ? indent(next) === 0 : indent(next) > indent(line) + 2);
    if (!sameParagraph || line.startsWith("Usage:")) continue;
    const firstWord = next.trim().split(" ")[0]!;
    if (line.length + 1 + firstWord.length <= width) early.push(`${line}⏎${next}`);
  }
  return early;
}

/** The subcommand names in a help text's "Commands:" block (aliases and commander's `help` left out). */
function subcommands(help: string): string[] {
  const block = help.split("\n\n").find((b) => b.startsWith("Commands:")) ?? "";
  return block.split("\n").slice(1).map((line) => /^ {2}([^\s|]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== "help");
}

Deno.test("`--help` wraps cleanly: no line over 80 columns, no break mid-sentence", async (t) => {
  // Every command's help, found by walking the "Commands:" blocks: a new command is checked too.
  // Bounded: three levels, and a listed command's help must be its own (its Usage line).
  const runs = new Map<string, Awaited<ReturnType<typeof runEcto>>>();
  let level: string[][] = [[]];
  for (let depth = 0; depth < 3 && level.length > 0; depth++) {
    const out = await Promise.all(level.map((args) => runEcto([...args, "--help"], base)));
    const next: string[][] = [];
    for (const [i, args] of level.entries()) {
      const run = out[i]!;
      assert.match(
        run.stdout,
        new RegExp(`^Usage: ${["ecto", ...args].join(" ")}\\b`),
        args.join(" "),
      );
      runs.set(["ecto", ...args, "--help"].join(" "), run);
      for (const name of subcommands(run.stdout)) next.push([...args, name]);
    }
    level = next;
  }
  for (
    const expected of ["ecto keys add --help", "ecto keys revoke --help", "ecto edge run --help"]
  ) {
    assert.ok(runs.has(expected), `the walk reached ${expected}: ${[...runs.keys()].join(", ")}`);
  }
  for (const [name, run] of runs) {
    await t.step(name, () => {
      assert.equal(run.code, 0, run.stderr);
      const long = run.stdout.split("\n").filter((line) => line.length > 80);
      assert.deepEqual(long, []);
      assert.deepEqual(earlyBreaks(run.stdout), []);
    });
  }
  await t.step("the checker catches the old hard break", () => {
    assert.equal(
      earlyBreaks(
        "ecto puts a small proxy (the edge) in front of the gateway on loopback,\n" +
          "publishes only\nthe edge through Tailscale Funnel.",
      ).length,
      1,
    );
  });
});

Deno.test("`renderErrorHuman()` shows a ToolError's exit code and stderr tail only with --verbose", () => {
  const tool = new ToolError(
    "tailscale",
    1,
    "starting\n\nbackend error: 500 Internal Server Error\nfunnel: not allowed\n",
    "tailscale funnel failed.",
  );
  const error = new EctoError("funnel_failed", "Could not publish the edge through Funnel.", {
    fix: "Run `tailscale funnel status`, then try again.",
    cause: tool,
  });
  const style = { colour: false, terminal: false };
  const plain = renderErrorHuman(error, style, false);
  assert.equal(
    plain,
    "error: Could not publish the edge through Funnel.\n" +
      "  fix: Run `tailscale funnel status`, then try again.\n",
  );
  assert.equal(
    renderErrorHuman(error, style, true),
    plain +
      "  caused by: tailscale funnel failed.\n" +
      "  tailscale exited with 1; the end of its stderr:\n" +
      "    | starting\n" +
      "    | backend error: 500 Internal Server Error\n" +
      "    | funnel: not allowed\n",
  );
  assert.match(
    renderErrorHuman(new ToolError("brew", 3, "", "brew failed."), style, true),
    /brew exited with 3 and wrote nothing to stderr/,
  );
});

Deno.test("`ecto connect --help` documents the seed's flags", async () => {
  const run = await runEcto(["connect", "--help"], base);
  assert.equal(run.code, 0, run.stderr);
  for (
    const flag of [
      "--regenerate-token",
      "--restart",
      "--json",
      "--yes",
      "--auth-key",
      "--funnel-port",
    ]
  ) {
    assert.ok(run.stdout.includes(flag), `missing ${flag}`);
  }
});

Deno.test("unknown commands and flags exit 2 with usage", async (t) => {
  await t.step("unknown command", async () => {
    const run = await runEcto(["frobnicate"], base);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown command 'frobnicate'/);
    assert.match(run.stderr, /ecto --help/);
  });
  await t.step("unknown flag", async () => {
    const run = await runEcto(["connect", "--frobnicate"], base);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown option '--frobnicate'/);
  });
  await t.step("a Funnel port Funnel does not serve", async () => {
    const run = await runEcto(["connect", "--funnel-port", "3000"], base);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /443, 8443, 10000/);
  });
});
