import assert from "node:assert/strict";
import {
  createConfigTokenSource,
  substituteEnv,
  tokenFromConfig,
} from "../lib/edge/token_source.ts";

const noEnv = () => undefined;

Deno.test("`createConfigTokenSource()` reads gateway.auth.token from OpenClaw's JSON5 config", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-token-" });
  const path = `${dir}/openclaw.json`;
  try {
    await Deno.writeTextFile(
      path,
      `// written by hand\n{\n  gateway: {\n    auth: { mode: 'token', token: "tok-one-aaaaaaaaaaaaaaaaaaaa", },\n  },\n}\n`,
    );
    const source = createConfigTokenSource(path, { env: noEnv });

    await t.step("the token", async () => {
      assert.equal(await source(), "tok-one-aaaaaaaaaaaaaaaaaaaa");
    });
    await t.step("a token rewritten in place is used by the very next call", async () => {
      await Deno.writeTextFile(
        path,
        `{ gateway: { auth: { token: "tok-two-bbbbbbbbbbbbbbbbbbbbbbbb" } } }`,
      );
      assert.equal(await source(), "tok-two-bbbbbbbbbbbbbbbbbbbbbbbb");
    });
    await t.step(
      "a token rotated by rename (a new inode) is used by the very next call",
      async () => {
        await Deno.writeTextFile(
          `${path}.tmp`,
          `{ gateway: { auth: { token: "tok-ren-cccccccccccccccccccccccc" } } }`,
        );
        await Deno.rename(`${path}.tmp`, path);
        assert.equal(await source(), "tok-ren-cccccccccccccccccccccccc");
      },
    );
    await t.step("a half-written (unparsable) file keeps the last good token", async () => {
      await Deno.writeTextFile(path, `{ gateway: { auth: { token: "tok-thr`);
      assert.equal(await source(), "tok-ren-cccccccccccccccccccccccc");
    });
    await t.step("no token in the file: OPENCLAW_GATEWAY_TOKEN", async () => {
      await Deno.writeTextFile(path, `{ gateway: { auth: { mode: "token" } } }`);
      const withEnv = createConfigTokenSource(path, {
        env: (n) => (n === "OPENCLAW_GATEWAY_TOKEN" ? "from-env-cccccccccccccccc" : undefined),
      });
      assert.equal(await withEnv(), "from-env-cccccccccccccccc");
      assert.equal(await source(), undefined);
    });
    await t.step("a missing file: the environment fallback", async () => {
      const missing = createConfigTokenSource(`${dir}/nope.json`, {
        env: (n) => (n === "OPENCLAW_GATEWAY_TOKEN" ? "env-only" : undefined),
      });
      assert.equal(await missing(), "env-only");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`tokenFromConfig()` resolves ${VAR} substitution and env secret refs", () => {
  const env = (n: string) =>
    ({ GW_TOKEN: "secret-from-env", EMPTY: "" } as Record<string, string>)[n];
  assert.equal(tokenFromConfig({ gateway: { auth: { token: "plain" } } }, env), "plain");
  assert.equal(
    tokenFromConfig({ gateway: { auth: { token: "${GW_TOKEN}" } } }, env),
    "secret-from-env",
  );
  assert.equal(tokenFromConfig({ gateway: { auth: { token: "${MISSING}" } } }, env), undefined);
  assert.equal(
    tokenFromConfig({ gateway: { auth: { token: { source: "env", id: "GW_TOKEN" } } } }, env),
    "secret-from-env",
  );
  assert.equal(
    tokenFromConfig({ gateway: { auth: { token: { source: "file", id: "x" } } } }, env),
    undefined,
  );
  assert.equal(tokenFromConfig({ gateway: { auth: {} } }, env), undefined);
  assert.equal(tokenFromConfig(null, env), undefined);
  assert.equal(tokenFromConfig({ gateway: { auth: { token: "" } } }, env), undefined);
  assert.equal(substituteEnv("a-$${GW_TOKEN}-b", env), "a-${GW_TOKEN}-b");
  assert.equal(substituteEnv("x${GW_TOKEN}y", env), "xsecret-from-envy");
  assert.equal(substituteEnv("${EMPTY}", env), undefined);
});

Deno.test("`createConfigTokenSource()` answers whatever the gateway accepts: password mode, .env, ecto's copy", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "ecto-token-home-" });
  const stateDir = `${home}/.openclaw`;
  const path = `${stateDir}/openclaw.json`;
  await Deno.mkdir(stateDir, { recursive: true });
  const env = (extra: Record<string, string> = {}) => (n: string) =>
    ({ HOME: home, ECTO_STATE_DIR: `${home}/.ecto`, ...extra } as Record<string, string>)[n];
  try {
    await t.step("password mode: the password is the bearer (OpenClaw accepts it)", async () => {
      await Deno.writeTextFile(
        path,
        `{ gateway: { auth: { mode: "password", password: "pw-aaaaaaaaaaaaaaaaaaaa" } } }`,
      );
      assert.equal(
        await createConfigTokenSource(path, { env: env() })(),
        "pw-aaaaaaaaaaaaaaaaaaaa",
      );
    });
    await t.step("a ${VAR} template resolved from OpenClaw's .env", async () => {
      await Deno.writeTextFile(
        path,
        `{ gateway: { auth: { mode: "token", token: "\${GW_TOKEN}" } } }`,
      );
      await Deno.writeTextFile(
        `${stateDir}/.env`,
        `export GW_TOKEN="from-dotenv-bbbbbbbbbbbb" # c\n`,
      );
      assert.equal(
        await createConfigTokenSource(path, { env: env() })(),
        "from-dotenv-bbbbbbbbbbbb",
      );
    });
    await t.step("OPENCLAW_GATEWAY_TOKEN from ~/.config/openclaw/gateway.env", async () => {
      await Deno.remove(`${stateDir}/.env`);
      await Deno.writeTextFile(path, `{ gateway: { auth: { mode: "token" } } }`);
      await Deno.mkdir(`${home}/.config/openclaw`, { recursive: true });
      await Deno.writeTextFile(
        `${home}/.config/openclaw/gateway.env`,
        "OPENCLAW_GATEWAY_TOKEN=gw-env-cccccccccccc\n",
      );
      assert.equal(await createConfigTokenSource(path, { env: env() })(), "gw-env-cccccccccccc");
      await Deno.remove(`${home}/.config/openclaw/gateway.env`);
    });
    await t.step("only in ecto's environment: ecto's 0600 copy", async () => {
      await Deno.mkdir(`${home}/.ecto`, { recursive: true });
      await Deno.writeTextFile(`${home}/.ecto/gateway-credential`, "copied-dddddddddddd\n");
      assert.equal(await createConfigTokenSource(path, { env: env() })(), "copied-dddddddddddd");
    });
    await t.step(
      "a .env (and its directory) that appear after the first call are read by the very next one",
      async () => {
        for (
          const gone of [`${stateDir}/.env`, `${home}/.config`, `${home}/.ecto/gateway-credential`]
        ) {
          await Deno.remove(gone, { recursive: true }).catch(() => {});
        }
        await Deno.writeTextFile(
          path,
          `{ gateway: { auth: { mode: "token", token: "\${LATE_TOKEN}" } } }`,
        );
        const source = createConfigTokenSource(path, { env: env() });
        assert.equal(await source(), undefined); // neither .env nor ~/.config/openclaw exists
        for (let i = 0; i < 3; i++) assert.equal(await source(), undefined); // steady: cheap path
        await Deno.writeTextFile(`${stateDir}/.env`, `LATE_TOKEN=late-dotenv-cccccccccccc\n`);
        assert.equal(await source(), "late-dotenv-cccccccccccc");
        await Deno.remove(`${stateDir}/.env`);
        await Deno.mkdir(`${home}/.config/openclaw`, { recursive: true });
        await Deno.writeTextFile(
          `${home}/.config/openclaw/gateway.env`,
          `LATE_TOKEN=late-gatewayenv-dddddddd\n`,
        );
        assert.equal(await source(), "late-gatewayenv-dddddddd");
        await Deno.remove(`${home}/.config`, { recursive: true });
      },
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
