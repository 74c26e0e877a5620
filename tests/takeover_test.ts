/**
 * The take-over's pure parts: which Serve/Funnel handlers publish the gateway
 * (recorded `tailscale funnel status --json` shapes), what a take-over
 * changes, where OpenClaw's config is (legacy dir, profiles, derived port,
 * service names, dotenv), and the key store's import of an old secret.
 */
import assert from "node:assert/strict";
import { KeyStore } from "../lib/edge/keys.ts";
import { inspectGatewaySettings } from "../lib/openclaw/settings.ts";
import {
  parseDotEnv,
  profilePort,
  resolveOpenClawLocation,
  withProfileEnv,
} from "../lib/openclaw/location.ts";
import { detectGatewayService, gatewayServiceNames } from "../lib/openclaw/gateway_service.ts";
import { planOpenClaw } from "../lib/openclaw/plan.ts";
import {
  describeExposure,
  exposureOffArgs,
  findGatewayExposures,
  foregroundLoopbackPorts,
} from "../lib/tailscale/exposures.ts";
import { loopbackTargetPort, parseServeConfig } from "../lib/tailscale/serve_config.ts";
import { planTakeover } from "../lib/commands/takeover.ts";
import { credentialsFileFor } from "../lib/core/credentials.ts";
import { createShell } from "../lib/core/shell.ts";
import { tailscaleCli } from "../lib/tailscale/runner.ts";
import { removeGatewayExposures } from "../lib/tailscale/gateway_routes.ts";
import { TailscaleDouble } from "./tailscale_double/control.ts";

const fixture = (name: string) =>
  parseServeConfig(
    Deno.readTextFileSync(new URL(`./fixtures/tailscale/${name}`, import.meta.url)),
  );
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const PASSWORD = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Deno.test("`loopbackTargetPort()` reads every target form Tailscale accepts", () => {
  const cases: Array<[string, number | undefined]> = [
    ["18789", 18789],
    ["localhost:18789", 18789],
    ["127.0.0.1:18789", 18789],
    ["http://127.0.0.1:18789", 18789],
    ["http://127.0.0.1:18789/some/path", 18789],
    ["http://localhost:18789", 18789],
    ["https://localhost:18789", 18789],
    ["https+insecure://localhost:18789", 18789],
    ["http://[::1]:18789", 18789],
    ["127.0.0.2:18789", 18789],
    ["http://10.0.0.5:18789", undefined],
    ["unix:/run/app.sock", undefined],
    ["text:hello", undefined],
    ["/var/www", undefined],
  ];
  for (const [target, port] of cases) assert.equal(loopbackTargetPort(target), port, target);
});

Deno.test("`findGatewayExposures()` finds the old skill's Funnel on 443 straight to the gateway", () => {
  const found = findGatewayExposures(fixture("serve_old_skill_443.json"), [18789]);
  assert.equal(found.length, 1);
  assert.deepEqual(
    {
      port: found[0].port,
      mount: found[0].mount,
      funnel: found[0].funnel,
      fg: found[0].foreground,
    },
    { port: 443, mount: "/", funnel: true, fg: false },
  );
  assert.deepEqual(exposureOffArgs(found[0]), [
    "serve",
    "--yes",
    "--https=443",
    "--set-path=/",
    "off",
  ]);
  assert.equal(
    describeExposure(found[0]),
    "https://build-box.tail1234.ts.net → http://127.0.0.1:18789 (public Funnel)",
  );
  assert.deepEqual(findGatewayExposures(fixture("serve_one_funnel.json"), [18789]), []);
});

Deno.test("`findGatewayExposures()` sees every port, mount, target form and TCP forwarder, and nothing else", () => {
  const found = findGatewayExposures(fixture("serve_gateway_target_forms.json"), [18789]);
  assert.deepEqual(
    found.map((e) => [e.kind, e.port, e.mount ?? null, e.funnel]),
    [
      ["web", 8443, "/", true],
      ["web", 443, "/gw", false],
      ["web", 10000, "/", false],
      ["tcp", 5000, null, false],
    ],
  );
  // Recorded from the double after `funnel --bg 3000`, `serve --https=443 --set-path=/gw …18789/`,
  // `funnel --https=8443 http://localhost:18789`, `serve --https=10000 https+insecure://…`,
  // `serve --tcp=5000 tcp://127.0.0.1:18789`. The foreign `/` on 443 (port 3000) is not the gateway's.
  assert.ok(!found.some((e) => e.target === "http://127.0.0.1:3000"));
  assert.deepEqual(exposureOffArgs(found[3]), ["serve", "--tcp=5000", "off"]);
});

Deno.test("`findGatewayExposures()` sees OpenClaw's own foreground claim on its private listener", () => {
  const config = fixture("serve_openclaw_claim.json");
  assert.deepEqual(foregroundLoopbackPorts(config), [40881]);
  assert.deepEqual(findGatewayExposures(config, [18789]), [], "not without knowing the listener");
  const found = findGatewayExposures(config, [18789, 40881]);
  assert.equal(found.length, 1);
  assert.equal(found[0].foreground, true);
  assert.equal(found[0].session, "abe2af65f6f7410e");
  assert.equal(found[0].port, 443);
});

function settings(gateway: Record<string, unknown>) {
  return inspectGatewaySettings({ gateway });
}

Deno.test("`planTakeover()` decides what a take-over changes", async (t) => {
  await t.step("old skill: remove the route, rotate the password, publish on 443", () => {
    const routes = findGatewayExposures(fixture("serve_old_skill_443.json"), [18789]);
    const plan = planTakeover({
      routes: { read: true, routes, gatewayPorts: [18789] },
      settings: settings({ auth: { mode: "password", password: PASSWORD } }),
      keepBind: false,
    });
    assert.equal(plan.needed, true);
    assert.equal(plan.routes.length, 1);
    assert.equal(plan.rotateCredential, true);
    assert.equal(plan.tailscaleOff, false);
    assert.equal(plan.publishPort, 443);
    assert.ok(plan.changes.some((c) => /stops working at the gateway/.test(c)));
    assert.ok(!plan.changes.join(" ").includes(PASSWORD));
  });
  await t.step("OpenClaw's funnel claim: tailscale mode off, no route to remove", () => {
    const config = fixture("serve_openclaw_claim.json");
    const ports = [18789, 40881];
    const plan = planTakeover({
      routes: { read: true, routes: findGatewayExposures(config, ports), gatewayPorts: ports },
      settings: settings({
        auth: { mode: "password", password: PASSWORD },
        tailscale: { mode: "funnel" },
      }),
      keepBind: false,
    });
    assert.deepEqual([plan.routes.length, plan.openclawClaims.length, plan.foreign.length], [
      0,
      1,
      0,
    ]);
    assert.equal(plan.tailscaleOff, true);
    assert.equal(plan.publishPort, 443);
  });
  await t.step("someone's `tailscale funnel 18789` in a terminal is foreign", () => {
    const config = parseServeConfig(
      JSON.stringify({
        Foreground: {
          abc: {
            TCP: { "443": { HTTPS: true } },
            Web: { "h:443": { Handlers: { "/": { Proxy: "http://127.0.0.1:18789" } } } },
          },
        },
      }),
    );
    const plan = planTakeover({
      routes: { read: true, routes: findGatewayExposures(config, [18789]), gatewayPorts: [18789] },
      settings: settings({ auth: { mode: "token", token: PASSWORD } }),
      keepBind: false,
    });
    assert.equal(plan.foreign.length, 1);
  });
  await t.step(
    "the old credentials file holding the gateway password: rotate, nothing else",
    () => {
      const plan = planTakeover({
        routes: { read: true, routes: [], gatewayPorts: [18789] },
        settings: settings({ auth: { mode: "password", password: PASSWORD } }),
        keepBind: false,
        oldCredentialsToken: PASSWORD,
      });
      assert.equal(plan.rotateCredential, true);
      assert.equal(plan.publishPort, undefined);
    },
  );
  await t.step("a clean machine: nothing to take over", () => {
    const plan = planTakeover({
      routes: { read: true, routes: [], gatewayPorts: [18789] },
      settings: settings({ auth: { mode: "token", token: PASSWORD }, bind: "lan" }),
      keepBind: false,
    });
    assert.equal(plan.needed, false);
    assert.deepEqual(plan.changes, []);
  });
});

Deno.test("`planOpenClaw({ rotateCredential, tailscaleOff })`: fresh token, password gone, one restart, not undone", () => {
  const plan = planOpenClaw({
    gateway: {
      mode: "local",
      auth: { mode: "password", password: PASSWORD },
      tailscale: { mode: "funnel" },
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
  }, {
    configPath: "/x/openclaw.json",
    rotateCredential: true,
    tailscaleOff: true,
    generateToken: () => "f".repeat(64),
  });
  assert.deepEqual(plan.patch, {
    gateway: {
      auth: { mode: "token", token: "f".repeat(64), password: null },
      tailscale: { mode: "off" },
    },
  });
  assert.equal(plan.retired?.value, PASSWORD);
  assert.equal(plan.credential.value, "f".repeat(64));
  assert.equal(plan.restart, "automatic");
  assert.deepEqual(plan.snapshot, [], "disconnect --purge never brings the exposure back");
  assert.ok(!JSON.stringify(plan.changes).includes(PASSWORD));
});

Deno.test("`planOpenClaw()` with gateway.reload.mode=off restarts instead of waiting for a live apply", () => {
  const plan = planOpenClaw({
    gateway: { mode: "local", reload: { mode: "off" }, auth: { mode: "token", token: PASSWORD } },
  }, { configPath: "/x/openclaw.json" });
  assert.equal(plan.restart, "restart");
  assert.match(plan.restartReason ?? "", /reload\.mode is off/);
});

Deno.test("`resolveOpenClawLocation()` finds the legacy ~/.clawdbot and clawdbot.json like OpenClaw", async (t) => {
  const at = (files: string[]) => (p: string) =>
    files.some((f) => f === p || f.startsWith(`${p}/`));
  await t.step("only ~/.clawdbot/clawdbot.json", () => {
    const l = resolveOpenClawLocation(envOf({ HOME: "/u" }), at(["/u/.clawdbot/clawdbot.json"]));
    assert.deepEqual([l.configPath, l.stateDir, l.legacy], [
      "/u/.clawdbot/clawdbot.json",
      "/u/.clawdbot",
      true,
    ]);
  });
  await t.step(
    "~/.openclaw exists (the old credentials file made it): state there, config legacy",
    () => {
      const l = resolveOpenClawLocation(
        envOf({ HOME: "/u" }),
        at(["/u/.openclaw/ecto-credentials.json", "/u/.clawdbot/clawdbot.json"]),
      );
      assert.deepEqual([l.configPath, l.stateDir], ["/u/.clawdbot/clawdbot.json", "/u/.openclaw"]);
    },
  );
  await t.step("~/.openclaw/clawdbot.json", () => {
    const l = resolveOpenClawLocation(envOf({ HOME: "/u" }), at(["/u/.openclaw/clawdbot.json"]));
    assert.equal(l.configPath, "/u/.openclaw/clawdbot.json");
  });
  await t.step("nothing: the canonical path", () => {
    const l = resolveOpenClawLocation(envOf({ HOME: "/u" }), at([]));
    assert.deepEqual([l.configPath, l.legacy], ["/u/.openclaw/openclaw.json", false]);
  });
  await t.step("credentials beside a legacy-only config, so ~/.openclaw is not created", () => {
    const paths = { home: "/u", credentialsFile: "/u/.openclaw/ecto-credentials.json" };
    assert.equal(
      credentialsFileFor(paths, at(["/u/.clawdbot/clawdbot.json"])),
      "/u/.clawdbot/ecto-credentials.json",
    );
    assert.equal(credentialsFileFor(paths, at(["/u/.openclaw/x"])), paths.credentialsFile);
  });
});

Deno.test("a profile: state dir, config path, the port OpenClaw derives, service names", () => {
  // Values from OpenClaw 2026.9.6's own resolveGatewayPort (paths-*.mjs), run under node.
  assert.equal(profilePort("work"), 41984);
  assert.equal(profilePort("dev"), 38556);
  assert.equal(profilePort("alpha-2"), 35552);
  const env = withProfileEnv(envOf({ HOME: "/u" }), "work");
  const l = resolveOpenClawLocation(env, () => false);
  assert.deepEqual([l.configPath, l.stateDir, l.profile], [
    "/u/.openclaw-work/openclaw.json",
    "/u/.openclaw-work",
    "work",
  ]);
  assert.deepEqual(
    [inspectGatewaySettings({}, env).port, inspectGatewaySettings({}, env).portSource],
    [41984, "profile"],
  );
  assert.equal(inspectGatewaySettings({ gateway: { port: 1234 } }, env).port, 1234);
  assert.equal(
    inspectGatewaySettings({}, withProfileEnv(envOf({ HOME: "/u" }), "dev")).port,
    19001,
  );
  assert.deepEqual(gatewayServiceNames(env), {
    launchdLabel: "ai.openclaw.work",
    systemdUnit: "openclaw-gateway-work.service",
  });
  assert.deepEqual(
    gatewayServiceNames(
      envOf({ OPENCLAW_SYSTEMD_UNIT: "my-gw", OPENCLAW_LAUNCHD_LABEL: "com.me.gw" }),
    ),
    { launchdLabel: "com.me.gw", systemdUnit: "my-gw.service" },
  );
  assert.throws(() => withProfileEnv(envOf({ HOME: "/u" }), "../evil"), /not an OpenClaw profile/);
});

Deno.test("`detectGatewayService()` finds a profile's unit and honours OPENCLAW_SYSTEMD_UNIT", async () => {
  const home = await Deno.makeTempDir({ prefix: "ecto-svc-" });
  try {
    await Deno.mkdir(`${home}/.config/systemd/user`, { recursive: true });
    await Deno.writeTextFile(`${home}/.config/systemd/user/openclaw-gateway-work.service`, "");
    await Deno.writeTextFile(`${home}/.config/systemd/user/custom.service`, "");
    const work = withProfileEnv(envOf({ HOME: home }), "work");
    assert.equal(
      (await detectGatewayService(work, "linux"))?.path.endsWith("openclaw-gateway-work.service"),
      true,
    );
    assert.equal(await detectGatewayService(envOf({ HOME: home }), "linux"), undefined);
    const custom = envOf({ HOME: home, OPENCLAW_SYSTEMD_UNIT: "custom" });
    assert.equal(
      (await detectGatewayService(custom, "linux"))?.path.endsWith("custom.service"),
      true,
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("`parseDotEnv()` has the semantics of the dotenv package OpenClaw uses", async () => {
  // Expected values printed by dotenv 17.4.2's parse() from OpenClaw's node_modules.
  assert.deepEqual(
    await parseDotEnv(
      '# c\nA=1\nexport B=\'two words\'\nC="q" \nD=x # comment\nbad line\nE="multi\\nline"\nF=`back`\nG="a#b"\n',
    ),
    { A: "1", B: "two words", C: "q", D: "x", E: "multi\nline", F: "back", G: "a#b" },
  );
});

Deno.test("`KeyStore.importKey()` adopts an old secret: hash only, any shape, never the owner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-import-" });
  try {
    await using store = await KeyStore.open(`${dir}/keys.json`);
    const owner = await store.create("owner", { role: "owner" });
    const legacy = await store.importKey("legacy", PASSWORD, { role: "owner" });
    assert.equal(legacy.imported, true);
    assert.equal((await store.verify(PASSWORD))?.id, legacy.id);
    assert.equal((await store.owner())?.id, owner.id);
    const again = await store.importKey("legacy", PASSWORD, { role: "owner" });
    assert.equal(again.id, legacy.id, "importing twice keeps one key");
    const text = await Deno.readTextFile(`${dir}/keys.json`);
    assert.ok(!text.includes(PASSWORD), "only the SHA-256 is stored");
    await assert.rejects(store.importKey("short", "abc"), /16 to 512/);
    await store.revoke(legacy.id);
    assert.equal(await store.verify(PASSWORD), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "`removeGatewayExposures()` on the tailscale double removes only the gateway's handlers and reads back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using ts = await TailscaleDouble.start({});
    const setup = [
      ["funnel", "--bg", "3000"],
      ["serve", "--bg", "--https=443", "--set-path=/gw", "http://127.0.0.1:18789/"],
      ["funnel", "--bg", "--https=8443", "localhost:18789"],
      ["serve", "--bg", "--tcp=5000", "tcp://127.0.0.1:18789"],
      ["serve", "--bg", "--http=8080", "18789"],
    ];
    for (const args of setup) assert.equal((await ts.run(args)).code, 0, args.join(" "));
    const cli = tailscaleCli({ $: createShell(), path: ts.cliPath, env: ts.env() });
    const before = parseServeConfig(JSON.stringify(await ts.serveConfig()));
    const exposures = findGatewayExposures(before, [18789]);
    assert.equal(exposures.length, 4);
    const events: string[] = [];
    const result = await removeGatewayExposures(cli, {
      exposures,
      gatewayPorts: [18789],
      events: (e) => events.push(e.kind),
    });
    assert.equal(result.removed.length, 4);
    assert.equal(result.othersUnchanged, true);
    assert.deepEqual(await ts.serveConfig(), {
      TCP: { "443": { HTTPS: true } },
      Web: {
        "build-box.tail1234.ts.net:443": { Handlers: { "/": { Proxy: "http://127.0.0.1:3000" } } },
      },
    });
    assert.ok(!events.includes("note"), "no warning: nothing else moved");
  },
});
