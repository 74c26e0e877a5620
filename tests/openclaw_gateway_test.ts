/**
 * The OpenClaw layer against a REAL gateway (openclaw@2026.9.6 under
 * node@26.10.0, installed by `deno task setup-e2e`). Two cold starts in all:
 * each costs 15–40 s and ~1 GB on a shared 2-core host.
 */
import assert from "node:assert/strict";
import type { EctoEvent } from "../lib/core/events.ts";
import {
  applyOpenClawPlan,
  ensureGatewayRunning,
  type GatewayDeps,
  loadOpenClaw,
  planOpenClaw,
  probeGatewayApi,
  readOpenClawConfig,
  undoOpenClaw,
} from "../lib/openclaw/mod.ts";
import { parseJson5 } from "../lib/core/json5.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { createShell } from "../lib/core/shell.ts";
import { EctoError } from "../lib/core/errors.ts";
import { pidAlive, startGateway, stopPid, TEST_GATEWAY_LIMITS } from "./harness/gateway.ts";
import { startStubLlm } from "./harness/stub_llm.ts";

const FIXTURES = new URL("./fixtures/openclaw/", import.meta.url).pathname;
const REPLY = "ECTO-E2E-ANSWER from the stub";

function report(label: string, ms: number | undefined): void {
  // deno-lint-ignore no-console
  console.error(`  [timing] ${label}: ${ms === undefined ? "n/a" : `${(ms / 1000).toFixed(2)} s`}`);
}

function lookup(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

async function chat(url: string, token: string): Promise<string> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", messages: [{ role: "user", content: "hi" }] }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.choices[0].message.content;
}

async function uptimeMs(url: string): Promise<number> {
  const response = await fetch(`${url}/readyz`);
  const body = await response.json();
  assert.equal(response.status, 200);
  return body.uptimeMs;
}

/** The config minus what OpenClaw's writer adds (`meta`). */
async function semantic(text: string): Promise<Record<string, unknown>> {
  const config = await parseJson5(text) as Record<string, unknown>;
  delete config.meta;
  return config;
}

async function bytesAndMtime(path: string): Promise<[string, number | undefined]> {
  return [await Deno.readTextFile(path), (await Deno.stat(path)).mtime?.getTime()];
}

Deno.test({
  name:
    "OpenClaw layer on a real gateway: a stopped gateway is started, the endpoint goes live without a restart, undo restores the rich config",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using stub = await startStubLlm({ reply: REPLY });
    const template = await Deno.readTextFile(`${FIXTURES}rich-e2e.json5.tmpl`);
    await using gw = await startGateway({ stubUrl: stub.url, configText: template, start: false });
    const originalText = await Deno.readTextFile(gw.configPath);
    const envVars = { ...gw.env(), ECTO_OPENCLAW: gw.openclawBin };
    const env = lookup(envVars);
    const events: EctoEvent[] = [];
    const deps: GatewayDeps = {
      $: createShell(),
      fetch,
      env,
      events: (e) => events.push(e),
      limits: TEST_GATEWAY_LIMITS,
    };
    let pid: number | undefined;
    try {
      const state = await loadOpenClaw({ env });
      assert.equal(state.location.configPath, gw.configPath);
      assert.equal(state.cli.source, "ECTO_OPENCLAW");
      assert.equal(state.settings.port, gw.port);
      assert.equal(state.settings.credential?.value, gw.token);

      await t.step("a gateway that is not running is started and becomes ready", async () => {
        const result = await ensureGatewayRunning(deps, {
          cli: state.cli,
          url: state.settings.url,
          logPath: `${gw.home}/ecto-started-gateway.log`,
          secrets: [gw.token!],
        });
        pid = result.pid;
        report("cold start to /readyz (ensureGatewayRunning)", result.readyMs);
        assert.equal(result.alreadyRunning, false);
        assert.equal(result.startedBy, "detached");
        assert.ok(pid && pidAlive(pid));
        assert.ok(events.some((e) => e.kind === "progress" && e.step === "openclaw.gateway"));
        const again = await ensureGatewayRunning(deps, { cli: state.cli, url: state.settings.url });
        assert.equal(again.alreadyRunning, true);
        const probe = await probeGatewayApi(fetch, state.settings.url, gw.token);
        assert.equal(probe.state, "endpoint-disabled");
      });

      const plan = planOpenClaw(state.file.config, {
        configPath: state.location.configPath,
        env: state.env,
      });

      await t.step("the plan keeps the existing token and only turns the endpoint on", () => {
        assert.deepEqual(plan.patch, {
          gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } },
        });
        assert.equal(plan.restart, "none");
        assert.equal(plan.tokenGenerated, false);
        assert.equal(plan.credential.value, gw.token);
      });

      await t.step("enabling the endpoint takes effect with no restart, same pid", async () => {
        const before = await uptimeMs(gw.url);
        const started = Date.now();
        const result = await applyOpenClawPlan(deps, plan, { cli: state.cli });
        report("config patch CLI (running gateway)", result.cliMs);
        report("CLI exit → change live", result.liveMs);
        assert.equal(result.changed, true);
        assert.equal(result.gatewayRunning, true);
        assert.equal(result.probe?.state, "ok");
        assert.equal(result.restart, undefined);
        assert.ok(pidAlive(pid!));
        const after = await uptimeMs(gw.url);
        assert.ok(after >= before + (Date.now() - started) - 1_000, `uptime ${before} → ${after}`);
        const t0 = Date.now();
        assert.equal(await chat(gw.url, gw.token!), REPLY);
        report("first chat completion through the gateway", Date.now() - t0);
        assert.ok(stub.requests.some((r) => r.path === "/v1/chat/completions"));
        const now = await readOpenClawConfig(gw.configPath);
        assert.equal(
          (now.config.gateway as { auth: { token: string } }).auth.token,
          gw.token,
          "token kept",
        );
      });

      const snapshotFile = ectoPaths(env).openclawSnapshotFile;
      await t.step("the snapshot is ecto's own 0600 file, without secrets", async () => {
        const info = await Deno.stat(snapshotFile);
        assert.equal(info.mode! & 0o777, 0o600);
        const text = await Deno.readTextFile(snapshotFile);
        assert.ok(!text.includes(gw.token!));
        assert.deepEqual(JSON.parse(text).entries, [
          { path: ["gateway", "http", "endpoints", "chatCompletions"], absent: true },
        ]);
      });

      await t.step("a second run keeps the ORIGINAL snapshot values", async () => {
        const state2 = await loadOpenClaw({ env });
        const again = planOpenClaw(state2.file.config, {
          configPath: state2.location.configPath,
          env: state2.env,
          trustedProxies: ["127.0.0.1", "::1"],
        });
        assert.deepEqual(again.patch, {
          gateway: { trustedProxies: ["10.1.2.3", "127.0.0.1", "::1"] },
        });
        const result = await applyOpenClawPlan(deps, again, { cli: state.cli });
        report("config patch CLI (trustedProxies)", result.cliMs);
        report("CLI exit → change live (trustedProxies)", result.liveMs);
        const snapshot = JSON.parse(await Deno.readTextFile(snapshotFile));
        assert.deepEqual(snapshot.entries, [
          { path: ["gateway", "http", "endpoints", "chatCompletions"], absent: true },
          { path: ["gateway", "trustedProxies"], value: ["10.1.2.3"] },
        ]);
        const noop = planOpenClaw((await loadOpenClaw({ env })).file.config, {
          configPath: state.location.configPath,
          env: state.env,
        });
        assert.deepEqual(noop.patch, {});
        const unchanged = await bytesAndMtime(gw.configPath);
        assert.equal((await applyOpenClawPlan(deps, noop, { cli: state.cli })).changed, false);
        assert.deepEqual(await bytesAndMtime(gw.configPath), unchanged);
      });

      await t.step(
        "bad input: read-only / Nix-managed config → clear error, no write",
        async () => {
          const before = await bytesAndMtime(gw.configPath);
          const snapshotBefore = await Deno.readTextFile(snapshotFile);
          const want = planOpenClaw((await loadOpenClaw({ env })).file.config, {
            configPath: state.location.configPath,
            env: state.env,
            responses: true,
          });
          for (
            const extra of [{ OPENCLAW_CONFIG_READONLY: "1" }, {
              OPENCLAW_NIX_MODE: "1",
            }] as Record<string, string>[]
          ) {
            await assert.rejects(
              applyOpenClawPlan({ ...deps, env: lookup({ ...envVars, ...extra }) }, want, {
                cli: state.cli,
              }),
              (error: unknown) => {
                assert.ok(error instanceof EctoError);
                assert.equal(error.code, "openclaw_config_readonly");
                assert.match(error.message, new RegExp(gw.configPath));
                assert.ok(error.fix);
                return true;
              },
            );
          }
          assert.deepEqual(await bytesAndMtime(gw.configPath), before);
          assert.equal(await Deno.readTextFile(snapshotFile), snapshotBefore);
        },
      );

      await t.step(
        "bad input: a config that does not parse names file, line and column",
        async () => {
          await assert.rejects(
            loadOpenClaw({
              env: lookup({ ...envVars, OPENCLAW_CONFIG_PATH: `${FIXTURES}invalid-syntax.json5` }),
            }),
            /invalid-syntax\.json5 does not parse: .* at line 5, column 5/,
          );
        },
      );

      await t.step("undo restores the snapshot; /v1/models goes back to 404", async () => {
        const result = await undoOpenClaw(deps, { cli: state.cli });
        report("config patch CLI (undo)", result.cliMs);
        report("CLI exit → undo live", result.liveMs);
        assert.equal(result.restored, true);
        assert.equal(result.probe?.state, "endpoint-disabled");
        const r = await fetch(`${gw.url}/v1/models`, {
          headers: { authorization: `Bearer ${gw.token}` },
        });
        await r.body?.cancel();
        assert.equal(r.status, 404);
        await assert.rejects(Deno.stat(snapshotFile), Deno.errors.NotFound);
        assert.ok(pidAlive(pid!));
      });

      await t.step(
        "every other key of the rich config is unchanged after apply + undo",
        async () => {
          const now = await Deno.readTextFile(gw.configPath);
          assert.deepEqual(await semantic(now), await semantic(originalText));
        },
      );
    } finally {
      if (pid) await stopPid(pid);
    }
  },
});

Deno.test({
  name:
    "OpenClaw layer on a real gateway: a missing token is created, applied by a restart, and works; undo removes it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using stub = await startStubLlm({ reply: REPLY });
    const started = Date.now();
    await using gw = await startGateway({ stubUrl: stub.url, token: null, chatCompletions: false });
    report("cold start to /readyz (harness)", Date.now() - started);
    const originalText = await Deno.readTextFile(gw.configPath);
    const env = lookup({ ...gw.env(), ECTO_OPENCLAW: gw.openclawBin });
    const deps: GatewayDeps = { $: createShell(), fetch, env, limits: TEST_GATEWAY_LIMITS };
    const state = await loadOpenClaw({ env });
    const plan = planOpenClaw(state.file.config, {
      configPath: state.location.configPath,
      env: state.env,
    });

    await t.step("the plan generates a 64-hex token and asks for a restart", () => {
      assert.equal(plan.tokenGenerated, true);
      assert.match(plan.credential.value, /^[0-9a-f]{64}$/);
      assert.equal(plan.restart, "restart");
    });

    await t.step("after apply the new token works end to end", async () => {
      const result = await applyOpenClawPlan(deps, plan, { cli: state.cli });
      report("config patch CLI (new token)", result.cliMs);
      report("CLI exit → live incl. restart", result.liveMs);
      report("restart (SIGUSR2) → ready", result.restart?.ms);
      assert.equal(result.probe?.state, "ok");
      assert.equal(result.restart?.method, "signal");
      assert.ok(pidAlive(gw.pid), "in-process restart keeps the pid");
      assert.equal(await chat(gw.url, plan.credential.value), REPLY);
      const anon = await fetch(`${gw.url}/v1/models`);
      await anon.body?.cancel();
      assert.equal(anon.status, 401);
      const onDisk = await readOpenClawConfig(gw.configPath);
      assert.equal(
        (onDisk.config.gateway as { auth: { token: string } }).auth.token,
        plan.credential.value,
      );
    });

    await t.step("undo removes the token and turns the endpoint off", async () => {
      const result = await undoOpenClaw(deps, { cli: state.cli });
      report("config patch CLI (undo new token)", result.cliMs);
      assert.equal(result.probe?.state, "endpoint-disabled");
      assert.deepEqual(
        await semantic(await Deno.readTextFile(gw.configPath)),
        await semantic(originalText),
      );
    });
  },
});
