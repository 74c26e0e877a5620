import assert from "node:assert/strict";
import { Json5SyntaxError, parseJson5 } from "../lib/json5.ts";

Deno.test("`parseJson5()` reads everything plain JSON reads, the same way", () => {
  const samples = [
    "null",
    "true",
    "false",
    "0",
    "-0",
    "12.5e-3",
    "1E+2",
    '"a\\u00e9\\n\\"b\\/"',
    '{"a":[1,2,{"b":null}],"c":"d"}',
    "[]",
    "{}",
    ' \t\n {"nested": {"deep": [true, false, "x"]}} \n',
  ];
  for (const text of samples) assert.deepEqual(parseJson5(text), JSON.parse(text), text);
});

Deno.test("`parseJson5()` accepts the JSON5 extensions", async (t) => {
  await t.step("line and block comments", () => {
    assert.deepEqual(
      parseJson5("// head\n{ /* inline */ a: 1, // tail\n /* multi\n line */ b: 2 }\n// end"),
      { a: 1, b: 2 },
    );
  });
  await t.step("trailing commas in objects and arrays", () => {
    assert.deepEqual(parseJson5("{ a: [1, 2,], b: { c: 3, }, }"), { a: [1, 2], b: { c: 3 } });
  });
  await t.step("unquoted identifier keys, including $, _, unicode and \\u escapes", () => {
    assert.deepEqual(parseJson5("{ $a: 1, _b: 2, c3: 3, été: 4, \\u0061x: 5 }"), {
      $a: 1,
      _b: 2,
      c3: 3,
      "été": 4,
      ax: 5,
    });
  });
  await t.step("single-quoted strings and keys", () => {
    assert.deepEqual(parseJson5(`{ 'k': 'it\\'s "fine"', "q": "it's" }`), {
      k: `it's "fine"`,
      q: "it's",
    });
  });
  await t.step("multi-line strings with a backslash line continuation", () => {
    assert.equal(parseJson5("'one \\\ntwo \\\r\nthree'"), "one two three");
  });
  await t.step("escapes: \\x, \\v, \\0, \\u and any other character", () => {
    assert.equal(parseJson5(String.raw`"\x41\v\0\u0042\q\ud83d\ude00"`), "A\v\0Bq😀");
  });
  await t.step("hexadecimal numbers, with sign", () => {
    assert.equal(parseJson5("0x4965"), 18789);
    assert.equal(parseJson5("-0XfF"), -255);
    assert.equal(parseJson5("+0x10"), 16);
  });
  await t.step("Infinity, -Infinity, +Infinity and NaN", () => {
    assert.equal(parseJson5("Infinity"), Infinity);
    assert.equal(parseJson5("-Infinity"), -Infinity);
    assert.equal(parseJson5("+Infinity"), Infinity);
    assert.ok(Number.isNaN(parseJson5("NaN")));
    assert.ok(Number.isNaN(parseJson5("-NaN")));
  });
  await t.step("leading and trailing decimal points and an explicit +", () => {
    assert.deepEqual(parseJson5("[.5, 5., +1, -.25e1]"), [0.5, 5, 1, -2.5]);
  });
  await t.step("extra white space: BOM, vertical tab, form feed, nbsp, U+2028", () => {
    assert.deepEqual(parseJson5("\ufeff\v\f\u00a0\u2028{a:1}\u2029"), { a: 1 });
  });
  await t.step("keys that look like keywords", () => {
    assert.deepEqual(parseJson5("{ null: 1, true: 2, Infinity: 3, NaN: 4 }"), {
      null: 1,
      true: 2,
      Infinity: 3,
      NaN: 4,
    });
  });
  await t.step("`__proto__` becomes an own property and pollutes nothing", () => {
    const value = parseJson5('{ __proto__: { polluted: true }, "a": 1 }') as Record<
      string,
      unknown
    >;
    assert.ok(Object.hasOwn(value, "__proto__"));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  });
  await t.step("an OpenClaw-style config", () => {
    const text = `// OpenClaw config
{
  gateway: {
    mode: 'local',
    port: 18789,
    bind: "loopback",
    auth: { mode: "token", token: "abc", },
    /* endpoints */
    http: { endpoints: { chatCompletions: { enabled: true } } },
    trustedProxies: ['127.0.0.1', '::1',],
  },
}
`;
    assert.deepEqual(parseJson5(text), {
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
});

Deno.test("`parseJson5()` rejects bad input with the line and column", async (t) => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    ["missing comma", "{\n  a: 1\n  b: 2\n}", 3, 3, /expected ',' or '}'/],
    ["empty input", "", 1, 1, /end of input/],
    ["unterminated string", "{ a: 'abc }", 1, 6, /unterminated string/],
    ["raw line break in a string", '"a\nb"', 1, 3, /line break inside a string/],
    ["unterminated block comment", "{ /* x", 1, 3, /unterminated block comment/],
    ["unterminated object", "{ a: 1", 1, 7, /end of input/],
    ["leading zero", "[01]", 1, 2, /leading zeros/],
    ["octal escape", String.raw`"\01"`, 1, 3, /octal/],
    ["bad hex escape", String.raw`"\xZZ"`, 1, 4, /hexadecimal/],
    ["bare word", "{ a: yes }", 1, 6, /expected a value/],
    ["trailing garbage", "{} x", 1, 4, /after the value/],
    ["double comma", "[1,,2]", 1, 4, /expected a value/],
    ["lone comma in object", "{,}", 1, 2, /expected a key/],
    ["hex without digits", "0x", 1, 3, /hexadecimal digits/],
    ["identifier after a number", "12abc", 1, 3, /in a number/],
    ["CRLF lines are counted once", "{\r\n\r\n  a: ?\r\n}", 3, 6, /expected a value/],
    ["missing colon", "{ a 1 }", 1, 5, /expected ':'/],
    ["exponent without digits", "1e", 1, 3, /exponent/],
  ];
  for (const [name, text, line, column, reason] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => parseJson5(text),
        (error: unknown) => {
          assert.ok(error instanceof Json5SyntaxError, String(error));
          assert.ok(error instanceof SyntaxError);
          assert.match(error.message, reason);
          assert.equal(`${error.line}:${error.column}`, `${line}:${column}`, error.message);
          assert.match(error.message, new RegExp(`line ${line}, column ${column}$`));
          return true;
        },
      );
    });
  }
});
