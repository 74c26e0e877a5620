import assert from "node:assert/strict";
import {
  buildCredentials,
  keyPreview,
  readCredentials,
  removeCredentials,
  writeCredentials,
} from "../lib/core/credentials.ts";
import { EctoError } from "../lib/core/errors.ts";
import { ectoPaths } from "../lib/core/paths.ts";

const KEY = "ecto_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";

async function tempHome(): Promise<AsyncDisposable & { home: string; file: string }> {
  const home = await Deno.makeTempDir({ prefix: "ecto-cred-" });
  const file = ectoPaths((name) => name === "HOME" ? home : undefined).credentialsFile;
  return {
    home,
    file,
    [Symbol.asyncDispose]: () => Deno.remove(home, { recursive: true }),
  };
}

Deno.test("`writeCredentials()` keeps the seed's keys and adds endpoint and model", async (t) => {
  await using tmp = await tempHome();
  const written = await writeCredentials(tmp.file, {
    token: KEY,
    url: "https://build-box.tail1234.ts.net/",
    port: 18789,
    created: new Date("2026-01-02T03:04:05.678Z"),
  });
  const raw = JSON.parse(await Deno.readTextFile(tmp.file));
  await t.step("keys in the seed's order, then ecto's", () => {
    assert.deepEqual(Object.keys(raw), ["token", "url", "port", "created", "endpoint", "model"]);
  });
  await t.step("values and types as the seed wrote them", () => {
    assert.deepEqual(raw, {
      token: KEY,
      url: "https://build-box.tail1234.ts.net",
      port: 18789,
      created: "2026-01-02T03:04:05.678Z",
      endpoint: "https://build-box.tail1234.ts.net/v1/chat/completions",
      model: "openclaw/default",
    });
    assert.deepEqual(written, raw);
    assert.match(raw.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
  await t.step("a port-8443 URL keeps its port", () => {
    const c = buildCredentials({ token: KEY, url: "https://b.tail1.ts.net:8443", port: 18789 });
    assert.equal(c.endpoint, "https://b.tail1.ts.net:8443/v1/chat/completions");
  });
});

Deno.test("`writeCredentials()` writes mode 0600 atomically and creates ~/.openclaw 0700", {
  ignore: Deno.build.os === "windows",
}, async (t) => {
  await using tmp = await tempHome();
  await t.step("missing parent is created 0700, file 0600", async () => {
    await writeCredentials(tmp.file, { token: KEY, url: "https://a.ts.net", port: 18789 });
    assert.equal((await Deno.stat(tmp.file)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${tmp.home}/.openclaw`)).mode! & 0o777, 0o700);
  });
  await t.step("rewriting leaves no temp file behind", async () => {
    await writeCredentials(tmp.file, { token: KEY + "2", url: "https://a.ts.net", port: 1 });
    assert.deepEqual(
      [...Deno.readDirSync(`${tmp.home}/.openclaw`)].map((e) => e.name),
      ["ecto-credentials.json"],
    );
    assert.equal((await readCredentials(tmp.file))?.token, KEY + "2");
  });
  await t.step("an existing ~/.openclaw keeps its mode", async () => {
    await Deno.chmod(`${tmp.home}/.openclaw`, 0o755);
    await writeCredentials(tmp.file, { token: KEY, url: "https://a.ts.net", port: 18789 });
    assert.equal((await Deno.stat(`${tmp.home}/.openclaw`)).mode! & 0o777, 0o755);
    assert.equal((await Deno.stat(tmp.file)).mode! & 0o777, 0o600);
  });
});

Deno.test("`readCredentials()` reads the seed's older file without endpoint or model", async () => {
  await using tmp = await tempHome();
  await Deno.mkdir(`${tmp.home}/.openclaw`);
  await Deno.writeTextFile(
    tmp.file,
    JSON.stringify({
      token: KEY,
      url: "https://old-mac.tail9999.ts.net",
      port: 18789,
      created: "2025-11-01T10:00:00Z",
    }),
  );
  assert.deepEqual(await readCredentials(tmp.file), {
    token: KEY,
    url: "https://old-mac.tail9999.ts.net",
    port: 18789,
    created: "2025-11-01T10:00:00Z",
    endpoint: "https://old-mac.tail9999.ts.net/v1/chat/completions",
    legacy: true,
  });
});

Deno.test("`readCredentials()` round-trips ecto's own file and returns undefined when absent", async () => {
  await using tmp = await tempHome();
  assert.equal(await readCredentials(tmp.file), undefined);
  const written = await writeCredentials(tmp.file, {
    token: KEY,
    url: "https://a.ts.net",
    port: 18789,
    model: "openclaw/main",
  });
  assert.deepEqual(await readCredentials(tmp.file), { ...written, legacy: false });
});

Deno.test("`readCredentials()` rejects a corrupt file with a fix and without quoting it", async (t) => {
  await using tmp = await tempHome();
  await Deno.mkdir(`${tmp.home}/.openclaw`);
  const cases: [string, string, RegExp][] = [
    ["truncated JSON", `{"token": "${KEY}", "url": "https://a`, /not valid JSON/],
    ["not an object", `["${KEY}"]`, /JSON object/],
    ["no token", `{"url": "https://a.ts.net", "port": 18789}`, /no token/],
    ["bad url", `{"token": "${KEY}", "url": "a.ts.net", "port": 18789}`, /no valid url/],
    ["bad port", `{"token": "${KEY}", "url": "https://a.ts.net", "port": 0}`, /no valid port/],
  ];
  for (const [name, content, message] of cases) {
    await t.step(name, async () => {
      await Deno.writeTextFile(tmp.file, content);
      const error = await readCredentials(tmp.file).then(() => undefined, (e) => e);
      assert.ok(error instanceof EctoError);
      assert.equal(error.code, "credentials_corrupt");
      assert.match(error.message, message);
      assert.match(error.fix ?? "", /ecto connect/);
      assert.equal(error.cause, undefined);
      assert.ok(
        !error.message.includes(KEY.slice(5, 20)) && !error.fix?.includes(KEY.slice(5, 20)),
      );
    });
  }
});

Deno.test("`removeCredentials()` deletes the file and reports whether there was one", async () => {
  await using tmp = await tempHome();
  await writeCredentials(tmp.file, { token: KEY, url: "https://a.ts.net", port: 18789 });
  assert.equal(await removeCredentials(tmp.file), true);
  assert.equal(await removeCredentials(tmp.file), false);
  assert.equal(await readCredentials(tmp.file), undefined);
});

Deno.test("`keyPreview()` shows at most 8 characters", () => {
  assert.equal(keyPreview(KEY), "ecto_Zm…");
  assert.equal([...keyPreview(KEY)].length, 8);
  assert.equal(keyPreview("abcdef"), "ab…");
  assert.equal(keyPreview("ab"), "…");
  assert.equal(keyPreview(""), "…");
});
