/**
 * The edge as the benchmark runs it: its own process, started like
 * `ecto edge run --config <file>` (the same `loadEdgeConfig` + `runEdge`,
 * under the `ecto` permission set), so it is measured like the real thing.
 *
 * Usage: `deno run -P=ecto bench/edge_process.ts <edge-config.json> [<key-file>]`
 *
 * With `<key-file>`, it first creates an owner key in the config's state dir
 * and writes the key (0600) there for the bench's clients; keys never go
 * through argv.
 *
 * @module
 */
import { KeyStore, loadEdgeConfig, runEdge } from "../lib/edge/mod.ts";
import { ectoPaths } from "../lib/paths.ts";

const [configPath, keyFile] = Deno.args;
if (!configPath) throw new Error("usage: edge_process.ts <edge-config.json> [<key-file>]");
const config = await loadEdgeConfig(configPath);

if (keyFile) {
  const paths = ectoPaths((name) =>
    name === "ECTO_STATE_DIR" ? config.stateDir : Deno.env.get(name)
  );
  const store = await KeyStore.open(paths.keysFile);
  try {
    const { key } = await store.create("bench", { role: "owner", agent: "main" });
    await Deno.writeTextFile(keyFile, key, { mode: 0o600 });
  } finally {
    await store.close();
  }
}

await runEdge(config);
