/**
 * `ecto edge run` loads only the edge: `cli.ts` keeps its runtime imports dynamic and dispatches
 * `edge run` to `lib/cli/edge_main.ts`, whose module graph holds neither commander, dax nor the
 * orchestration; both paths behave the same.
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { parseEdgeRunArgs } from "../lib/cli/edge_main.ts";
import { repoRoot, runEcto } from "./e2e/run_ecto.ts";

/** The runtime (non-type) static imports of a module's source. */
function runtimeImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
    if (!m[1]) out.push(m[2]!);
  }
  return out;
}

Deno.test("cli.ts has no static runtime import beyond deno.json, errors, paths and addresses", async () => {
  const imports = runtimeImports(await Deno.readTextFile(`${repoRoot}cli.ts`));
  assert.deepEqual(imports.sort(), [
    "./deno.json",
    "./lib/core/addresses.ts",
    "./lib/core/errors.ts",
    "./lib/core/paths.ts",
  ]);
});

/**
 * The local modules `entry` loads at run time, following static imports and re-exports that are
 * not type-only (dynamic `import()` is not followed); bare specifiers are reported as such.
 */
async function runtimeGraph(entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [new URL(entry, `file://${repoRoot}`).href];
  while (queue.length) {
    const url = queue.shift()!;
    if (seen.has(url)) continue;
    seen.add(url);
    if (!url.startsWith("file:") || !url.endsWith(".ts")) continue;
    const source = await Deno.readTextFile(new URL(url));
    const pattern = /^(import|export)\s+(type\s+)?([^;]*?)\s+from\s+"([^"]+)"/gms;
    for (const m of source.matchAll(pattern)) {
      if (m[2]) continue; // `import type` / `export type`
      const names = m[3]!.trim();
      if (/^\{[^}]*\}$/s.test(names)) {
        const items = names.slice(1, -1).split(",").map((x) => x.trim()).filter(Boolean);
        if (items.every((x) => x.startsWith("type "))) continue; // only types: elided
      }
      const spec = m[4]!;
      queue.push(spec.startsWith(".") ? new URL(spec, url).href : `bare:${spec}`);
    }
  }
  return seen;
}

Deno.test("lib/cli/edge_main.ts loads no commander, dax or orchestration at run time", async () => {
  const graph = [...await runtimeGraph("lib/cli/edge_main.ts")];
  for (
    const banned of [
      // npm packages other than json5 and dotenv (OpenClaw's config and .env, for the gateway's credential);
      // node: built-ins are part of the runtime.
      /^bare:(?!json5$|dotenv$|node:)/,
      /\/lib\/connect\.ts$/,
      /\/lib\/status\.ts$/,
      /\/lib\/shell\.ts$/,
      /\/lib\/tailscale/,
      /\/lib\/openclaw\/(apply|cli|gateway)\.ts$/,
    ]
  ) {
    assert.deepEqual(graph.filter((s) => banned.test(s)), [], `${banned} is loaded by edge_main`);
  }
  assert.ok(graph.some((s) => s.endsWith("/lib/edge/run.ts")));
  // The walker does see what cli.ts's commands load, so the check above can fail.
  const full = [...await runtimeGraph("lib/commands/connect.ts")];
  assert.ok(full.some((s) => /\/lib\/tailscale\//.test(s)), "connect reaches the Tailscale layer");
  assert.ok((await runtimeGraph("lib/core/shell.ts")).has("bare:dax"));
});

Deno.test("parseEdgeRunArgs() takes the edge's flags and leaves anything else to commander", () => {
  assert.deepEqual(parseEdgeRunArgs(["--config", "/x.json", "-v"]), {
    flags: { configFile: "/x.json" },
    verbose: true,
  });
  assert.deepEqual(parseEdgeRunArgs(["--listen=127.0.0.1:1", "--upstream", "http://127.0.0.1:2"]), {
    flags: { listen: "127.0.0.1:1", upstream: "http://127.0.0.1:2" },
    verbose: false,
  });
  assert.equal(parseEdgeRunArgs(["--help"]), undefined);
  assert.equal(parseEdgeRunArgs(["--config"]), undefined);
  assert.equal(parseEdgeRunArgs(["--frobnicate"]), undefined);
});

Deno.test("`ecto edge run` through the fast path fails like the full CLI on a missing config", async () => {
  const home = await Deno.makeTempDir();
  try {
    const env = {
      HOME: home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      // The real module cache: the throwaway HOME has none and npm is unreachable.
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
    };
    const fast = await runEcto(["edge", "run", "--config", `${home}/missing.json`], env);
    const full = await runEcto(
      ["edge", "run", "--config", `${home}/missing.json`, "--frobnicate"],
      env,
    );
    assert.notEqual(fast.code, 0);
    assert.match(fast.stderr, /missing\.json/);
    let stderr = "";
    const code = await main(["edge", "run", "--config", `${home}/missing.json`], {
      env: (name) => (env as Record<string, string>)[name],
      envAll: () => env,
      stdout: () => {},
      stderr: (text) => void (stderr += text),
      isTerminal: false,
      readLine: () => Promise.resolve(undefined),
      selfCommand: [],
      fetch,
    });
    assert.equal(fast.code, code, "same exit code as through commander");
    assert.equal(fast.stderr, stderr, "same message as through commander");
    assert.equal(full.code, 2, "an unknown flag goes to commander: usage error");
    assert.match(full.stderr, /unknown option '--frobnicate'/);
    const help = await runEcto(["edge", "run", "--help"], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--config <file>/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
