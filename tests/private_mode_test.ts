/**
 * `ecto connect --private`: the pure decisions (which of ecto's routes are in
 * which mode, the private port, the switch plan), the tailnet-only proof,
 * and the Serve write and the switch against the tailscale double.
 */
import assert from "node:assert/strict";
import { ActionRequiredError } from "../lib/core/errors.ts";
import { createShell } from "../lib/core/shell.ts";
import { provePublicUrl } from "../lib/proof/mod.ts";
import type { HttpsGetRequest } from "../lib/proof/https_get.ts";
import {
  enableFunnel,
  parseServeConfig,
  removeFunnel,
  type TailscaleCli,
  tailscaleCli,
  type TailscaleStatus,
} from "../lib/tailscale/mod.ts";
import {
  chooseServePort,
  ectoRoutesByMode,
  enableServe,
  planPublish,
  routeMode,
  serveArgs,
} from "../lib/tailscale/mod.ts";
import { choosePort } from "../lib/tailscale/serve_config.ts";
import { tailscaleLayer } from "../lib/tailscale/layer.ts";
import type { EctoContext } from "../lib/core/context.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { TailscaleDouble } from "./tailscale_double/control.ts";
import { ConnectionClosedError, funnelRequest } from "./tailscale_double/https_client.ts";

const HOST = "build-box.tail1234.ts.net";
const EDGE = "http://127.0.0.1:18795";
const FOREIGN = "http://127.0.0.1:3000";

/** A serve config as `serve status --json` prints it, from a compact description. */
function config(
  routes: { port: number; proxy: string; funnel?: boolean; host?: string; mount?: string }[],
  foregroundPorts: number[] = [],
) {
  const json: Record<string, Record<string, unknown>> = { TCP: {}, Web: {}, AllowFunnel: {} };
  for (const r of routes) {
    const hp = `${r.host ?? HOST}:${r.port}`;
    json.TCP[String(r.port)] = { HTTPS: true };
    const web = (json.Web[hp] ??= { Handlers: {} }) as { Handlers: Record<string, unknown> };
    web.Handlers[r.mount ?? "/"] = { Proxy: r.proxy };
    if (r.funnel) json.AllowFunnel[hp] = true;
  }
  if (foregroundPorts.length > 0) {
    json.Foreground = {
      "4f9c2a1be07d3c55": {
        TCP: Object.fromEntries(foregroundPorts.map((p) => [String(p), { HTTPS: true }])),
      },
    };
  }
  return parseServeConfig(JSON.stringify(json));
}

/** The parts of `tailscale status --json` these decisions read. */
function status(funnelPorts: number[] | undefined): TailscaleStatus {
  return {
    dnsName: HOST,
    funnelAllowed: funnelPorts !== undefined,
    funnelPortsKnown: funnelPorts !== undefined,
    funnelPorts: (funnelPorts ?? []).map((p) => ({ first: p, last: p })),
    httpsCapable: true,
    magicDnsEnabled: true,
  } as unknown as TailscaleStatus;
}

Deno.test("which routes are ecto's, and in which mode", async (t) => {
  const c = config([
    { port: 443, proxy: EDGE, funnel: true },
    { port: 8443, proxy: EDGE },
    { port: 10000, proxy: FOREIGN, funnel: true },
    { port: 3001, proxy: EDGE, mount: "/api" },
    { port: 4443, proxy: EDGE, host: "other.tail1234.ts.net" },
  ]);
  await t.step("`/` to the edge with AllowFunnel is public; without it, private", () => {
    const byMode = ectoRoutesByMode(c, HOST, EDGE);
    assert.deepEqual(byMode.public.map((r) => r.port), [443]);
    assert.deepEqual(byMode.private.map((r) => r.port), [8443]);
    assert.equal(routeMode(byMode.public[0]), "public");
    assert.equal(routeMode(byMode.private[0]), "private");
  });
  await t.step("someone else's target, another mount or another host is never ecto's", () => {
    const all = [
      ...ectoRoutesByMode(c, HOST, EDGE).public,
      ...ectoRoutesByMode(c, HOST, EDGE).private,
    ];
    assert.ok(all.every((r) => r.host === HOST && r.target === EDGE));
    assert.ok(!all.some((r) => r.port === 10000 || r.port === 3001 || r.port === 4443));
  });
});

Deno.test("`chooseServePort()` picks 443, never a foreign handler's port, and ignores the Funnel policy", async (t) => {
  await t.step("an empty node: 443", () => {
    assert.deepEqual(chooseServePort(config([]), HOST, EDGE), { port: 443, existing: false });
  });
  await t.step("443 carries a foreign (tailnet-only) route: 8443", () => {
    const c = config([{ port: 443, proxy: FOREIGN }]);
    assert.deepEqual(chooseServePort(c, HOST, EDGE), { port: 8443, existing: false });
  });
  await t.step("a foreground session on 443 counts as taken", () => {
    assert.equal(chooseServePort(config([], [443]), HOST, EDGE).port, 8443);
  });
  await t.step("a foreign mount beside ecto's on 443 makes 443 foreign", () => {
    const c = config([{ port: 443, proxy: FOREIGN, mount: "/x" }]);
    assert.equal(chooseServePort(c, HOST, EDGE).port, 8443);
  });
  await t.step("ecto's route (either mode) keeps its port: the URL does not change", () => {
    const c = config([{ port: 443, proxy: FOREIGN }, { port: 10000, proxy: EDGE, funnel: true }]);
    assert.deepEqual(chooseServePort(c, HOST, EDGE), { port: 10000, existing: true });
  });
  await t.step("all three taken: serve_ports_busy, naming them", () => {
    const c = config([443, 8443, 10000].map((port) => ({ port, proxy: FOREIGN })));
    assert.throws(
      () => chooseServePort(c, HOST, EDGE),
      (e) =>
        e instanceof ActionRequiredError && e.code === "serve_ports_busy" &&
        /443, 8443, 10000/.test(e.message),
    );
  });
  await t.step("a preferred port with a foreign handler: serve_port_busy", () => {
    const c = config([{ port: 8443, proxy: FOREIGN }]);
    assert.throws(
      () => chooseServePort(c, HOST, EDGE, 8443),
      (e) => e instanceof ActionRequiredError && e.code === "serve_port_busy",
    );
    assert.deepEqual(chooseServePort(c, HOST, EDGE, 10000), { port: 10000, existing: false });
  });
  await t.step("no Funnel permission and no funnel-ports at all: still 443", () => {
    const plan = planPublish(config([]), status(undefined), EDGE, { mode: "private" });
    assert.equal(plan.port, 443);
    const noPorts = planPublish(config([]), status([]), EDGE, { mode: "private" });
    assert.equal(noPorts.port, 443);
  });
});

Deno.test("`planPublish()`: the switch plan writes one port and removes ecto's other routes only", async (t) => {
  const all = status([443, 8443, 10000]);
  await t.step(
    "public on 443 → private: the same port, switched in place, nothing to remove",
    () => {
      const c = config([{ port: 443, proxy: EDGE, funnel: true }, { port: 8443, proxy: FOREIGN }]);
      assert.deepEqual(planPublish(c, all, EDGE, { mode: "private" }), {
        mode: "private",
        port: 443,
        inPlace: false,
        switches: true,
        remove: [],
      });
    },
  );
  await t.step("private on 443 → public: the same port, switched in place", () => {
    const c = config([{ port: 443, proxy: EDGE }]);
    const plan = planPublish(c, all, EDGE, { mode: "public" });
    assert.equal(plan.port, 443);
    assert.equal(plan.switches, true);
    assert.deepEqual(plan.remove, []);
  });
  await t.step("already private: in place, nothing to do", () => {
    const c = config([{ port: 8443, proxy: EDGE }]);
    const plan = planPublish(c, all, EDGE, { mode: "private" });
    assert.deepEqual([plan.port, plan.inPlace, plan.switches], [8443, true, false]);
  });
  await t.step(
    "private on 10000, Funnel allowed on 443 and 8443 only: public moves to 443 and the 10000 route goes",
    () => {
      const c = config([{ port: 10000, proxy: EDGE }]);
      const plan = planPublish(c, status([443, 8443]), EDGE, { mode: "public" });
      assert.equal(plan.port, 443);
      assert.equal(plan.switches, false);
      assert.deepEqual(plan.remove.map((r) => [r.port, routeMode(r)]), [[10000, "private"]]);
      assert.equal(choosePort(c, status([443, 8443]), EDGE).port, 443);
    },
  );
  await t.step("an explicit other port: the old route is removed after the write", () => {
    const c = config([{ port: 443, proxy: EDGE, funnel: true }]);
    const plan = planPublish(c, all, EDGE, { mode: "private", preferred: 8443 });
    assert.equal(plan.port, 8443);
    assert.deepEqual(plan.remove.map((r) => [r.port, routeMode(r)]), [[443, "public"]]);
  });
  await t.step("a foreign route is never in the plan", () => {
    const c = config([
      { port: 443, proxy: FOREIGN, funnel: true },
      { port: 8443, proxy: EDGE, funnel: true },
    ]);
    const plan = planPublish(c, all, EDGE, { mode: "private" });
    assert.equal(plan.port, 8443);
    assert.deepEqual(plan.remove, []);
  });
});

Deno.test("`serveArgs()` is `serve --bg --yes --https=PORT TARGET`: flags first, never funnel", () => {
  assert.deepEqual(serveArgs(443, EDGE), ["serve", "--bg", "--yes", "--https=443", EDGE]);
});

/** An https client that answers like ecto's edge on the addresses in `answering`. */
function edgeAt(answering: Set<string>, seen: string[]) {
  return (req: HttpsGetRequest) => {
    seen.push(`${req.address}:${req.port}`);
    if (!answering.has(`${req.address}:${req.port}`)) {
      return Promise.reject(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
    }
    const authorised = req.headers?.Authorization === "Bearer ecto_key";
    return Promise.resolve(
      authorised
        ? {
          status: 200,
          headers: new Headers(),
          body: '{"object":"list","data":[{"id":"openclaw/default"}]}',
        }
        : { status: 401, headers: new Headers(), body: '{"error":{"code":"invalid_api_key"}}' },
    );
  };
}

/** The tailnet-only proof of this node's address `100.64.0.1`, with what a step changes. */
function proveTailnet(
  options: Partial<Parameters<typeof provePublicUrl>[0]>,
): ReturnType<typeof provePublicUrl> {
  return provePublicUrl({
    dnsName: HOST,
    port: 443,
    clientKey: "ecto_key",
    tailnetAddresses: ["100.64.0.1"],
    tailnetOnly: true,
    env: () => undefined,
    ...options,
  });
}

Deno.test("the tailnet-only proof asks no public DNS and never claims the public path", async (t) => {
  await t.step("proven over the node's tailnet address, said as tailnet only", async () => {
    const seen: string[] = [];
    let dnsAsked = 0;
    const result = await proveTailnet({
      deps: {
        httpsGet: edgeAt(new Set(["100.64.0.1:443"]), seen),
        resolveDns: () => (dnsAsked++, Promise.resolve([])),
      },
    });
    assert.equal(result.path, "tailnet");
    assert.equal(result.checkedVia, "tailnet");
    assert.equal(dnsAsked, 0);
    assert.deepEqual(seen, ["100.64.0.1:443", "100.64.0.1:443"]);
    assert.match(result.detail, /^Proven over the tailnet \(via 100\.64\.0\.1:443\)/);
    assert.match(result.detail, /works only on devices in your tailnet/);
    assert.doesNotMatch(result.detail, /internet|public/i);
  });
  await t.step("through ECTO_CONNECT_TO for the tailnet address, as curl would", async () => {
    const seen: string[] = [];
    const result = await proveTailnet({
      port: 8443,
      env: (n) => n === "ECTO_CONNECT_TO" ? "100.64.0.1:8443:127.0.0.1:9999" : undefined,
      deps: { httpsGet: edgeAt(new Set(["127.0.0.1:9999"]), seen) },
    });
    assert.equal(result.path, "tailnet");
    assert.equal(result.target, "127.0.0.1:9999");
  });
  await t.step("not answering yet: retried within the bound, by the injected clock", async () => {
    let now = 0;
    const answering = new Set<string>();
    const seen: string[] = [];
    const result = await proveTailnet({
      waitMs: 10_000,
      retryIntervalMs: 1_000,
      deps: {
        httpsGet: edgeAt(answering, seen),
        now: () => now,
        sleep: (ms) => {
          now += ms;
          if (now >= 3_000) answering.add("100.64.0.1:443");
          return Promise.resolve();
        },
      },
    });
    assert.equal(result.path, "tailnet");
    assert.equal(result.attempts, 4);
  });
  await t.step("nothing answers within the bound: none, and it says tailnet", async () => {
    let now = 0;
    const result = await proveTailnet({
      waitMs: 2_000,
      retryIntervalMs: 1_000,
      deps: {
        httpsGet: edgeAt(new Set(), []),
        now: () => now,
        sleep: (ms) => (now += ms, Promise.resolve()),
      },
    });
    assert.equal(result.path, "none");
    assert.match(result.detail, /^Not proven over the tailnet: /);
    assert.doesNotMatch(result.detail, /public/i);
  });
});

const $ = createShell();

function cliFor(ts: TailscaleDouble): TailscaleCli {
  return tailscaleCli({
    $,
    path: ts.cliPath,
    env: ts.env(),
    platform: { os: "linux", variant: "linux", user: "alice" },
  });
}

Deno.test("`enableServe()` and the switch against the double: one ecto route, other routes untouched", async (t) => {
  await using ts = await TailscaleDouble.start({ funnelAttr: false, funnelPorts: [] });
  const cli = cliFor(ts);
  const other = {
    TCP: { "443": { HTTPS: true }, "5432": { TCPForward: "127.0.0.1:5432" } },
    Web: { [`${HOST}:443`]: { Handlers: { "/": { Proxy: FOREIGN } } } },
  };
  await ts.setServeConfig(other);

  await t.step(
    "no Funnel permission: Serve on 8443 (443 is someone else's), no AllowFunnel",
    async () => {
      const route = await enableServe(cli, { target: EDGE });
      assert.equal(route.port, 8443);
      assert.equal(route.funnel, false);
      assert.equal(route.changed, true);
      assert.deepEqual(await ts.serveConfig(), {
        TCP: { ...other.TCP, "8443": { HTTPS: true } },
        Web: { ...other.Web, [`${HOST}:8443`]: { Handlers: { "/": { Proxy: EDGE } } } },
      });
    },
  );
  await t.step("again: nothing runs", async () => {
    const route = await enableServe(cli, { target: EDGE });
    assert.deepEqual([route.port, route.changed], [8443, false]);
  });
  await t.step(
    "to public and back on the same port: only AllowFunnel for 8443 changes",
    async () => {
      await ts.enableFunnel();
      await ts.update({ funnelPorts: [443, 8443, 10000] });
      const pub = await enableFunnel(cli, { target: EDGE });
      assert.deepEqual([pub.port, pub.funnel], [8443, true]);
      assert.deepEqual((await ts.serveConfig()).AllowFunnel, { [`${HOST}:8443`]: true });
      const priv = await enableServe(cli, { target: EDGE });
      assert.deepEqual([priv.port, priv.switched, priv.funnel], [8443, true, false]);
      assert.equal((await ts.serveConfig()).AllowFunnel, undefined);
    },
  );
  await t.step("moved to 10000: the leftover on 8443 is removed, nobody else's route", async () => {
    const moved = await enableServe(cli, { target: EDGE, preferredPort: 10000 });
    assert.equal(moved.port, 10000);
    assert.deepEqual(moved.others.map((r) => r.port), [8443], "the leftover is reported");
    const left = await removeFunnel(cli, { target: EDGE, exceptPort: 10000 });
    assert.deepEqual(left.removed.map((r) => r.port), [8443]);
    assert.equal(left.othersUnchanged, true);
    assert.deepEqual(await ts.serveConfig(), {
      TCP: { ...other.TCP, "10000": { HTTPS: true } },
      Web: { ...other.Web, [`${HOST}:10000`]: { Handlers: { "/": { Proxy: EDGE } } } },
    });
  });
  await t.step("removing ecto's route leaves the config exactly as it was", async () => {
    await removeFunnel(cli, { target: EDGE });
    assert.deepEqual(await ts.serveConfig(), other);
  });
});

Deno.test("`enableServe()` with HTTPS certificates off relays the Serve enable link (exit 3), writes nothing", async () => {
  await using ts = await TailscaleDouble.start({ https: false, funnelAttr: false });
  await assert.rejects(
    enableServe(cliFor(ts), { target: EDGE }),
    (e) =>
      e instanceof ActionRequiredError && e.code === "https_not_enabled" &&
      /^https:\/\/login\.tailscale\.com\/f\/serve\?node=/.test(e.url ?? ""),
  );
  assert.deepEqual(await ts.serveConfig(), {});
});

/** A context whose `tailscale` is the double (no gateway, no edge: the Tailscale layer only). */
function layerContext(ts: TailscaleDouble, home: string): EctoContext {
  const vars: Record<string, string> = {
    ...ts.env(),
    HOME: home,
    USER: "alice",
    ECTO_TAILSCALE: ts.cliPath,
    ECTO_EDGE_LISTEN: "127.0.0.1:18795",
  };
  const env = (name: string) => vars[name];
  return {
    $,
    env,
    envAll: () => vars,
    fetch: () => Promise.reject(new Error("no network in this test")),
    now: () => Date.now(),
    sleep: () => Promise.resolve(),
    events: () => {},
    consent: () => Promise.resolve(false),
    paths: ectoPaths(env),
    selfCommand: ["/usr/bin/ecto"],
    os: "linux",
    interactive: false,
  };
}

Deno.test("the Tailscale layer: publish in either mode leaves one ecto route; status checks the mode's route", async (t) => {
  await using ts = await TailscaleDouble.start();
  const home = await Deno.makeTempDir({ prefix: "ecto-private-layer-" });
  const ctx = layerContext(ts, home);
  const layer = tailscaleLayer();
  const node = await layer.current(ctx);
  const other = {
    TCP: { "10000": { HTTPS: true } },
    Web: { [`${HOST}:10000`]: { Handlers: { "/": { Proxy: FOREIGN } } } },
  };
  await ts.setServeConfig(other);
  // Each status is its own command, with its own layer (a layer reads Tailscale once).
  const report = (mode: "public" | "private") =>
    tailscaleLayer().report(ctx, { mode, funnelTarget: EDGE, funnelPort: 443 });
  try {
    await t.step(
      "public on 8443, then private: moved to 443 (asked for), the 8443 route removed",
      async () => {
        await layer.publish(ctx, node, { target: EDGE, port: 8443 });
        assert.equal((await ts.serveConfig()).AllowFunnel?.[`${HOST}:8443`], true);
        const route = await layer.publish(ctx, node, { target: EDGE, port: 443, mode: "private" });
        assert.equal(route.port, 443);
        assert.match(
          route.detail,
          /Removed ecto's route https:\/\/build-box\.tail1234\.ts\.net:8443\/ \(public, Funnel\)/,
        );
        assert.deepEqual(await ts.serveConfig(), {
          TCP: { ...other.TCP, "443": { HTTPS: true } },
          Web: { ...other.Web, [`${HOST}:443`]: { Handlers: { "/": { Proxy: EDGE } } } },
        });
      },
    );
    await t.step("status in private mode: the `serve` line holds with Funnel off", async () => {
      const r = await report("private");
      assert.equal(r.funnel.name, "serve");
      assert.equal(r.funnel.ok, true);
      assert.match(r.funnel.summary, /tailnet only, Funnel off/);
      assert.equal(r.funnel.details.mode, "private");
      assert.equal(r.route?.url, `https://${HOST}`);
    });
    await t.step("the same route read in public mode is broken: Funnel is off", async () => {
      const r = await report("public");
      assert.equal(r.funnel.name, "funnel");
      assert.equal(r.funnel.ok, false);
      assert.equal(r.funnel.problem?.fix, "ecto connect");
    });
    await t.step(
      "private mode with Funnel turned on behind ecto's back: broken, fix --private",
      async () => {
        const run = await ts.run(["funnel", "--bg", "--yes", "--https=443", EDGE]);
        assert.equal(run.code, 0, run.stderr);
        const r = await report("private");
        assert.equal(r.funnel.ok, false);
        assert.match(r.funnel.summary, /Funnel ON: public, not private/);
        assert.equal(r.funnel.problem?.fix, "ecto connect --private");
      },
    );
    await t.step(
      "publish private again switches it back; unpublish restores the config",
      async () => {
        const route = await layer.publish(ctx, node, { target: EDGE, mode: "private" });
        assert.deepEqual([route.port, route.changed], [443, true]);
        assert.equal((await ts.serveConfig()).AllowFunnel, undefined);
        const again = await layer.publish(ctx, node, { target: EDGE, mode: "private" });
        assert.equal(again.changed, false);
        await layer.unpublish(ctx, { port: 443, target: EDGE });
        assert.deepEqual(await ts.serveConfig(), other);
      },
    );
    await t.step(
      "Serve prerequisites need no Funnel attribute; MagicDNS off is refused",
      async () => {
        await ts.update({ funnelAttr: false });
        const fresh = tailscaleLayer();
        const ok = await fresh.checkFunnelReady(ctx, node, { mode: "private" });
        assert.match(ok.detail, /Serve needs no Funnel permission/);
        await ts.update({ magicDns: false });
        await assert.rejects(
          tailscaleLayer().checkFunnelReady(ctx, node, { mode: "private" }),
          (e) => e instanceof ActionRequiredError && e.code === "magicdns_disabled",
        );
      },
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("Tailscale 1.102.1 breaks Funnel ingress only: private mode is not refused, and its tailnet path works", async (t) => {
  await using ts = await TailscaleDouble.start({ version: "1.102.1" });
  const home = await Deno.makeTempDir({ prefix: "ecto-private-broken-" });
  const ctx = layerContext(ts, home);
  try {
    await t.step("public: refused before anything changes (tailscale_known_broken)", async () => {
      await assert.rejects(
        tailscaleLayer().ensureInstalled(ctx),
        (e) => e instanceof Error && (e as { code?: string }).code === "tailscale_known_broken",
      );
    });
    await t.step("private: install, daemon and node checks pass", async () => {
      const layer = tailscaleLayer();
      const found = await layer.ensureInstalled(ctx, { mode: "private" });
      await layer.ensureRunning(ctx, found, { mode: "private" });
      const node = await layer.current(ctx, { mode: "private" });
      const route = await layer.publish(ctx, node, { target: EDGE, mode: "private" });
      assert.equal(route.port, 443);
      const r = await layer.report(ctx, { mode: "private", funnelTarget: EDGE });
      assert.equal(r.tailscale.ok, true, r.tailscale.summary);
      assert.equal(r.funnel.ok, true, r.funnel.summary);
      const pub = await layer.report(ctx, { mode: "public", funnelTarget: EDGE });
      assert.equal(pub.tailscale.ok, false, "public mode still names the breakage");
      // No edge runs here: the tailnet side reaches tailscaled's proxy (502), the relay nothing.
      const caPem = await Deno.readTextFile(ts.caFile);
      const via = (localPort: number) =>
        funnelRequest({ localPort, hostname: HOST, caPem, path: "/v1/models" });
      assert.equal((await via(ts.tailnetPorts[443])).status, 502);
      await ts.run(["funnel", "--bg", "--yes", "--https=443", EDGE]);
      await assert.rejects(via(ts.publicPorts[443]), ConnectionClosedError);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("`enableServe()` when control would make the CLI wait for HTTPS: the link at once, no process left blocking", async () => {
  await using ts = await TailscaleDouble.start({ https: false, funnelEnableWaits: true });
  const started = Date.now();
  await assert.rejects(
    enableServe(cliFor(ts), { target: EDGE, commandTimeoutMs: 120_000 }),
    (e) =>
      e instanceof ActionRequiredError && e.code === "https_not_enabled" && e.url !== undefined,
  );
  // Ended by the kill on the prompt, long before the 120 s backstop.
  assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
  assert.deepEqual(await ts.serveConfig(), {});
});

Deno.test("private publish on the command's reads: no extra `status` or serve-config run", async (t) => {
  await using ts = await TailscaleDouble.start();
  const home = await Deno.makeTempDir({ prefix: "ecto-private-runs-" });
  // A `tailscale` that logs its argv, then is the double.
  const log = `${home}/runs.log`;
  const wrapper = `${home}/tailscale`;
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh\necho "$*" >> '${log}'\nexec '${ts.cliPath}' "$@"\n`,
    { mode: 0o755 },
  );
  const runs = async () =>
    (await Deno.readTextFile(log).catch(() => "")).split("\n")
      .filter(Boolean);
  const ctx = layerContext(ts, home);
  const counted = { ...ctx, env: (n: string) => n === "ECTO_TAILSCALE" ? wrapper : ctx.env(n) };
  try {
    const layer = tailscaleLayer();
    const node = await layer.current(counted);
    await layer.probe(counted).serveConfig();
    const before = (await runs()).length;
    await t.step("a write: the fresh serve-config read, the write, the read-back", async () => {
      const route = await layer.publish(counted, node, { target: EDGE, mode: "private" });
      assert.equal(route.changed, true);
      assert.deepEqual((await runs()).slice(before), [
        "funnel status --json",
        "serve --bg --yes --https=443 http://127.0.0.1:18795",
        "funnel status --json",
      ]);
    });
    await t.step(
      "in place: only the serve config (the write made it stale), no status",
      async () => {
        const start = (await runs()).length;
        const again = await layer.publish(counted, node, { target: EDGE, mode: "private" });
        assert.equal(again.changed, false);
        assert.deepEqual((await runs()).slice(start), ["funnel status --json"]);
      },
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
