/**
 * Taking over machines the old `ecto-connection` skill (or OpenClaw itself)
 * set up: `cli.ts` spawned for real under the binary's permission set, the
 * tailscale test double first on PATH, a real OpenClaw 2026.9.6 gateway with
 * the stub LLM. Each test is one gateway state; the wall times go to the
 * closing note (`ECTO_PRINT_TIMINGS=1`).
 */
import assert from "node:assert/strict";
import { funnelRequest } from "./tailscale_double/https_client.ts";
import { type EctoRun, runEcto } from "./e2e/run_ecto.ts";
import { type Sandbox, type SandboxOptions, startSandbox } from "./e2e/sandbox.ts";
import { randomToken } from "./harness/gateway.ts";

const timings: Record<string, number> = {};
const HOST = "build-box.tail1234.ts.net";

function json(run: EctoRun): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\n${run.stderr}`,
    );
  }
}

async function publicRequest(
  sb: Sandbox,
  port: number,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
) {
  return await funnelRequest({
    localPort: sb.tailscale.publicPorts[port]!,
    hostname: sb.tailscale.dnsName,
    host: port === 443 ? sb.tailscale.dnsName : `${sb.tailscale.dnsName}:${port}`,
    caPem: await Deno.readTextFile(sb.tailscale.caFile),
    method: body === undefined ? "GET" : "POST",
    path,
    headers,
    ...(body === undefined ? {} : { body }),
  });
}

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
  const r = json(run) as {
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
        const error = json(run).error as { code: string; message: string; fix: string };
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
        timings.oldSkillMigration = run.ms;
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const result = json(run);
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
        const viaEdge = await publicRequest(sb, 443, "/v1/models", {
          authorization: `Bearer ${password}`,
        });
        assert.equal(viaEdge.status, 200, viaEdge.body);
        assert.equal(await direct(sb, "/v1/models", password), 401);
      },
    );

    await t.step("/tools/invoke and / are unreachable from outside", async () => {
      const tools = await publicRequest(sb, 443, "/tools/invoke", {
        authorization: `Bearer ${password}`,
      }, "{}");
      assert.equal(tools.status, 404);
      const root = await publicRequest(sb, 443, "/");
      assert.equal(root.status, 404);
    });

    await t.step("a chat completion with the old token and with the new key", async () => {
      for (const bearer of [password, key]) {
        const response = await publicRequest(
          sb,
          443,
          "/v1/chat/completions",
          { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
          JSON.stringify({
            model: "openclaw/default",
            messages: [{ role: "user", content: "Hi" }],
          }),
        );
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

Deno.test({
  name: "e2e timings (old-skill migration)",
  ignore: Deno.env.get("ECTO_PRINT_TIMINGS") === undefined,
  fn() {
    // deno-lint-ignore no-console -- opt-in report for the closing note
    console.log(JSON.stringify(timings));
  },
});
