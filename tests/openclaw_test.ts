import assert from "node:assert/strict";
import { build$, type CommandContext } from "dax";
import {
  ActionRequiredError,
  EctoError,
  MissingPrerequisiteError,
  ToolError,
} from "../lib/core/errors.ts";
import type { EctoEvent } from "../lib/core/events.ts";
import {
  applyMergePatch,
  applyOpenClawPlan,
  detectGatewayService,
  ensureGatewayRunning,
  GatewayNotReadyError,
  gatewayRunning,
  inspectGatewaySettings,
  locateOpenClaw,
  mergeSnapshot,
  type OpenClawPlan,
  type OpenClawSnapshot,
  parseDotEnv,
  parseGatewayStatus,
  patchOpenClawConfig,
  planOpenClaw,
  probeGatewayApi,
  readOpenClawConfig,
  resolveOpenClawLocation,
  restartGateway,
  setPath,
  undoOpenClaw,
  undoPatch,
  undoRestartKind,
} from "../lib/openclaw/mod.ts";
import { ectoPaths } from "../lib/core/paths.ts";

const FIXTURES = new URL("./fixtures/openclaw/", import.meta.url).pathname;
const TOKEN = "f".repeat(32) + "0".repeat(32);

function envOf(vars: Record<string, string | undefined>): (name: string) => string | undefined {
  // These tests fake the `openclaw` CLI, so the config goes through it; the gateway-API writer
  // has its own tests (openclaw_gateway_rpc_test.ts, openclaw_config_api_test.ts).
  const all: Record<string, string | undefined> = { ECTO_CONFIG_WRITER: "cli", ...vars };
  return (name) => all[name];
}

async function fixture(name: string): Promise<Record<string, unknown>> {
  return (await readOpenClawConfig(`${FIXTURES}${name}`)).config;
}

function plan(
  config: Record<string, unknown>,
  options: Partial<Parameters<typeof planOpenClaw>[1]> = {},
): OpenClawPlan {
  return planOpenClaw(config, {
    configPath: "/h/.openclaw/openclaw.json",
    generateToken: () => TOKEN,
    ...options,
  });
}

async function readAll(ctx: CommandContext): Promise<string> {
  const stdin = ctx.stdin;
  if (stdin === "inherit" || stdin === "null") return "";
  const decoder = new TextDecoder();
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await stdin.read(buf);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text + decoder.decode();
}

interface FakeCall {
  args: string[];
  stdin: string;
  env: Record<string, string>;
}

/** A `$` whose `openclaw`, `sh` and `ps` are fakes. */
function fakeShell(
  handlers: {
    openclaw?: (call: FakeCall) => { code?: number; stdout?: string; stderr?: string };
    sh?: (args: string[]) => { code?: number; stdout?: string };
    ps?: (args: string[]) => { code?: number; stdout?: string };
  },
) {
  const calls: FakeCall[] = [];
  const $ = build$({
    commandBuilder: (b) =>
      b.registerCommand("openclaw", async (ctx) => {
        const call = { args: ctx.args, stdin: await readAll(ctx), env: ctx.env };
        calls.push(call);
        const r = handlers.openclaw?.(call) ?? { code: 0 };
        if (r.stdout) await ctx.stdout.writeText(r.stdout);
        if (r.stderr) await ctx.stderr.writeText(r.stderr);
        return { code: r.code ?? 0 };
      }).registerCommand("sh", async (ctx) => {
        calls.push({ args: ["sh", ...ctx.args], stdin: "", env: ctx.env });
        const r = handlers.sh?.(ctx.args) ?? { code: 0, stdout: "4242\n" };
        if (r.stdout) await ctx.stdout.writeText(r.stdout);
        return { code: r.code ?? 0 };
      }).registerCommand("ps", async (ctx) => {
        if (!handlers.ps) return await ctx.error(127, "ps: not faked");
        const r = handlers.ps(ctx.args);
        if (r.stdout) await ctx.stdout.writeText(r.stdout);
        return { code: r.code ?? 0 };
      }),
  });
  return { $, calls };
}

/** A fetch answering from a route table (`"GET /v1/models auth"` → status). */
function fakeFetch(route: (path: string, auth: string | null) => number | null) {
  const seen: Array<{ path: string; auth: string | null }> = [];
  const fn = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const auth = new Headers(init?.headers).get("authorization");
    seen.push({ path: url.pathname, auth });
    const status = route(url.pathname, auth);
    if (status === null) return Promise.reject(new TypeError("connection refused"));
    return Promise.resolve(new Response(status === 200 ? "{}" : "no", { status }));
  };
  return { fetch: fn as typeof fetch, seen };
}

Deno.test("`resolveOpenClawLocation()` follows OpenClaw's precedence", () => {
  const cases: Array<[Record<string, string>, string, string]> = [
    [{ HOME: "/u" }, "/u/.openclaw/openclaw.json", "HOME"],
    [{ HOME: "/u", OPENCLAW_STATE_DIR: "/x" }, "/x/openclaw.json", "OPENCLAW_STATE_DIR"],
    [
      { HOME: "/u", OPENCLAW_STATE_DIR: "/x", OPENCLAW_CONFIG_PATH: "/y.json5" },
      "/y.json5",
      "OPENCLAW_CONFIG_PATH",
    ],
    [{ HOME: "/u", OPENCLAW_HOME: "/h" }, "/h/.openclaw/openclaw.json", "OPENCLAW_HOME"],
    [{ HOME: "/u", OPENCLAW_CONFIG_PATH: "~/c.json" }, "/u/c.json", "OPENCLAW_CONFIG_PATH"],
    [{ HOME: "/u", OPENCLAW_PROFILE: "p" }, "/u/.openclaw/openclaw.json", "HOME"],
  ];
  for (const [vars, path, source] of cases) {
    const location = resolveOpenClawLocation(envOf(vars));
    assert.equal(location.configPath, path, JSON.stringify(vars));
    assert.equal(location.source, source);
  }
  assert.equal(
    resolveOpenClawLocation(envOf({ HOME: "/u", OPENCLAW_STATE_DIR: "/x" })).stateDir,
    "/x",
  );
});

Deno.test("`readOpenClawConfig()` reads JSON5 and names file, line and column when it does not parse", async (t) => {
  await t.step("a missing file is OpenClaw's defaults", async () => {
    const file = await readOpenClawConfig("/nonexistent/openclaw.json");
    assert.equal(file.exists, false);
    assert.deepEqual(file.config, {});
  });
  await t.step("a syntax error (OpenClaw itself reports 5:5)", async () => {
    const path = `${FIXTURES}invalid-syntax.json5`;
    await assert.rejects(readOpenClawConfig(path), (error: unknown) => {
      assert.ok(error instanceof EctoError);
      assert.equal(error.code, "openclaw_config_invalid");
      assert.match(error.message, new RegExp(`${path}.*line 5, column 5`));
      assert.match(error.fix ?? "", new RegExp(`${path}:5:5`));
      assert.match(error.fix ?? "", /openclaw config validate/);
      return true;
    });
  });
  await t.step("a top-level array", async () => {
    await using dir = await tempDir();
    await Deno.writeTextFile(`${dir.path}/c.json`, "[1]");
    await assert.rejects(readOpenClawConfig(`${dir.path}/c.json`), /top level/);
  });
});

Deno.test("`inspectGatewaySettings()` reads port, bind, auth and endpoints", async (t) => {
  await t.step("port: OPENCLAW_GATEWAY_PORT > gateway.port > 18789", async () => {
    const config = await fixture("token.json5");
    assert.equal(inspectGatewaySettings(config).port, 18789);
    assert.equal(inspectGatewaySettings(config).portSource, "config");
    const env = envOf({ OPENCLAW_GATEWAY_PORT: "19999" });
    assert.equal(inspectGatewaySettings(config, env).port, 19999);
    assert.equal(inspectGatewaySettings(config, env).url, "http://127.0.0.1:19999");
    assert.equal(inspectGatewaySettings({}).portSource, "default");
  });
  await t.step("a plain token is a usable credential", async () => {
    const s = inspectGatewaySettings(await fixture("token.json5"));
    assert.equal(s.effectiveAuthMode, "token");
    assert.equal(s.credential?.source, "config");
    assert.equal(s.chatCompletions, false);
    assert.equal(s.bind, "loopback");
  });
  await t.step("env-only token: usable when ecto sees OPENCLAW_GATEWAY_TOKEN", async () => {
    const config = await fixture("env-only-token.json5");
    assert.equal(inspectGatewaySettings(config).token.state, "absent");
    const s = inspectGatewaySettings(config, envOf({ OPENCLAW_GATEWAY_TOKEN: "abc-env-token" }));
    assert.deepEqual(s.token, {
      state: "env",
      envVar: "OPENCLAW_GATEWAY_TOKEN",
      origin: "env-only",
      value: "abc-env-token",
    });
    assert.equal(s.credential?.value, "abc-env-token");
  });
  await t.step("SecretRef and ${VAR} tokens", async () => {
    const file = inspectGatewaySettings(await fixture("secretref-token.json5"));
    assert.equal(file.token.state, "secret-ref");
    assert.equal(file.credential, undefined);
    const envRef = inspectGatewaySettings(await fixture("secretref-env-token.json5"));
    assert.deepEqual(envRef.token, {
      state: "env",
      envVar: "MY_GATEWAY_TOKEN",
      origin: "secret-ref",
    });
    const tmpl = inspectGatewaySettings(
      await fixture("template-token.json5"),
      envOf({ MY_GATEWAY_TOKEN: "from-env" }),
    );
    assert.equal(tmpl.credential?.value, "from-env");
    assert.equal(tmpl.credential?.envVar, "MY_GATEWAY_TOKEN");
  });
  await t.step("placeholder, password, trusted proxies, rich config", async () => {
    assert.equal(
      inspectGatewaySettings(await fixture("placeholder-token.json5")).token.state,
      "invalid",
    );
    const pw = inspectGatewaySettings(await fixture("password.json5"));
    assert.equal(pw.effectiveAuthMode, "password");
    assert.equal(pw.credential?.kind, "password");
    const rich = inspectGatewaySettings(await fixture("rich.json5"));
    assert.deepEqual(rich.trustedProxies, ["10.1.2.3"]);
    assert.equal(rich.responses, false);
    assert.equal(rich.reloadMode, "hybrid");
    assert.equal(
      inspectGatewaySettings(await fixture("ambiguous-auth.json5")).effectiveAuthMode,
      "ambiguous",
    );
    assert.equal(inspectGatewaySettings(await fixture("bind-lan.json5")).bind, "lan");
  });
});

Deno.test("`planOpenClaw()` computes the minimal patch for each recorded config", async (t) => {
  const EP = ["gateway", "http", "endpoints", "chatCompletions", "enabled"];
  const cases: Array<{
    name: string;
    env?: Record<string, string>;
    options?: Partial<Parameters<typeof planOpenClaw>[1]>;
    patch?: Record<string, unknown>;
    restart?: string;
    generated?: boolean;
    credential?: { kind: string; source: string };
    error?: RegExp;
  }> = [
    {
      name: "token.json5",
      patch: { gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } },
      restart: "none",
      generated: false,
      credential: { kind: "token", source: "config" },
    },
    {
      name: "no-token.json5",
      patch: {
        gateway: {
          http: { endpoints: { chatCompletions: { enabled: true } } },
          auth: { token: TOKEN },
        },
      },
      restart: "restart",
      generated: true,
      credential: { kind: "token", source: "config" },
    },
    {
      name: "no-auth.json5",
      patch: {
        gateway: {
          http: { endpoints: { chatCompletions: { enabled: true } } },
          auth: { mode: "token", token: TOKEN },
        },
      },
      restart: "automatic",
      generated: true,
    },
    {
      name: "password.json5",
      patch: { gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } },
      restart: "none",
      generated: false,
      credential: { kind: "password", source: "config" },
    },
    {
      name: "password-env-only.json5",
      env: { OPENCLAW_GATEWAY_PASSWORD: "pw-from-env-1234" },
      restart: "none",
      credential: { kind: "password", source: "env" },
    },
    { name: "password-env-only.json5", error: /OPENCLAW_GATEWAY_PASSWORD/ },
    { name: "secretref-token.json5", error: /file SecretRef/ },
    {
      name: "secretref-token.json5",
      env: { OPENCLAW_GATEWAY_TOKEN: "user-supplied-token-123456" },
      restart: "none",
      generated: false,
      credential: { kind: "token", source: "env" },
    },
    { name: "secretref-env-token.json5", error: /MY_GATEWAY_TOKEN/ },
    {
      name: "secretref-env-token.json5",
      env: { MY_GATEWAY_TOKEN: "resolved-from-env-123456" },
      restart: "none",
      credential: { kind: "token", source: "env" },
    },
    { name: "template-token.json5", error: /MY_GATEWAY_TOKEN/ },
    {
      name: "env-only-token.json5",
      env: { OPENCLAW_GATEWAY_TOKEN: "env-only-token-abcdef123456" },
      patch: { gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } },
      restart: "none",
      generated: false,
      credential: { kind: "token", source: "env" },
    },
    {
      name: "bind-lan.json5",
      patch: {
        gateway: { http: { endpoints: { chatCompletions: { enabled: true } } }, bind: "loopback" },
      },
      restart: "full",
    },
    {
      name: "bind-lan.json5",
      options: { allowNonLoopback: true },
      patch: { gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } },
      restart: "none",
    },
    { name: "endpoint-on.json5", patch: {}, restart: "none", generated: false },
    {
      name: "mode-none.json5",
      patch: {
        gateway: {
          http: { endpoints: { chatCompletions: { enabled: true } } },
          auth: { mode: "token", token: TOKEN },
        },
      },
      restart: "automatic",
      generated: true,
    },
    {
      name: "mode-none-with-password.json5",
      patch: {
        gateway: {
          http: { endpoints: { chatCompletions: { enabled: true } } },
          auth: { mode: "password" },
        },
      },
      restart: "automatic",
      generated: false,
      credential: { kind: "password", source: "config" },
    },
    { name: "trusted-proxy.json5", error: /trusted-proxy/ },
    { name: "ambiguous-auth.json5", error: /gateway\.auth\.mode is not/ },
    { name: "remote.json5", error: /remote/ },
    {
      name: "placeholder-token.json5",
      patch: {
        gateway: {
          http: { endpoints: { chatCompletions: { enabled: true } } },
          auth: { token: TOKEN },
        },
      },
      restart: "restart",
      generated: true,
    },
    {
      name: "rich.json5",
      options: { trustedProxies: ["127.0.0.1", "::1"], responses: true },
      patch: {
        gateway: {
          http: { endpoints: { chatCompletions: { enabled: true }, responses: { enabled: true } } },
          trustedProxies: ["10.1.2.3", "127.0.0.1", "::1"],
        },
      },
      restart: "none",
      generated: false,
    },
  ];
  for (const c of cases) {
    await t.step(
      `${c.name}${c.env ? ` with ${Object.keys(c.env).join(",")}` : ""}${
        c.options ? ` ${JSON.stringify(c.options)}` : ""
      }`,
      async () => {
        const config = await fixture(c.name);
        const run = () => plan(config, { env: envOf(c.env ?? {}), ...c.options });
        if (c.error) {
          assert.throws(run, (error: unknown) => {
            assert.ok(error instanceof ActionRequiredError, String(error));
            assert.match(error.message, c.error!);
            assert.ok(error.fix);
            return true;
          });
          return;
        }
        const p = run();
        if (c.patch) assert.deepEqual(p.patch, c.patch);
        if (c.restart) assert.equal(p.restart, c.restart);
        if (c.generated !== undefined) assert.equal(p.tokenGenerated, c.generated);
        if (c.credential) {
          assert.equal(p.credential.kind, c.credential.kind);
          assert.equal(p.credential.source, c.credential.source);
        }
        if (Object.keys(p.patch).length > 0) {
          assert.equal(p.after.chatCompletions, true);
          assert.ok(
            p.changes.some((ch) => ch.path.join(".") === EP.join(".")) ||
              c.name === "endpoint-on.json5",
          );
        }
        // Secrets never appear in the snapshot or the change list.
        const visible = JSON.stringify({
          snapshot: p.snapshot,
          changes: p.changes,
          notes: p.notes,
        });
        assert.ok(!visible.includes(p.credential.value), "credential leaked into snapshot/changes");
        assert.ok(!visible.includes(TOKEN));
        if (p.restart !== "none") assert.ok(p.restartReason);
      },
    );
  }
});

Deno.test("`planOpenClaw()` never replaces a working token and generates 64 hex chars", async () => {
  const config = await fixture("token.json5");
  const p = planOpenClaw(config, { configPath: "/c" });
  assert.equal(p.credential.value, "3f9c1e0a7b6d4c2e8f1a0b9c7d6e5f4a3b2c1d0e9f8a7b6c");
  assert.equal(JSON.stringify(p.patch).includes("token"), false);
  const generated = planOpenClaw(await fixture("no-auth.json5"), { configPath: "/c" });
  assert.match(generated.credential.value, /^[0-9a-f]{64}$/);
  assert.notEqual(
    generated.credential.value,
    planOpenClaw(await fixture("no-auth.json5"), { configPath: "/c" }).credential.value,
  );
});

Deno.test("`planOpenClaw()` snapshots old values or the topmost absent key", async () => {
  const rich = await fixture("rich.json5");
  const p = plan(rich, { trustedProxies: ["127.0.0.1"] });
  assert.deepEqual(p.snapshot, [
    { path: ["gateway", "http", "endpoints", "chatCompletions"], absent: true },
    { path: ["gateway", "trustedProxies"], value: ["10.1.2.3"] },
  ]);
  const noAuth = plan(await fixture("no-auth.json5"));
  assert.deepEqual(noAuth.snapshot, [
    { path: ["gateway", "http"], absent: true },
    { path: ["gateway", "auth"], absent: true },
  ]);
  const placeholder = plan(await fixture("placeholder-token.json5"));
  assert.deepEqual(placeholder.snapshot[1], { path: ["gateway", "auth", "token"], redacted: true });
});

Deno.test("apply + undo patches restore every recorded config exactly (pure round trip)", async () => {
  for await (const entry of Deno.readDir(FIXTURES)) {
    if (!entry.name.endsWith(".json5") || entry.name === "invalid-syntax.json5") continue;
    const config = await fixture(entry.name);
    let p: OpenClawPlan;
    try {
      p = plan(config, {
        env: envOf({
          OPENCLAW_GATEWAY_TOKEN: entry.name.startsWith("env-only") ? "t-env-123456789" : undefined,
        }),
        trustedProxies: ["127.0.0.1"],
        responses: true,
      });
    } catch (error) {
      assert.ok(error instanceof ActionRequiredError, `${entry.name}: ${error}`);
      continue;
    }
    const applied = applyMergePatch(config, p.patch);
    const snapshot = mergeSnapshot(undefined, p.snapshot, "/c", new Date(0));
    const expected = structuredClone(config);
    // A replaced unusable token is a secret: not stored, so undo removes it.
    for (const e of snapshot.entries) {
      if (e.redacted) setPath(expected, e.path, undefined);
    }
    assert.deepEqual(
      JSON.parse(JSON.stringify(applyMergePatch(applied, undoPatch(snapshot)))),
      JSON.parse(JSON.stringify(expected)),
      entry.name,
    );
  }
});

Deno.test("`mergeSnapshot()` keeps the ORIGINAL values from an earlier ecto run", () => {
  const first = mergeSnapshot(
    undefined,
    [{ path: ["gateway", "trustedProxies"], value: ["10.0.0.1"] }],
    "/c",
    new Date(1000),
  );
  // A second run sees ecto's own value and would record it: the original wins.
  const second = mergeSnapshot(
    first,
    [
      { path: ["gateway", "trustedProxies"], value: ["10.0.0.1", "127.0.0.1"] },
      { path: ["gateway", "http"], absent: true },
    ],
    "/c",
    new Date(2000),
  );
  assert.deepEqual(second.entries, [
    { path: ["gateway", "trustedProxies"], value: ["10.0.0.1"] },
    { path: ["gateway", "http"], absent: true },
  ]);
  assert.equal(second.createdAt, new Date(1000).toISOString());
  assert.equal(second.updatedAt, new Date(2000).toISOString());
  // Covered by an existing ancestor: dropped.
  const third = mergeSnapshot(
    second,
    [{ path: ["gateway", "http", "endpoints", "chatCompletions", "enabled"], value: false }],
    "/c",
    new Date(3000),
  );
  assert.equal(third.entries.length, 2);
  assert.throws(() => mergeSnapshot(first, [], "/other", new Date()), ActionRequiredError);
});

Deno.test("`undoRestartKind()` asks for a full restart to revert a bind, automatic for a mode", () => {
  const snapshot = (entries: OpenClawSnapshot["entries"]): OpenClawSnapshot => ({
    version: 1,
    configPath: "/c",
    createdAt: "",
    updatedAt: "",
    entries,
  });
  const config = { gateway: { bind: "loopback", auth: { mode: "token", token: "x" } } };
  assert.equal(
    undoRestartKind(config, snapshot([{ path: ["gateway", "bind"], value: "lan" }])),
    "full",
  );
  assert.equal(
    undoRestartKind(config, snapshot([{ path: ["gateway", "auth", "mode"], value: "none" }])),
    "automatic",
  );
  assert.equal(
    undoRestartKind(config, snapshot([{ path: ["gateway", "http"], absent: true }])),
    "none",
  );
});

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ecto-oc-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** A temp HOME whose `~/.openclaw/openclaw.json` is a copy of fixture `name`, and the plan for it. */
async function homeWithConfig(name: string) {
  const dir = await tempDir();
  const configPath = `${dir.path}/.openclaw/openclaw.json`;
  await Deno.mkdir(`${dir.path}/.openclaw`, { recursive: true });
  await Deno.copyFile(`${FIXTURES}${name}`, configPath);
  const p = plan((await readOpenClawConfig(configPath)).config, { configPath });
  return { home: dir.path, configPath, p, [Symbol.asyncDispose]: dir[Symbol.asyncDispose] };
}

Deno.test("`locateOpenClaw()` finds the CLI via ECTO_OPENCLAW, then PATH, else exit 4", async (t) => {
  await using dir = await tempDir();
  const bin = `${dir.path}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(`${bin}/openclaw`, "#!/bin/sh\n", { mode: 0o755 });
  await Deno.writeTextFile(`${dir.path}/not-exec`, "", { mode: 0o644 });
  await t.step("PATH", async () => {
    const cli = await locateOpenClaw(envOf({ PATH: `/nonexistent:${bin}` }));
    assert.deepEqual(cli, { bin: `${bin}/openclaw`, source: "PATH" });
  });
  await t.step("ECTO_OPENCLAW wins", async () => {
    const cli = await locateOpenClaw(envOf({ PATH: "", ECTO_OPENCLAW: `${bin}/openclaw` }));
    assert.equal(cli.source, "ECTO_OPENCLAW");
  });
  await t.step("not installed → MissingPrerequisiteError with the install command", async () => {
    await assert.rejects(locateOpenClaw(envOf({ PATH: `${dir.path}` })), (error: unknown) => {
      assert.ok(error instanceof MissingPrerequisiteError);
      assert.equal(error.exitCode, 4);
      assert.match(error.fix ?? "", /npm install -g openclaw/);
      return true;
    });
    await assert.rejects(
      locateOpenClaw(envOf({ ECTO_OPENCLAW: `${dir.path}/not-exec` })),
      MissingPrerequisiteError,
    );
  });
});

Deno.test("`patchOpenClawConfig()` sends the patch on stdin, with the gateway's environment", async (t) => {
  const recorded = await Deno.readTextFile(`${FIXTURES}config-patch-applied.stdout.txt`);
  await t.step("success: one call, secret only on stdin, env passed through", async () => {
    const { $, calls } = fakeShell({ openclaw: () => ({ stdout: recorded }) });
    const env = envOf({ HOME: "/gw-home", OPENCLAW_STATE_DIR: "/gw-state", PATH: "/usr/bin" });
    const patch = { gateway: { auth: { token: TOKEN } } };
    const result = await patchOpenClawConfig($, { bin: "openclaw", source: "given" }, env, patch, {
      secrets: [TOKEN],
    });
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].args, ["config", "patch", "--stdin"]);
    assert.deepEqual(JSON.parse(calls[0].stdin), patch);
    assert.ok(!calls[0].args.join(" ").includes(TOKEN));
    assert.equal(calls[0].env.HOME, "/gw-home");
    assert.equal(calls[0].env.OPENCLAW_STATE_DIR, "/gw-state");
    assert.equal(result.message, recorded.trim());
  });
  await t.step("refusal: ToolError with the CLI's message, secret redacted", async () => {
    const stderr = await Deno.readTextFile(`${FIXTURES}config-patch-invalid.stderr.txt`);
    const { $ } = fakeShell({
      openclaw: () => ({ code: 1, stderr: `${stderr}\nechoed ${TOKEN}` }),
    });
    await assert.rejects(
      patchOpenClawConfig($, { bin: "openclaw", source: "given" }, envOf({}), {}, {
        secrets: [TOKEN],
        configPath: "/c.json",
      }),
      (error: unknown) => {
        assert.ok(error instanceof ToolError);
        assert.equal(error.toolExitCode, 1);
        assert.ok(!error.message.includes(TOKEN) && !error.stderrTail.includes(TOKEN));
        assert.match(error.stderrTail, /gateway\.bind: Invalid input/);
        return true;
      },
    );
  });
});

Deno.test("`patchOpenClawConfig()` re-applies the patch when the file changed under it", async () => {
  let attempts = 0;
  const { $, calls } = fakeShell({
    openclaw: () =>
      ++attempts === 1
        ? {
          code: 1,
          stderr:
            "The config file changed while this command was writing (config changed since last load), so nothing was changed.",
        }
        : { stdout: "Applied 1 config update(s)." },
  });
  const result = await patchOpenClawConfig($, { bin: "openclaw", source: "given" }, envOf({}), {
    gateway: {},
  });
  assert.equal(calls.length, 2);
  assert.equal(result.message, "Applied 1 config update(s).");
});

Deno.test("`probeGatewayApi()` tells the states apart", async () => {
  const cases: Array<[number | null, number | null, string]> = [
    [401, 200, "ok"],
    [404, null, "endpoint-disabled"],
    [401, 401, "credential-rejected"],
    [200, null, "open"],
    [null, null, "unreachable"],
    [401, 500, "unexpected"],
  ];
  for (const [anon, withToken, state] of cases) {
    const { fetch, seen } = fakeFetch((_path, auth) => auth ? withToken : anon);
    const probe = await probeGatewayApi(fetch, "http://127.0.0.1:1", "tok");
    assert.equal(probe.state, state, `${anon}/${withToken}`);
    assert.equal(seen[0].auth, null, "asks without the credential first");
  }
});

Deno.test("`parseGatewayStatus()` reads the listener pid from recorded `gateway status --json`", async () => {
  const status = parseGatewayStatus(await Deno.readTextFile(`${FIXTURES}gateway-status.json`));
  assert.equal(status.rpcOk, true);
  assert.equal(status.listeners.length, 1);
  assert.equal(status.listeners[0].commandLine, "openclaw-gateway");
  assert.ok(status.listeners[0].pid > 0);
  assert.deepEqual(parseGatewayStatus("not json").listeners, []);
});

Deno.test("`parseDotEnv()` reads KEY=VALUE files", async () => {
  assert.deepEqual(
    await parseDotEnv("# c\nA=1\nexport B='two words'\nC=\"q\" \nD=x # comment\nbad line\n"),
    { A: "1", B: "two words", C: "q", D: "x" },
  );
});

Deno.test("`detectGatewayService()` finds the launchd plist or systemd user unit", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  assert.equal(await detectGatewayService(envOf({ HOME: home }), "linux"), undefined);
  await Deno.mkdir(`${home}/.config/systemd/user`, { recursive: true });
  await Deno.writeTextFile(`${home}/.config/systemd/user/openclaw-gateway.service`, "");
  assert.equal((await detectGatewayService(envOf({ HOME: home }), "linux"))?.kind, "systemd");
  assert.equal(
    await detectGatewayService(envOf({ HOME: home, OPENCLAW_STATE_DIR: "/x" }), "linux"),
    undefined,
    "relocated state is not service-managed",
  );
  await Deno.mkdir(`${home}/Library/LaunchAgents`, { recursive: true });
  await Deno.writeTextFile(`${home}/Library/LaunchAgents/ai.openclaw.gateway.plist`, "");
  assert.equal((await detectGatewayService(envOf({ HOME: home }), "darwin"))?.kind, "launchd");
});

/** A fake clock whose sleep moves time instead of waiting. */
function fakeClock() {
  let t = 0;
  return { now: () => t, sleep: (ms: number) => Promise.resolve(void (t += ms)) };
}

Deno.test("`ensureGatewayRunning()` starts a stopped gateway detached and reports the wait", async (t) => {
  await t.step("ready → nothing started", async () => {
    const { $, calls } = fakeShell({});
    const { fetch } = fakeFetch(() => 200);
    const r = await ensureGatewayRunning({ $, fetch, env: envOf({ HOME: "/h" }) }, {
      cli: { bin: "openclaw", source: "given" },
      url: "http://127.0.0.1:1",
    });
    assert.equal(r.alreadyRunning, true);
    assert.equal(calls.length, 0);
  });
  await t.step("busy (no answer in time) → nothing started, waited for until ready", async () => {
    const { $, calls } = fakeShell({});
    const clock = fakeClock();
    const { fetch: ready } = fakeFetch(() => 200);
    const fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
      clock.now() < 2_000 ? timedOut() : ready(input, init)) as typeof globalThis.fetch;
    const r = await ensureGatewayRunning({ $, fetch, env: envOf({ HOME: "/h" }), ...clock }, {
      cli: { bin: "openclaw", source: "given" },
      url: "http://127.0.0.1:1",
    });
    assert.equal(r.alreadyRunning, true);
    assert.ok(r.readyMs >= 2_000);
    assert.equal(calls.length, 0, "no second gateway started");
  });
  await t.step("not running → `sh -c ... openclaw gateway run` detached, then ready", async () => {
    const { $, calls } = fakeShell({});
    let started = false;
    const clock = fakeClock();
    const { fetch } = fakeFetch((path) => {
      if (!started) return null;
      return path === "/readyz" && clock.now() > 3000 ? 200 : null;
    });
    const events: EctoEvent[] = [];
    const $wrapped = $;
    const r = await ensureGatewayRunning(
      {
        $: $wrapped,
        fetch: (...a) => {
          started = calls.some((c) => c.args[0] === "sh");
          return fetch(...a);
        },
        env: envOf({ HOME: "/h" }),
        events: (e) => events.push(e),
        ...clock,
      },
      {
        cli: { bin: "openclaw", source: "given" },
        url: "http://127.0.0.1:1",
        logPath: "/tmp/x.log",
      },
    );
    assert.equal(r.startedBy, "detached");
    assert.equal(r.pid, 4242);
    const sh = calls.find((c) => c.args[0] === "sh")!;
    assert.ok(sh.args.includes("openclaw") && sh.args.includes("/tmp/x.log"));
    assert.match(sh.args[2], /gateway run/);
    assert.ok(events.some((e) => e.kind === "progress" && e.limitMs === 120_000));
  });
  await t.step(
    "never ready → GatewayNotReadyError with the log path and its last lines",
    async () => {
      await using dir = await tempDir();
      const log = `${dir.path}/gw.log`;
      await Deno.writeTextFile(
        log,
        `line 1\n\x1b[36mline 2\x1b[39m\nsecret ${TOKEN}\n` +
          `${
            JSON.stringify({ time: "2026-11-24T02:12:56Z", message: "fatal: boom", _meta: {} })
          }\n`,
      );
      const { $ } = fakeShell({});
      const clock = fakeClock();
      const { fetch } = fakeFetch(() => null);
      await assert.rejects(
        ensureGatewayRunning({ $, fetch, env: envOf({ HOME: "/h" }), ...clock }, {
          cli: { bin: "openclaw", source: "given" },
          url: "http://127.0.0.1:1",
          logPath: log,
          limitMs: 5_000,
          secrets: [TOKEN],
        }),
        (error: unknown) => {
          assert.ok(error instanceof GatewayNotReadyError);
          assert.equal(error.logPath, log);
          assert.match(error.message, new RegExp(log));
          assert.match(error.message, /2026-11-24T02:12:56Z fatal: boom/);
          assert.ok(!error.message.includes("_meta"));
          assert.match(error.message, /line 2/);
          assert.ok(!error.message.includes("\x1b"));
          assert.ok(!error.message.includes(TOKEN));
          return true;
        },
      );
    },
  );
});

Deno.test("`restartGateway()` says so when it cannot find the gateway process", async (t) => {
  await t.step("no pid found → clear error", async () => {
    const status = await Deno.readTextFile(`${FIXTURES}gateway-status.json`);
    const { $ } = fakeShell({
      openclaw: (c) =>
        c.args[0] === "gateway" ? { stdout: status.replace("openclaw-gateway", "nginx") } : {},
    });
    const { fetch } = fakeFetch(() => 200);
    await assert.rejects(
      restartGateway({ $, fetch, env: envOf({ HOME: "/nonexistent-home" }), ...fakeClock() }, {
        cli: { bin: "openclaw", source: "given" },
        url: "http://127.0.0.1:1",
        kind: "restart",
      }),
      /cannot find the OpenClaw gateway process/,
    );
  });
});

Deno.test("`restartGateway()` full: SIGTERM, wait, start detached — never SIGKILL a foreign gateway", async (t) => {
  const status = await Deno.readTextFile(`${FIXTURES}gateway-status.json`);
  const withPid = (pid: number) => status.replace(/"pid": \d+/, `"pid": ${pid}`);
  const realPs = (args: string[]) => {
    const out = new Deno.Command("ps", { args, stdout: "piped", stderr: "null" }).outputSync();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  };
  await t.step("a process that stops on SIGTERM is replaced by a fresh detached one", async () => {
    const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      const { $, calls } = fakeShell({
        openclaw: () => ({ stdout: withPid(child.pid) }),
        ps: realPs,
      });
      const clock = fakeClock();
      let startedFresh = false;
      const { fetch } = fakeFetch((path) => {
        startedFresh ||= calls.some((c) => c.args[0] === "sh");
        return path === "/readyz" && startedFresh ? 200 : null;
      });
      const result = await restartGateway(
        { $, fetch, env: envOf({ HOME: "/nonexistent-home" }), ...clock },
        { cli: { bin: "openclaw", source: "given" }, url: "http://127.0.0.1:1", kind: "full" },
      );
      assert.equal(result.method, "stop-start");
      assert.equal(result.pid, 4242);
      assert.equal((await child.status).signal, "SIGTERM");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    }
  });
  await t.step(
    "a foreign gateway that ignores SIGTERM is left alone with a clear error",
    async () => {
      // It says "trapped" once the trap is installed; the test waits for that line.
      const child = new Deno.Command("sh", {
        args: ["-c", "trap '' TERM; echo trapped; sleep 30 & wait; sleep 30"],
        stdout: "piped",
      })
        .spawn();
      try {
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let said = "";
        while (!said.includes("\n")) {
          const { value, done } = await reader.read();
          if (done) break;
          said += value;
        }
        assert.equal(said, "trapped\n");
        reader.cancel().catch(() => {});
        const { $ } = fakeShell({ openclaw: () => ({ stdout: withPid(child.pid) }), ps: realPs });
        const { fetch } = fakeFetch(() => 200);
        await assert.rejects(
          restartGateway({ $, fetch, env: envOf({ HOME: "/nonexistent-home" }), ...fakeClock() }, {
            cli: { bin: "openclaw", source: "given" },
            url: "http://127.0.0.1:1",
            kind: "full",
          }),
          (error: unknown) => {
            assert.ok(error instanceof EctoError);
            assert.equal(error.code, "openclaw_gateway_stop_timeout");
            assert.match(error.message, /will not force-kill/);
            return true;
          },
        );
      } finally {
        child.kill("SIGKILL");
        await child.status;
      }
    },
  );
});

async function bytesAndMtime(path: string): Promise<[string, number | undefined]> {
  return [await Deno.readTextFile(path), (await Deno.stat(path)).mtime?.getTime()];
}

Deno.test("`applyOpenClawPlan()` refuses bad input before writing anything", async (t) => {
  await using dir = await homeWithConfig("rich.json5");
  const { home, configPath, p } = dir;
  const before = await bytesAndMtime(configPath);
  const snapshotFile = ectoPaths(envOf({ HOME: home })).openclawSnapshotFile;

  const check = async (env: Record<string, string>, expected: RegExp, code: string) => {
    const { $, calls } = fakeShell({});
    const { fetch } = fakeFetch(() => 200);
    await assert.rejects(
      applyOpenClawPlan({ $, fetch, env: envOf({ HOME: home, ...env }) }, p, {
        cli: { bin: "openclaw", source: "given" },
      }),
      (error: unknown) => {
        assert.ok(error instanceof EctoError, String(error));
        assert.equal(error.code, code);
        assert.match(error.message, new RegExp(configPath));
        assert.match(error.message, expected);
        assert.ok(error.fix);
        return true;
      },
    );
    assert.equal(calls.length, 0, "openclaw was not run");
    assert.deepEqual(await bytesAndMtime(configPath), before);
    await assert.rejects(Deno.stat(snapshotFile), Deno.errors.NotFound);
  };
  await t.step(
    "OPENCLAW_CONFIG_READONLY=1",
    () => check({ OPENCLAW_CONFIG_READONLY: "1" }, /read-only/, "openclaw_config_readonly"),
  );
  await t.step(
    "OPENCLAW_NIX_MODE=1",
    () => check({ OPENCLAW_NIX_MODE: "1" }, /Nix/, "openclaw_config_readonly"),
  );
  if (Deno.uid() !== 0) {
    await t.step("file not writable", async () => {
      await Deno.chmod(configPath, 0o400);
      try {
        await check({}, /not writable|read-only/, "openclaw_config_not_writable");
      } finally {
        await Deno.chmod(configPath, 0o600);
      }
    });
  }
  await t.step("file is read-only (mode 0444) even for root", async () => {
    await Deno.chmod(configPath, 0o444);
    try {
      await check({}, /read-only/, "openclaw_config_not_writable");
    } finally {
      await Deno.chmod(configPath, 0o600);
    }
  });
  await t.step("the CLI refuses → snapshot rolled back, error names the file", async () => {
    const { $, calls } = fakeShell({
      openclaw: () => ({ code: 1, stderr: "Config validation failed: x" }),
    });
    const { fetch } = fakeFetch(() => 200);
    await assert.rejects(
      applyOpenClawPlan({ $, fetch, env: envOf({ HOME: home }) }, p, {
        cli: { bin: "openclaw", source: "given" },
      }),
      ToolError,
    );
    assert.equal(calls.length, 1);
    await assert.rejects(Deno.stat(snapshotFile), Deno.errors.NotFound);
  });
});

Deno.test("`applyOpenClawPlan()` snapshots first, patches once, and probes until live", async () => {
  await using dir = await homeWithConfig("token.json5");
  const { home, p } = dir;
  const env = envOf({ HOME: home });
  let patched = false;
  let snapshotAtPatch: unknown;
  const snapshotFile = ectoPaths(env).openclawSnapshotFile;
  const { $, calls } = fakeShell({
    openclaw: (call) => {
      snapshotAtPatch = JSON.parse(Deno.readTextFileSync(snapshotFile));
      patched = JSON.parse(call.stdin).gateway.http !== null;
      return {
        stdout: "Applied 1 config update(s). Change will apply without restarting the gateway.",
      };
    },
  });
  const clock = fakeClock();
  let patchedAt = 0;
  const { fetch } = fakeFetch((path, auth) => {
    if (path === "/healthz" || path === "/readyz") return 200;
    if (!patched) return 404;
    patchedAt ||= clock.now();
    if (clock.now() - patchedAt < 500) return 404; // applied ~0.5 s after the write
    return auth === `Bearer ${p.credential.value}` ? 200 : 401;
  });
  const events: EctoEvent[] = [];
  const result = await applyOpenClawPlan(
    { $, fetch, env, events: (e) => events.push(e), ...clock },
    p,
    { cli: { bin: "openclaw", source: "given" } },
  );
  assert.equal(calls.length, 1);
  assert.ok(snapshotAtPatch, "snapshot written before the patch");
  assert.equal(result.changed, true);
  assert.equal(result.probe?.state, "ok");
  assert.ok((result.liveMs ?? 0) >= 500);
  assert.equal((await Deno.stat(snapshotFile)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${home}/.ecto`)).mode! & 0o777, 0o700);
  const snapshot = JSON.parse(await Deno.readTextFile(snapshotFile));
  assert.deepEqual(snapshot.entries, [{ path: ["gateway", "http"], absent: true }]);
  assert.ok(!JSON.stringify(snapshot).includes(p.credential.value));
  assert.ok(events.some((e) => e.kind === "step" && e.step === "openclaw.configure"));

  // Undo: one patch restoring the snapshot, probe 404, snapshot deleted.
  const undo = await undoOpenClaw(
    { $, fetch, env, ...clock },
    { cli: { bin: "openclaw", source: "given" } },
  );
  assert.equal(undo.restored, true);
  assert.deepEqual(JSON.parse(calls[1].stdin), { gateway: { http: null } });
  assert.equal(undo.probe?.state, "endpoint-disabled");
  await assert.rejects(Deno.stat(snapshotFile), Deno.errors.NotFound);
  assert.deepEqual(
    await undoOpenClaw({ $, fetch, env }, { cli: { bin: "openclaw", source: "given" } }),
    {
      restored: false,
      keys: [],
    },
  );
});

/** A fetch that rejects the way Deno's does when `AbortSignal.timeout` fires (no real wait). */
const timedOut = () => Promise.reject(new DOMException("Signal timed out.", "TimeoutError"));

Deno.test("`gatewayRunning()`: an answer or a timeout is a running gateway; a refusal is not", async () => {
  const answering = (status: number) => () => Promise.resolve(new Response("x", { status }));
  const refused = () => Promise.reject(new TypeError("connection refused"));
  const url = "http://127.0.0.1:18789";
  assert.equal(await gatewayRunning(answering(200) as typeof fetch, url), true);
  assert.equal(await gatewayRunning(answering(503) as typeof fetch, url), true);
  assert.equal(await gatewayRunning(timedOut as typeof fetch, url), true);
  assert.equal(await gatewayRunning(refused as typeof fetch, url), false);

  // Deno's own fetch: a listener that accepts and never answers, then nothing listening.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const real = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  assert.equal(await gatewayRunning(fetch, real), true, "accepted, no answer in 3 s: busy");
  listener.close();
  await accepting;
  for (const conn of held) conn.close();
  assert.equal(await gatewayRunning(fetch, real), false, "refused: not running");
});

Deno.test("`applyOpenClawPlan()` and undo wait for a busy gateway whose /healthz times out after the write", async () => {
  await using dir = await homeWithConfig("token.json5");
  const { home, p } = dir;
  const env = envOf({ HOME: home });
  let patched = false;
  let busy = false; // the next /healthz gets no answer in time, as on a loaded machine
  const { $ } = fakeShell({
    openclaw: (call) => {
      patched = JSON.parse(call.stdin).gateway.http !== null;
      busy = true;
      return { stdout: "Applied 1 config update(s)." };
    },
  });
  const inner = fakeFetch((path, auth) => {
    if (path === "/healthz" || path === "/readyz") return 200;
    if (!patched) return 404;
    return auth === `Bearer ${p.credential.value}` ? 200 : 401;
  });
  const fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    if (busy && String(input).endsWith("/healthz")) {
      busy = false;
      return timedOut();
    }
    return inner.fetch(input, init);
  }) as typeof globalThis.fetch;
  const clock = fakeClock();
  const cli = { bin: "openclaw", source: "given" } as const;
  const result = await applyOpenClawPlan({ $, fetch, env, ...clock }, p, { cli });
  assert.equal(result.gatewayRunning, true);
  assert.equal(result.probe?.state, "ok", "the change is proven live, not left for a later start");
  const undo = await undoOpenClaw({ $, fetch, env, ...clock }, { cli });
  assert.equal(undo.gatewayRunning, true);
  assert.equal(undo.probe?.state, "endpoint-disabled");
});
