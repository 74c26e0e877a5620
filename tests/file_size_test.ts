/**
 * Files stay small enough to read as one concern: no module under `lib/` is over 400 lines,
 * except the few that are one concern each, named here with the reason. A new exception is a
 * decision to write down, not a drift.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const LIMIT = 400;

/** Over the limit on purpose; each still one concern. */
const ONE_CONCERN: Record<string, string> = {
  "lib/core/layer_types.ts": "every layer contract and the facts it carries, in one types file",
  "lib/tailscale/diagnose.ts": "the table of Tailscale's failure texts and what each means",
  "lib/edge/handler.ts": "one request's path through the edge, in order",
};

async function* modules(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* modules(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test(`no lib/ module is over ${LIMIT} lines unless it is a named single concern`, async () => {
  const over: string[] = [];
  const sizes = new Map<string, number>();
  for await (const path of modules("lib")) {
    const lines = (await Deno.readTextFile(`${ROOT}${path}`)).split("\n").length - 1;
    sizes.set(path, lines);
    if (lines > LIMIT && !(path in ONE_CONCERN)) over.push(`${path} (${lines})`);
  }
  assert.deepEqual(over, [], "split these by concern, or name them in ONE_CONCERN with why");
  for (const path of Object.keys(ONE_CONCERN)) {
    assert.ok(sizes.has(path), `${path} is named but gone: remove it from ONE_CONCERN`);
  }
});
