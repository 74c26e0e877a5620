/**
 * The house's shape, checked on the real module graph (`deno info --json`,
 * code and type-only imports alike): `lib/` is one folder per concept, each
 * with its own `mod.ts`; no module imports itself through a cycle; the folders
 * depend on one another in one direction only (core at the bottom, the
 * presentation at the top).
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

function libFolder(path: string): string | undefined {
  const m = /^lib\/([^/]+)\//.exec(path);
  return m?.[1];
}

async function libFolders(): Promise<string[]> {
  const folders: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}lib`)) {
    if (entry.isDirectory) folders.push(entry.name);
  }
  return folders.sort();
}

/** Repo-relative module → the repo-relative modules it imports (code or type). */
async function moduleGraph(roots: string[]): Promise<Map<string, Set<string>>> {
  const graph = new Map<string, Set<string>>();
  const prefix = new URL("..", import.meta.url).href;
  for (const root of roots) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
      }[];
    };
    for (const mod of info.modules) {
      if (!mod.specifier.startsWith(prefix)) continue;
      const from = mod.specifier.slice(prefix.length);
      const deps = graph.get(from) ?? new Set<string>();
      for (const dep of mod.dependencies ?? []) {
        for (const target of [dep.code?.specifier, dep.type?.specifier]) {
          if (target?.startsWith(prefix)) deps.add(target.slice(prefix.length));
        }
      }
      graph.set(from, deps);
    }
  }
  return graph;
}

/** Every cycle DFS finds (each as the path that closes it). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

const folders = await libFolders();
const graph = await moduleGraph(["cli.ts", "mod.ts", ...folders.map((f) => `lib/${f}/mod.ts`)]);

Deno.test("lib/ holds only folders, each with its own mod.ts", async () => {
  const loose: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}lib`)) {
    if (!entry.isDirectory) loose.push(entry.name);
  }
  assert.deepEqual(loose, []);
  for (const folder of folders) {
    const stat = await Deno.stat(`${ROOT}lib/${folder}/mod.ts`).catch(() => undefined);
    assert.ok(stat?.isFile, `lib/${folder}/ has no mod.ts`);
  }
});

Deno.test("every module under lib/ is reachable from cli.ts, mod.ts or a folder's mod.ts", async () => {
  const unreached: string[] = [];
  for (const folder of folders) {
    for await (const entry of Deno.readDir(`${ROOT}lib/${folder}`)) {
      const path = `lib/${folder}/${entry.name}`;
      if (entry.isFile && entry.name.endsWith(".ts") && !graph.has(path)) unreached.push(path);
    }
  }
  assert.deepEqual(unreached, []);
});

Deno.test("no import cycle between modules, type-only imports included", () => {
  assert.ok(graph.size > 50, `only ${graph.size} modules in the graph`);
  assert.deepEqual(cycles(graph), []);
});

Deno.test("lib/'s folders depend on one another in one direction only", () => {
  const folderGraph = new Map<string, Set<string>>();
  const edges: string[] = [];
  for (const [from, deps] of graph) {
    const a = libFolder(from);
    if (!a) continue;
    for (const dep of deps) {
      const b = libFolder(dep);
      if (!b || b === a) continue;
      if (!folderGraph.get(a)?.has(b)) edges.push(`${a} -> ${b} (${from} imports ${dep})`);
      folderGraph.set(a, (folderGraph.get(a) ?? new Set()).add(b));
    }
  }
  assert.deepEqual(cycles(folderGraph), [], edges.join("\n"));
});

Deno.test("lib/core imports no other folder; only the entries and cli/ import commands/ and cli/", () => {
  const wrong: string[] = [];
  for (const [from, deps] of graph) {
    const a = libFolder(from);
    for (const dep of deps) {
      const b = libFolder(dep);
      if (!b || b === a) continue;
      if (a === "core") wrong.push(`${from} imports ${dep}`);
      if (b === "cli" && a !== undefined) wrong.push(`${from} imports ${dep}`);
      if (b === "commands" && a !== undefined && a !== "cli") wrong.push(`${from} imports ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});
