/**
 * Taking over machines the old `ecto-connection` skill (or OpenClaw itself)
 * set up: `cli.ts` spawned for real under the binary's permission set, the
 * tailscale test double first on PATH, a real OpenClaw 2026.9.6 gateway with
 * the stub LLM. Each test is one gateway state; the wall times go to the
 * closing note (`ECTO_PRINT_TIMINGS=1`).
 */
import assert from "node:assert/strict";
import { type EctoRun, jsonOf, runEcto } from "./e2e/run_ecto.ts";
import { publicRequest, type Sandbox, type SandboxOptions, startSandbox } from "./e2e/sandbox.ts";
import { randomToken, stopPid } from "./harness/gateway.ts";
import { profilePort } from "../lib/openclaw/location.ts";

/** Notes a wall time for the closing note (stderr, only with `ECTO_PRINT_TIMINGS` set). */
function timing(label: string, ms: number): void {
  if (Deno.env.get("ECTO_PRINT_TIMINGS") === undefined) return;
  Deno.stderr.writeSync(new TextEncoder().encode(`e2e timing ${label}: ${ms} ms\n`));
}
/** One take-over test: its gateway, edge and double outlive single ops, so no sanitizers. */
function e2e(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, sanitizeResources: false, sanitizeOps: false, fn });
}

const HOST = "build-box.tail1234.ts.net";

async function direct(sb: Sandbox, path: string, bearer?: string): Promise<number> {
  const response = await fetch(`${sb.gateway.url}${path}`, {
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
  });
  await response.body?.cancel();
  return response.status;
}

/** Every proxy target in the serve config, foreground sessions included. */
function allTargets(config: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (c: Record<string, unknown>) => {
    for (const server of Object.values((c.Web ?? {}) as Record<string, { Handlers: object }>)) {
      for (const h of Object.values(server.Handlers) as Array<{ Proxy?: string }>) {
        if (h.Proxy) out.push(h.Proxy);
      }
    }
    for (
      const fg of Object.values((c.Foreground ?? {}) as Record<string, Record<string, unknown>>)
    ) {
      walk(fg);
    }
  };
  walk(config);
  return out;
}

/** The old skill's machine: password auth, the whole gateway on Funnel 443, its credentials file. */
async function oldSkillMachine(
  options: SandboxOptions & { password?: string; tailscaleMode?: string } = {},
) {
  const password = options.password ?? randomToken();
  const sb = await startSandbox({
    ...options,
    gatewayToken: null,
    gatewayOptions: {
      chatCompletions: true,
      extraConfig: {
        gateway: {
          auth: { mode: "password", password },
          ...(options.tailscaleMode ? { tailscale: { mode: options.tailscaleMode } } : {}),
        },
      },
      ...options.gatewayOptions,
    },
  });
  const creds = JSON.stringify({
    token: password,
    url: `https://${HOST}`,
    port: sb.gateway.port,
    created: "2026-05-01T10:00:00Z",
  });
  await Deno.writeTextFile(`${sb.home}/.openclaw/ecto-credentials.json`, creds, { mode: 0o600 });
  return { sb, password, creds };
}

function report(run: EctoRun) {
  const r = jsonOf(run) as {
    ok: boolean;
    firstProblem?: { layer: string; message: string; fix?: string };
    layers: Array<{ name: string; ok: boolean | null; summary: string }>;
  };
  return r;
}

Deno.test({
  name:
    "old-skill machine: one `ecto connect --yes` takes over 443, keeps the URL and the old token, then status, chat, disconnect and purge",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const { sb, password, creds } = await oldSkillMachine();
    await using _sb = sb;
    const route = await sb.tailscale.run(["funnel", "--bg", String(sb.gateway.port)]);
    assert.equal(route.code, 0, route.stderr);
    let key = "";

    await t.step("status names the direct route as the first broken layer", async () => {
      const run = await runEcto(["status", "--json", "--no-public"], sb.env);
      assert.equal(run.code, 1, run.stderr);
      const r = report(run);
      assert.equal(r.firstProblem?.layer, "exposure");
      assert.match(
        r.firstProblem!.message,
        new RegExp(`https://${HOST} → http://127\\.0\\.0\\.1:${sb.gateway.port}`),
      );
      assert.match(r.firstProblem!.fix!, /^ecto connect --yes/);
    });

    await t.step(
      "without consent: exit 3 saying exactly what will change, nothing changed",
      async () => {
        const before = JSON.stringify(await sb.tailscale.serveConfig());
        const configBefore = await Deno.readTextFile(sb.gateway.configPath);
        const run = await runEcto(["connect", "--json"], sb.env);
        assert.equal(run.code, 3, run.stderr);
        const error = jsonOf(run).error as { code: string; message: string; fix: string };
        assert.equal(error.code, "takeover_needs_consent");
        assert.match(error.message, /remove the route/);
        assert.match(error.message, /token auth with a fresh token/);
        assert.match(error.message, /port 443/);
        assert.match(error.fix, /^ecto connect --yes/);
        assert.ok(!run.stdout.includes(password) && !run.stderr.includes(password));
        assert.equal(JSON.stringify(await sb.tailscale.serveConfig()), before);
        assert.equal(await Deno.readTextFile(sb.gateway.configPath), configBefore);
        assert.equal(await Deno.readTextFile(`${sb.home}/.openclaw/ecto-credentials.json`), creds);
      },
    );

    await t.step(
      "`connect --yes`: no route targets the gateway, the edge is on the old URL",
      async () => {
        const run = await runEcto(["connect", "--yes", "--json"], sb.env);
        timing("oldSkillMigration", run.ms);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const result = jsonOf(run);
        assert.equal(result.url, `https://${HOST}`);
        assert.equal(result.funnelPort, 443);
        assert.equal((result.proof as { path: string }).path, "public");
        assert.match((result.notes as string[]).join(" "), /"legacy"/);
        key = result.token as string;
        assert.ok(!run.stderr.includes(password) && !run.stdout.includes(password));
        const config = await sb.tailscale.serveConfig() as Record<string, unknown>;
        const targets = allTargets(config);
        assert.deepEqual(targets, [`http://127.0.0.1:${sb.edgePort}`]);
        const written = JSON.parse(
          await Deno.readTextFile(`${sb.home}/.openclaw/ecto-credentials.json`),
        );
        assert.equal(written.token, key);
        assert.equal(written.url, `https://${HOST}`);
      },
    );

    await t.step(
      "the old token: 200 on /v1/models through the edge, 401 at the gateway",
      async () => {
        const viaEdge = await publicRequest(sb, 443, "/v1/models", { key: password });
        assert.equal(viaEdge.status, 200, viaEdge.body);
        assert.equal(await direct(sb, "/v1/models", password), 401);
      },
    );

    await t.step("/tools/invoke and / are unreachable from outside", async () => {
      const tools = await publicRequest(sb, 443, "/tools/invoke", { key: password, body: "{}" });
      assert.equal(tools.status, 404);
      const root = await publicRequest(sb, 443, "/");
      assert.equal(root.status, 404);
    });

    await t.step("a chat completion with the old token and with the new key", async () => {
      for (const bearer of [password, key]) {
        const response = await publicRequest(sb, 443, "/v1/chat/completions", {
          key: bearer,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "openclaw/default",
            messages: [{ role: "user", content: "Hi" }],
          }),
        });
        assert.equal(response.status, 200, response.body);
        assert.equal(JSON.parse(response.body).choices[0].message.content, sb.stub.reply);
      }
    });

    await t.step("status: every layer holds", async () => {
      const run = await runEcto(["status", "--json"], sb.env);
      assert.equal(run.code, 0, run.stdout);
      const r = report(run);
      assert.equal(r.ok, true, JSON.stringify(r.firstProblem));
      assert.equal(r.layers[0].name, "exposure");
      assert.ok(r.layers.every((l) => l.ok === true), JSON.stringify(r.layers));
    });

    await t.step(
      "`--regenerate-token` retires the old token: 401 through the edge too",
      async () => {
        const run = await runEcto(["connect", "--regenerate-token", "--yes", "--json"], sb.env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match((jsonOf(run).notes as string[]).join(" "), /retired/);
        const old = await publicRequest(sb, 443, "/v1/models", { key: password });
        assert.equal(old.status, 401);
        const fresh = await publicRequest(sb, 443, "/v1/models", {
          key: jsonOf(run).token as string,
        });
        assert.equal(fresh.status, 200);
      },
    );

    await t.step("disconnect --purge returns to a safe state, never the old exposure", async () => {
      const run = await runEcto(["disconnect", "--purge", "--json"], sb.env);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(allTargets(await sb.tailscale.serveConfig() as Record<string, unknown>), []);
      const config = await Deno.readTextFile(sb.gateway.configPath);
      assert.ok(!config.includes(password), "the public password is not restored");
      assert.ok(!/"tailscale"\s*:\s*\{\s*"mode"\s*:\s*"(funnel|serve)"/.test(config));
      assert.equal(await direct(sb, "/v1/models", password), 401);
      const status = await runEcto(["status", "--json", "--no-public"], sb.env);
      const exposure = report(status).layers.find((l) => l.name === "exposure")!;
      assert.equal(exposure.ok, true, exposure.summary);
    });
  },
});

/** Runs `connect --yes` and checks the proof went through the edge to the gateway (no 502). */
async function connectAndProve(
  sb: Sandbox,
  env: Record<string, string>,
  label: string,
  args: string[] = [],
) {
  const run = await runEcto(["connect", "--yes", "--json", ...args], env);
  timing(label, run.ms);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const result = jsonOf(run);
  assert.equal((result.proof as { path: string }).path, "public");
  const port = result.funnelPort as number;
  const models = await publicRequest(sb, port, "/v1/models", { key: result.token as string });
  assert.equal(models.status, 200, `the edge authenticates upstream: ${models.body}`);
  return { result, run, port };
}

e2e(
  "OpenClaw's own tailscale.mode=funnel holding 443: the gateway drops its claim, comes back, the edge takes 443",
  async () => {
    const { sb, password } = await oldSkillMachine({
      tailscaleMode: "funnel",
      gatewaySeesTailscale: true,
    });
    await using _sb = sb;
    // The gateway claims 443 in the foreground (`tailscale funnel --yes --bg=false <port>`).
    await sb.tailscale.waitFor((c) => Object.keys(c.Foreground ?? {}).length > 0, 60_000);
    const claim = await sb.tailscale.serveConfig() as Record<string, unknown>;
    const claimTarget = allTargets(claim)[0]!;
    assert.notEqual(claimTarget, `http://127.0.0.1:${sb.gateway.port}`, "a private listener");

    const before = await runEcto(["status", "--json", "--no-public"], sb.env);
    const r = report(before);
    assert.equal(r.firstProblem?.layer, "exposure");
    assert.match(r.firstProblem!.message, /foreground session/);
    assert.match(r.firstProblem!.message, /gateway\.tailscale\.mode is funnel/);

    const { result } = await connectAndProve(sb, sb.env, "openclawFunnelTakeover");
    assert.equal(result.funnelPort, 443);
    assert.equal(result.url, `https://${HOST}`);
    const config = await sb.tailscale.serveConfig() as Record<string, unknown>;
    assert.deepEqual(allTargets(config), [`http://127.0.0.1:${sb.edgePort}`]);
    assert.equal(config.Foreground, undefined, "the gateway's own claim is gone");
    assert.ok(sb.gateway.isRunning(), "the gateway came back (no exit 78)");
    assert.equal(await direct(sb, "/readyz"), 200);
    assert.equal(await direct(sb, "/v1/models", password), 401);
    const viaEdge = await publicRequest(sb, 443, "/v1/models", { key: password });
    assert.equal(viaEdge.status, 200);
    const status = await runEcto(["status", "--json"], sb.env);
    assert.equal(status.code, 0, status.stdout);
    await runEcto(["disconnect", "--purge", "--json"], sb.env);
    assert.equal(await direct(sb, "/readyz"), 200);
    assert.equal(
      (await sb.tailscale.serveConfig() as Record<string, unknown>).Foreground,
      undefined,
    );
  },
);

e2e(
  "token from a ${VAR} template resolved from OpenClaw's .env: the edge authenticates upstream",
  async () => {
    const token = randomToken();
    const sb = await startSandbox({
      gatewayToken: null,
      startGateway: false,
      gatewayOptions: {
        extraConfig: { gateway: { auth: { mode: "token", token: "${GW_TOKEN}" } } },
      },
    });
    await using _sb = sb;
    // OpenClaw reads `<stateDir>/.env` at start; the variable is nowhere else.
    await Deno.writeTextFile(
      `${sb.gateway.stateDir}/.env`,
      `# gateway secrets\nGW_TOKEN="${token}"\n`,
    );
    await sb.gateway.start();
    assert.equal(
      await direct(sb, "/v1/models", token),
      404,
      "the template resolved (endpoint off)",
    );
    const { run } = await connectAndProve(sb, sb.env, "templateDotEnv");
    assert.ok(!run.stderr.includes(token) && !run.stdout.includes(token));
    const config = await Deno.readTextFile(sb.gateway.configPath);
    assert.ok(config.includes("${GW_TOKEN}"), "the user's template is kept");
    await assert.rejects(
      Deno.stat(`${sb.env.ECTO_STATE_DIR}/gateway-credential`),
      "no copy needed",
    );
  },
);
e2e(
  "password mode, nothing exposed: the password stays, the edge sends `Bearer <password>`",
  async () => {
    const password = randomToken();
    const sb = await startSandbox({
      gatewayToken: null,
      gatewayOptions: { extraConfig: { gateway: { auth: { mode: "password", password } } } },
    });
    await using _sb = sb;
    const { result } = await connectAndProve(sb, sb.env, "passwordMode");
    assert.equal(result.takeover, undefined, "not a take-over");
    const config = await Deno.readTextFile(sb.gateway.configPath);
    assert.ok(config.includes(password), "the user's password is kept");
    await runEcto(["disconnect", "--purge", "--json"], sb.env);
  },
);

e2e(
  "token only in OPENCLAW_GATEWAY_TOKEN (the environment): the edge gets a 0600 copy, never argv or its environment",
  async () => {
    const token = randomToken();
    const sb = await startSandbox({
      gatewayToken: null,
      gatewayOptions: { extraEnv: { OPENCLAW_GATEWAY_TOKEN: token } },
    });
    await using _sb = sb;
    assert.equal(
      sb.env.OPENCLAW_GATEWAY_TOKEN,
      token,
      "ecto runs where the gateway's token is set",
    );
    await connectAndProve(sb, sb.env, "envToken");
    const copy = `${sb.env.ECTO_STATE_DIR}/gateway-credential`;
    assert.equal((await Deno.stat(copy)).mode! & 0o777, 0o600);
    const edgeJson = await Deno.readTextFile(`${sb.env.ECTO_STATE_DIR}/edge.json`);
    assert.ok(!edgeJson.includes(token));
    const pid = Number(
      (await Deno.readTextFile(`${sb.env.ECTO_STATE_DIR}/edge.pid`)).trim().split(/\s/)[0],
    );
    const ps = await new Deno.Command("ps", { args: ["-ww", "-o", "command=", "-p", String(pid)] })
      .output();
    assert.ok(!new TextDecoder().decode(ps.stdout).includes(token), "not in the edge's argv");
    await runEcto(["disconnect", "--purge", "--json"], sb.env);
    await assert.rejects(Deno.stat(copy), "purge deletes the copy");
  },
);

e2e(
  "gateway.reload.mode=off: ecto applies the patch, restarts the gateway once, and the API is live",
  async () => {
    const sb = await startSandbox({
      gatewayOptions: { extraConfig: { gateway: { reload: { mode: "off" } } } },
    });
    await using _sb = sb;
    assert.equal(await direct(sb, "/v1/models", sb.gateway.token), 404, "endpoint off before");
    const { run } = await connectAndProve(sb, sb.env, "reloadOff");
    assert.match(run.stderr, /reload\.mode is off|restart/i);
    assert.equal(await direct(sb, "/v1/models", sb.gateway.token), 200, "live after one restart");
    await runEcto(["disconnect", "--purge", "--json"], sb.env);
  },
);

e2e(
  "the legacy directory: ~/.clawdbot/clawdbot.json with the gateway stopped; connect patches it and starts the gateway",
  async () => {
    const sb = await startSandbox({ startGateway: false });
    await using _sb = sb;
    const legacy = `${sb.home}/.clawdbot/clawdbot.json`;
    await Deno.rename(sb.gateway.stateDir, `${sb.home}/.clawdbot`);
    await Deno.rename(`${sb.home}/.clawdbot/openclaw.json`, legacy);
    let pid: number | undefined;
    try {
      const status = await runEcto(["status", "--json", "--no-public"], sb.env);
      const gw = report(status).layers.find((l) => l.name === "gateway")!;
      assert.ok(!/no OpenClaw config found/.test(gw.summary), gw.summary);
      const run = await runEcto(["connect", "--yes", "--json"], sb.env);
      timing("legacyDir", run.ms);
      pid = Number(/gateway ready \(pid (\d+)/.exec(run.stderr)?.[1]) || undefined;
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stderr, /clawdbot\.json/, "ecto patched the legacy file");
      const result = jsonOf(run);
      const models = await publicRequest(sb, result.funnelPort as number, "/v1/models", {
        key: result.token as string,
      });
      assert.equal(models.status, 200);
    } finally {
      if (pid) await stopPid(pid);
    }
  },
);

e2e(
  "the legacy directory on an old-skill machine: OpenClaw cannot migrate, ecto says how to fix it and changes nothing",
  async () => {
    const sb = await startSandbox({ startGateway: false });
    await using _sb = sb;
    await Deno.rename(sb.gateway.stateDir, `${sb.home}/.clawdbot`);
    await Deno.mkdir(`${sb.home}/.openclaw`, { mode: 0o700 });
    const creds = JSON.stringify({ token: randomToken(), url: `https://${HOST}`, port: 1 });
    await Deno.writeTextFile(`${sb.home}/.openclaw/ecto-credentials.json`, creds);
    const run = await runEcto(["connect", "--yes", "--json"], sb.env);
    assert.equal(run.code, 3, run.stdout + run.stderr);
    const error = jsonOf(run).error as { code: string; fix: string };
    assert.equal(error.code, "openclaw_legacy_migration_blocked");
    assert.match(error.fix, /ecto-credentials\.json/);
    assert.equal(await Deno.readTextFile(`${sb.home}/.openclaw/ecto-credentials.json`), creds);
    assert.deepEqual(await sb.tailscale.serveConfig(), {});
  },
);

e2e(
  "a profile: `--profile` finds ~/.openclaw-<name> and the port OpenClaw derives for it",
  async () => {
    const home = await Deno.makeTempDir({ prefix: "ecto-profile-" });
    // A random name: the port OpenClaw derives from it must be free, and another suite running
    // this test at the same time must not pick the same one (fixed names collided there).
    let name = "";
    do name = `t${crypto.randomUUID().slice(0, 8)}`; while (!portFree(profilePort(name)));
    const port = profilePort(name);
    const stateDir = `${home}/.openclaw-${name}`;
    const profileEnv = {
      OPENCLAW_PROFILE: name,
      OPENCLAW_STATE_DIR: stateDir,
      OPENCLAW_CONFIG_PATH: `${stateDir}/openclaw.json`,
    };
    const sb = await startSandbox({
      startGateway: false,
      gatewayOptions: {
        home,
        port,
        extraEnv: profileEnv,
        extraConfig: { gateway: { port: null } },
      },
    });
    await using _sb = sb;
    await Deno.rename(sb.gateway.stateDir, stateDir);
    await sb.gateway.start();
    const env = { ...sb.env };
    for (const k of Object.keys(profileEnv)) delete env[k];

    const plain = await runEcto(["status", "--json", "--no-public"], env);
    const gw = report(plain).layers.find((l) => l.name === "gateway")!;
    assert.match(gw.summary, /no OpenClaw config found at .*\.openclaw\/openclaw\.json/);

    await connectAndProve(sb, env, "profile", ["--profile", name]);
    const status = await runEcto(["status", "--json", "--profile", name], env);
    assert.equal(status.code, 0, status.stdout);
    const text = await Deno.readTextFile(`${stateDir}/openclaw.json`);
    assert.match(text, /"chatCompletions"/);
    await runEcto(["disconnect", "--purge", "--json", "--profile", name], env);
    await Deno.remove(home, { recursive: true }).catch(() => {});
  },
);

e2e(
  "a failed connect leaves the old credentials file byte-identical; the re-run finishes the take-over",
  async () => {
    const { sb, password, creds } = await oldSkillMachine();
    await using _sb = sb;
    await sb.tailscale.run(["funnel", "--bg", String(sb.gateway.port)]);
    const credsFile = `${sb.home}/.openclaw/ecto-credentials.json`;
    // Another program holds the edge's address: the edge cannot start.
    const squatter = Deno.listen({ hostname: "127.0.0.1", port: sb.edgePort });
    let failed: EctoRun;
    try {
      failed = await runEcto(["connect", "--yes", "--json"], sb.env);
    } finally {
      squatter.close();
    }
    assert.notEqual(failed.code, 0);
    // The edge cannot bind the squatted address and exits before its ready line: the detached
    // supervisor waits for one or the other, so this is always edge_start_failed.
    const error = jsonOf(failed).error as { code: string };
    assert.equal(error.code, "edge_start_failed", failed.stdout);
    assert.equal(await Deno.readTextFile(credsFile), creds, "byte-identical");
    // Safe meanwhile: nothing publishes the gateway.
    assert.ok(
      !allTargets(await sb.tailscale.serveConfig() as Record<string, unknown>).includes(
        `http://127.0.0.1:${sb.gateway.port}`,
      ),
    );
    const { result } = await connectAndProve(sb, sb.env, "rerunAfterFailure");
    assert.equal(result.funnelPort, 443);
    const viaEdge = await publicRequest(sb, 443, "/v1/models", { key: password });
    assert.equal(viaEdge.status, 200, "the old token survived the interrupted run");
    assert.notEqual(await Deno.readTextFile(credsFile), creds);
    await runEcto(["disconnect", "--purge", "--json"], sb.env);
  },
);

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}
