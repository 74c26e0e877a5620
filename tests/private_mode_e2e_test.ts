/**
 * `ecto connect --private` end to end: `cli.ts` spawned under the binary's
 * permission set, the tailscale double first on PATH (its tailnet side is
 * the node's Tailscale IPs, on loopback), a real OpenClaw gateway with the
 * stub LLM. Private → public → private → disconnect on one gateway, with
 * someone else's routes on the node from the start. Public DNS is the
 * sandbox's loopback stub; private mode must never ask it.
 */
import assert from "node:assert/strict";
import { ConnectionClosedError, funnelRequest } from "./tailscale_double/https_client.ts";
import { type EctoRun, runEcto } from "./e2e/run_ecto.ts";
import { type Sandbox, startSandbox } from "./e2e/sandbox.ts";

const HOST = "build-box.tail1234.ts.net";

/** Someone else's routes, there before ecto: a tailnet-only app on 10000 and a TCP forwarder. */
const OTHERS = {
  TCP: { "10000": { HTTPS: true }, "5432": { TCPForward: "127.0.0.1:5432" } },
  Web: { [`${HOST}:10000`]: { Handlers: { "/": { Proxy: "http://127.0.0.1:3000" } } } },
};

function json(run: EctoRun): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\n${run.stderr}`,
    );
  }
}

type Side = "tailnet" | "public";

/** A request as a tailnet peer (the node's Tailscale IP) or from the internet (Funnel). */
async function request(
  sb: Sandbox,
  side: Side,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
) {
  const ports = side === "tailnet" ? sb.tailscale.tailnetPorts : sb.tailscale.publicPorts;
  return await funnelRequest({
    localPort: ports[443]!,
    hostname: HOST,
    caPem: await Deno.readTextFile(sb.tailscale.caFile),
    method: body === undefined ? "GET" : "POST",
    path,
    headers,
    ...(body === undefined ? {} : { body }),
  });
}

async function chat(sb: Sandbox, side: Side, token: string) {
  return await request(
    sb,
    side,
    "/v1/chat/completions",
    { authorization: `Bearer ${token}`, "content-type": "application/json" },
    JSON.stringify({ model: "openclaw/default", messages: [{ role: "user", content: "Hi!" }] }),
  );
}

Deno.test({
  name:
    "`ecto connect --private` publishes on the tailnet only, switches to public and back, and disconnect restores the serve config",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    // No Funnel permission at all: private mode must not need it.
    await using sb = await startSandbox({ double: { funnelAttr: false, funnelPorts: [] } });
    await sb.tailscale.setServeConfig(OTHERS);
    const before = await sb.tailscale.serveConfig();
    const credsFile = `${sb.home}/.openclaw/ecto-credentials.json`;
    let token = "";
    let gatewayConfig = "";

    await t.step(
      "connect --private: Serve on 443, no AllowFunnel, proven over the tailnet",
      async () => {
        const run = await runEcto(["connect", "--private", "--json"], sb.env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const result = json(run);
        assert.equal(result.mode, "private");
        assert.equal(result.funnelPort, 443);
        assert.equal(result.url, `https://${HOST}`);
        const proof = result.proof as { path: string; detail: string; target: string };
        assert.equal(proof.path, "tailnet");
        assert.equal(proof.target, `127.0.0.1:${sb.tailscale.tailnetPorts[443]}`);
        assert.match(proof.detail, /^Proven over the tailnet/);
        assert.doesNotMatch(proof.detail, /internet|public/i);
        assert.ok(
          (result.notes as string[]).some((n) => /works only on devices in your tailnet/.test(n)),
        );
        assert.deepEqual(sb.dns.questions, [], "private mode never asks public DNS");
        token = result.token as string;
        assert.deepEqual(await sb.tailscale.serveConfig(), {
          TCP: { ...OTHERS.TCP, "443": { HTTPS: true } },
          Web: {
            ...OTHERS.Web,
            [`${HOST}:443`]: {
              Handlers: { "/": { Proxy: `http://127.0.0.1:${sb.edgePort}` } },
            },
          },
        });
        const creds = JSON.parse(await Deno.readTextFile(credsFile));
        assert.equal(creds.mode, "private");
        assert.match(creds.reach, /^tailnet only/);
        assert.equal(creds.token, token);
        gatewayConfig = await Deno.readTextFile(sb.gateway.configPath);
      },
    );

    await t.step("the human summary says tailnet-only and never 'the internet'", async () => {
      const run = await runEcto(["connect", "--private"], sb.env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /online in your tailnet \(private: not on the internet\)/);
      assert.match(run.stdout, /Private mode: https:\/\/build-box\.tail1234\.ts\.net works only/);
      assert.doesNotMatch(run.stdout, /between the internet and your assistant/);
    });

    await t.step(
      "a chat completion works over the tailnet with the key; the internet gets nothing",
      async () => {
        const res = await chat(sb, "tailnet", token);
        assert.equal(res.status, 200, res.body);
        assert.equal(JSON.parse(res.body).choices[0].message.content, sb.stub.reply);
        assert.equal((await request(sb, "tailnet", "/v1/models")).status, 401);
        await assert.rejects(request(sb, "public", "/v1/models"), ConnectionClosedError);
      },
    );

    await t.step(
      "status shows private mode, checks the tailnet path, asks no public DNS",
      async () => {
        const run = await runEcto(["status", "--json"], sb.env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const report = json(run);
        assert.equal(report.mode, "private");
        const layers = report.layers as Array<{ name: string; ok: boolean; summary: string }>;
        assert.deepEqual(layers.map((l) => l.name), [
          "exposure",
          "tailscale",
          "serve",
          "edge",
          "gateway",
          "credentials",
          "tailnet",
        ]);
        const serve = layers.find((l) => l.name === "serve")!;
        assert.equal(serve.ok, true);
        assert.match(serve.summary, /tailnet only, Funnel off/);
        const check = layers.find((l) => l.name === "tailnet")!;
        assert.equal(check.ok, true);
        assert.match(check.summary, /works only on devices in your tailnet/);
        assert.deepEqual(sb.dns.questions, []);
        const human = await runEcto(["status"], sb.env);
        assert.equal(human.code, 0);
        assert.match(human.stdout, /^All layers hold\.\nMode: private \(Tailscale Serve\)/);
        assert.doesNotMatch(human.stdout, /✓ public/);
      },
    );

    await t.step(
      "connect (public): the private route is gone, the Funnel route is there, same key",
      async () => {
        await sb.tailscale.enableFunnel();
        await sb.tailscale.update({ funnelPorts: [443, 8443, 10000] });
        const run = await runEcto(["connect", "--json"], sb.env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const result = json(run);
        assert.equal(result.mode, "public");
        assert.equal(result.token, token, "the same key");
        assert.equal((result.proof as { path: string }).path, "public");
        const config = await sb.tailscale.serveConfig();
        assert.deepEqual(config.AllowFunnel, { [`${HOST}:443`]: true });
        assert.deepEqual(config.TCP, { ...OTHERS.TCP, "443": { HTTPS: true } });
        assert.deepEqual(config.Web?.[`${HOST}:10000`], OTHERS.Web[`${HOST}:10000`]);
        assert.equal(Object.keys(config.Web ?? {}).length, 2, "one ecto route, one foreign");
        assert.equal((await chat(sb, "public", token)).status, 200);
        const creds = JSON.parse(await Deno.readTextFile(credsFile));
        assert.equal(creds.mode, undefined);
        assert.equal(await Deno.readTextFile(sb.gateway.configPath), gatewayConfig);
        const status = json(await runEcto(["status", "--json", "--no-public"], sb.env));
        assert.equal(status.mode, "public");
      },
    );

    await t.step(
      "connect --private again: Funnel off, the key keeps working on the tailnet",
      async () => {
        const run = await runEcto(["connect", "--private", "--json"], sb.env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.equal(json(run).token, token);
        const config = await sb.tailscale.serveConfig();
        assert.equal(config.AllowFunnel, undefined);
        assert.equal(Object.keys(config.Web ?? {}).length, 2);
        await assert.rejects(request(sb, "public", "/v1/models"), ConnectionClosedError);
        assert.equal((await chat(sb, "tailnet", token)).status, 200);
        assert.equal(await Deno.readTextFile(sb.gateway.configPath), gatewayConfig);
      },
    );

    await t.step("connect --restart keeps private mode: the URL is not made public", async () => {
      const before = await sb.tailscale.serveConfig();
      const run = await runEcto(["connect", "--restart", "--json"], sb.env);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(json(run).mode, "private");
      assert.deepEqual(await sb.tailscale.serveConfig(), before);
      assert.equal((await chat(sb, "tailnet", token)).status, 200);
    });

    await t.step("disconnect leaves the serve config exactly as it was before ecto", async () => {
      const run = await runEcto(["disconnect", "--json"], sb.env);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.ok(
        (json(run).actions as string[]).some((a) => /tailnet only, Serve/.test(a)),
        run.stdout,
      );
      assert.deepEqual(await sb.tailscale.serveConfig(), before);
    });
  },
});
