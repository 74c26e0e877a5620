import assert from "node:assert/strict";
import { Json5SyntaxError, parseJson5 } from "../lib/core/json5.ts";
import { ensureOpenClaw } from "./harness/openclaw_install.ts";
import denoJson from "../deno.json" with { type: "json" };

Deno.test("`parseJson5()` reads an OpenClaw config written by hand", async () => {
  const text = `// OpenClaw config
{
  gateway: {
    mode: 'local',
    port: 0x4965,
    bind: "loopback",
    auth: { mode: "token", token: "abc", },
    /* endpoints */
    http: { endpoints: { chatCompletions: { enabled: true } } },
    trustedProxies: ['127.0.0.1', '::1',],
  },
}
`;
  assert.deepEqual(await parseJson5(text), {
    gateway: {
      mode: "local",
      port: 18789,
      bind: "loopback",
      auth: { mode: "token", token: "abc" },
      http: { endpoints: { chatCompletions: { enabled: true } } },
      trustedProxies: ["127.0.0.1", "::1"],
    },
  });
});

Deno.test("`parseJson5()` makes `__proto__` an own property and pollutes nothing", async () => {
  for (
    const text of ['{ __proto__: { polluted: true }, "a": 1 }', '{"__proto__": {"polluted": true}}']
  ) {
    const value = await parseJson5(text) as object;
    assert.ok(Object.hasOwn(value, "__proto__"), text);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  }
});

Deno.test("`parseJson5()` gives plain JSON (its fast path) exactly what JSON5 gives", async () => {
  const { default: JSON5 } = await import("json5");
  for (
    const text of [
      '{"gateway":{"port":18789,"auth":{"token":"a\\u2028b"}},"n":1e400,"d":{"x":1,"x":2}}',
      "[1, 2.50, -0, true, null]",
      '"\\ud83d\\ude00"',
    ]
  ) {
    assert.deepEqual(await parseJson5(text), JSON5.parse(text), text);
  }
});

Deno.test("`parseJson5()` rejects bad input with the 1-based line and column", async (t) => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    ["missing comma", "{\n  a: 1\n  b: 2\n}", 3, 3, /invalid character 'b'/],
    ["empty input", "", 1, 1, /invalid end of input/],
    ["CRLF lines are counted once", "{\r\n\r\n  a: ?\r\n}", 3, 6, /invalid character '\?'/],
    ["raw line break in a string (column 0 becomes 1)", '"a\nb"', 2, 1, /invalid character/],
    ["trailing garbage", "{} x", 1, 4, /invalid character 'x'/],
  ];
  for (const [name, text, line, column, reason] of cases) {
    await t.step(name, async () => {
      await assert.rejects(parseJson5(text), (error: unknown) => {
        assert.ok(error instanceof Json5SyntaxError, String(error));
        assert.ok(error instanceof SyntaxError);
        assert.match(error.reason, reason);
        assert.doesNotMatch(error.reason, /JSON5:|\d+:\d+$/);
        assert.equal(`${error.line}:${error.column}`, `${line}:${column}`, error.message);
        assert.match(error.message, new RegExp(`line ${line}, column ${column}$`));
        return true;
      });
    });
  }
});

Deno.test("the pinned `json5` is the version OpenClaw 2026.9.6 parses its config with", async () => {
  const install = await ensureOpenClaw();
  const theirs = JSON.parse(
    await Deno.readTextFile(`${install.cacheDir}/node_modules/json5/package.json`),
  ) as { version: string };
  assert.equal(denoJson.imports.json5, `npm:json5@${theirs.version}`);
});
