/**
 * connect, status and disconnect as orchestration: fake layers, a real state
 * dir. What each run asks of the layers, in which order, and what it returns.
 */
import assert from "node:assert/strict";
import { build$ } from "dax";
import { connect } from "../lib/commands/connect.ts";
import type { ConnectOptions } from "../lib/commands/connect_options.ts";
import type { EctoContext } from "../lib/core/context.ts";
import { disconnect } from "../lib/commands/disconnect.ts";
import { ActionRequiredError, EctoError } from "../lib/core/errors.ts";
import type { EctoEvent } from "../lib/core/events.ts";
import type { Layers, ProofOutcome } from "../lib/core/layer_types.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { status } from "../lib/commands/status.ts";
import { inspectGatewaySettings } from "../lib/openclaw/settings.ts";
import { KeyStore } from "../lib/edge/keys.ts";
import type { GatewayExposure } from "../lib/tailscale/exposures.ts";

const OLD_PASSWORD = "old-public-password-0123456789abcdef";

function inspected(tailscaleMode: string | undefined) {
  const config = {
    gateway: {
      mode: "local",
      auth: { mode: "password", password: OLD_PASSWORD },
      tailscale: { mode: tailscaleMode ?? "off" },
    },
  };
  return { config, env: () => undefined, settings: inspectGatewaySettings(config) };
}

/** The old skill's route: Funnel on 443 straight to the gateway. */
const OLD_ROUTE: GatewayExposure = {
  port: 443,
  kind: "web",
  hostPort: "node.example.ts.net:443",
  mount: "/",
  target: "http://127.0.0.1:18789",
  targetPort: 18789,
  funnel: true,
  https: true,
  foreground: false,
};

const OPTIONS: ConnectOptions = {
  regenerateToken: false,
  restart: false,
  keepBind: false,
  proofTimeoutMs: 1_000,
  loginTimeoutMs: 1_000,
};

function proof(path: ProofOutcome["path"]): ProofOutcome {
  const ok = path !== "none";
  return {
    path,
    url: "https://node.example.ts.net",
    publicDns: { source: "connect-to", addresses: ["127.0.0.1"] },
    checkedVia: ok ? path as "public" | "tailnet" : null,
    unauthenticated: { status: ok ? 401 : null, ok },
    authenticated: { status: ok ? 200 : null, ok, models: ok ? ["openclaw/default"] : [] },
    attempts: 1,
    durationMs: 5,
    detail: `proven over ${path}`,
  };
}

/** Fake layers that record calls; `state` decides what they answer. */
function fakeLayers(
  state: {
    loggedIn: boolean;
    proofPath: ProofOutcome["path"];
    route?: number;
    /** Handlers straight to the gateway (the old skill's route, OpenClaw's claim). */
    exposed?: GatewayExposure[];
    tailscaleMode?: string;
  },
) {
  const calls: string[] = [];
  let key = "ecto_first";
  const layers: Layers = {
    tailscale: {
      ensureInstalled: () => (calls.push("ts.install"),
        Promise.resolve({
          path: "/bin/tailscale",
          variant: "linux",
          version: "1.90.8",
          detail: "found",
        })),
      ensureRunning: () => (calls.push("ts.running"), Promise.resolve({ detail: "running" })),
      ensureLoggedIn: () => {
        calls.push("ts.login");
        if (!state.loggedIn) {
          return Promise.reject(
            new ActionRequiredError("tailscale_login_required", "Log in.", {
              url: "https://login/a/1",
            }),
          );
        }
        return Promise.resolve({
          dnsName: "node.example.ts.net",
          tailscaleIps: ["100.64.0.1"],
          funnelPorts: [443, 8443, 10000],
          detail: "logged in",
        });
      },
      checkFunnelReady: () => (calls.push("ts.funnel"), Promise.resolve({ detail: "ok" })),
      current: () => (calls.push("ts.current"),
        Promise.resolve({
          dnsName: "node.example.ts.net",
          tailscaleIps: [],
          funnelPorts: [443],
          detail: "",
        })),
      publish: (_c, _n, o) => {
        calls.push(`ts.publish ${o.target}`);
        const changed = state.route === undefined;
        state.route = o.port ?? 443;
        return Promise.resolve({ port: state.route, changed, detail: "published" });
      },
      unpublish: () => {
        calls.push("ts.unpublish");
        const changed = state.route !== undefined;
        state.route = undefined;
        return Promise.resolve({ changed, detail: changed ? "removed" : "no route" });
      },
      gatewayRoutes: () =>
        Promise.resolve({ read: true, routes: state.exposed ?? [], gatewayPorts: [18789] }),
      removeGatewayRoutes: (_c, o) => {
        calls.push(`ts.removeGatewayRoutes ${o.routes.map((r) => r.port).join(",")}`);
        state.exposed = (state.exposed ?? []).filter((e) => e.foreground);
        return Promise.resolve({ changed: true, detail: "removed" });
      },
      report: () =>
        Promise.resolve({
          tailscale: { name: "tailscale", ok: true, summary: "Running", details: {} },
          funnel: state.route === undefined
            ? {
              name: "funnel",
              ok: false,
              summary: "no route",
              details: {},
              problem: { message: "no route", fix: "ecto connect" },
            }
            : { name: "funnel", ok: true, summary: "ours", details: {} },
          node: {
            dnsName: "node.example.ts.net",
            tailscaleIps: [],
            funnelPorts: [443],
            detail: "",
          },
          ...(state.route === undefined
            ? {}
            : { route: { port: state.route, url: "https://node.example.ts.net" } }),
        }),
    },
    openclaw: {
      configure: (_c, o) => {
        calls.push(
          `oc.configure${o.rotateCredential ? " rotate" : ""}${
            o.tailscaleOff ? " tailscaleOff" : ""
          }`,
        );
        if (o.tailscaleOff) {
          state.tailscaleMode = "off";
          state.exposed = (state.exposed ?? []).filter((e) => !e.foreground);
        }
        return Promise.resolve({
          port: 18789,
          url: "http://127.0.0.1:18789",
          configPath: "/x/openclaw.json",
          model: "openclaw/default",
          restarted: false,
          detail: "configured",
          ...(o.rotateCredential ? { retired: OLD_PASSWORD } : {}),
        });
      },
      inspect: () =>
        Promise.resolve({
          location: {
            configPath: "/x/openclaw.json",
            stateDir: "/x",
            home: "/",
            source: "HOME" as const,
            legacy: false,
            profile: undefined,
          },
          exists: true,
          ...inspected(state.tailscaleMode),
        }),
      answersAsGateway: () => Promise.resolve(false),
      undo: () => (calls.push("oc.undo"), Promise.resolve({ changed: true, detail: "restored" })),
      report: () => Promise.resolve({ name: "gateway", ok: true, summary: "ready", details: {} }),
    },
    edge: {
      ensureRunning: () => (calls.push("edge.run"),
        Promise.resolve({
          listen: "127.0.0.1:18795",
          target: "http://127.0.0.1:18795",
          supervisor: "detached",
          detail: "edge up",
        })),
      remove:
        () => (calls.push("edge.remove"),
          Promise.resolve({ changed: true, detail: "edge removed" })),
      report: () => Promise.resolve({ name: "edge", ok: true, summary: "up", details: {} }),
    },
    keys: {
      ensureOwner: (_c, o) => {
        calls.push(`keys.owner${o.regenerate ? " regenerate" : ""}`);
        if (o.regenerate) key = "ecto_second";
        return Promise.resolve({ id: "k1", key, detail: "owner" });
      },
      purge: () => (calls.push("keys.purge"), Promise.resolve({ changed: true, detail: "purged" })),
    },
    proof: () => (calls.push("proof"), Promise.resolve(proof(state.proofPath))),
  };
  return { layers, calls };
}

async function context(): Promise<EctoContext & { events_: EctoEvent[]; home: string }> {
  const home = await Deno.makeTempDir({ prefix: "ecto-connect-test-" });
  const env = (name: string) => ({ HOME: home } as Record<string, string>)[name];
  const events_: EctoEvent[] = [];
  return {
    $: build$({}),
    env,
    envAll: () => ({ HOME: home }),
    fetch: () => Promise.reject(new Error("no network in this test")),
    now: () => Date.parse("2026-11-24T00:00:00Z"),
    sleep: () => Promise.resolve(),
    events: (e) => events_.push(e),
    consent: () => Promise.resolve(false),
    paths: ectoPaths(env),
    selfCommand: ["/usr/bin/ecto"],
    os: "linux",
    interactive: false,
    events_,
    home,
  };
}

Deno.test("`connect()` runs the layers in order and writes seed-format credentials", async () => {
  const ctx = await context();
  const { layers, calls } = fakeLayers({ loggedIn: true, proofPath: "public" });
  const result = await connect(ctx, OPTIONS, layers);
  assert.deepEqual(calls, [
    "ts.install",
    "ts.running",
    "ts.login",
    "ts.funnel",
    "keys.owner",
    "oc.configure",
    "edge.run",
    "ts.publish http://127.0.0.1:18795",
    "proof",
  ]);
  assert.equal(result.url, "https://node.example.ts.net");
  assert.equal(result.endpoint, "https://node.example.ts.net/v1/chat/completions");
  assert.equal(result.token, "ecto_first");
  const creds = JSON.parse(await Deno.readTextFile(ctx.paths.credentialsFile));
  assert.deepEqual(creds, {
    token: "ecto_first",
    url: "https://node.example.ts.net",
    port: 18789,
    created: "2026-11-24T00:00:00.000Z",
    endpoint: "https://node.example.ts.net/v1/chat/completions",
    model: "openclaw/default",
  });
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` starts and publishes the edge while the gateway is configured, unless it takes over", async (t) => {
  /** Wraps configure so the calls show what ran before it finished. */
  const slowConfigure = (layers: Layers, calls: string[]) => {
    const configure = layers.openclaw.configure;
    layers.openclaw.configure = async (c, o) => {
      const result = configure(c, o);
      await Promise.resolve(); // one turn: whatever runs meanwhile is recorded before it ends
      calls.push("oc.configured");
      return await result;
    };
  };
  await t.step("nothing to take over: the edge starts before the gateway is done", async () => {
    const ctx = await context();
    const { layers, calls } = fakeLayers({ loggedIn: true, proofPath: "public" });
    slowConfigure(layers, calls);
    await connect(ctx, OPTIONS, layers);
    const at = (name: string) => calls.findIndex((c) => c.startsWith(name));
    assert.ok(at("edge.run") < at("oc.configured"), calls.join(", "));
    assert.ok(at("ts.publish") < at("proof") && at("oc.configured") < at("proof"));
    await Deno.remove(ctx.home, { recursive: true });
  });
  await t.step("a take-over: the edge waits for the gateway's new settings", async () => {
    const ctx = { ...(await context()), consent: () => Promise.resolve(true) };
    const { layers, calls } = fakeLayers({
      loggedIn: true,
      proofPath: "public",
      exposed: [OLD_ROUTE],
    });
    slowConfigure(layers, calls);
    await connect(ctx, OPTIONS, layers);
    const at = (name: string) => calls.findIndex((c) => c.startsWith(name));
    assert.ok(at("oc.configured") < at("edge.run"), calls.join(", "));
    await Deno.remove(ctx.home, { recursive: true });
  });
});

Deno.test("`connect()` after a new key proves the new key, not the last run's", async () => {
  const ctx = await context();
  const { layers } = fakeLayers({ loggedIn: true, proofPath: "public" });
  const keys: string[] = [];
  const prove = layers.proof;
  layers.proof = (c, request) => (keys.push(request.key), prove(c, request));
  await connect(ctx, OPTIONS, layers);
  const result = await connect(ctx, { ...OPTIONS, regenerateToken: true }, layers);
  assert.equal(result.token, "ecto_second");
  assert.equal(keys.at(-1), "ecto_second", `proofs made with: ${keys.join(", ")}`);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` twice: the second run reports no change and the same summary", async () => {
  const ctx = await context();
  const { layers } = fakeLayers({ loggedIn: true, proofPath: "public" });
  const first = await connect(ctx, OPTIONS, layers);
  const second = await connect(ctx, OPTIONS, layers);
  assert.ok(first.changed.includes("funnel.route"));
  assert.deepEqual(second.changed, []);
  assert.equal(second.url, first.url);
  assert.equal(second.token, first.token);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` stops at a needed login before touching the gateway, the edge or Funnel", async () => {
  const ctx = await context();
  const { layers, calls } = fakeLayers({ loggedIn: false, proofPath: "public" });
  await assert.rejects(connect(ctx, OPTIONS, layers), ActionRequiredError);
  assert.deepEqual(calls, ["ts.install", "ts.running", "ts.login"]);
  await assert.rejects(Deno.stat(ctx.paths.credentialsFile));
  // The lock was released: the next run can go.
  const { layers: again } = fakeLayers({ loggedIn: true, proofPath: "public" });
  await connect(ctx, OPTIONS, again);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` says when only the tailnet path was proven, and fails when nothing was", async (t) => {
  await t.step("tailnet only", async () => {
    const ctx = await context();
    const { layers } = fakeLayers({ loggedIn: true, proofPath: "tailnet" });
    const result = await connect(ctx, OPTIONS, layers);
    assert.equal(result.proof.path, "tailnet");
    await Deno.remove(ctx.home, { recursive: true });
  });
  await t.step("nothing proven", async () => {
    const ctx = await context();
    const { layers } = fakeLayers({ loggedIn: true, proofPath: "none" });
    await assert.rejects(connect(ctx, OPTIONS, layers), /proven over none/);
    await Deno.remove(ctx.home, { recursive: true });
  });
});

Deno.test("`connect({ restart })` leaves Tailscale alone and restarts the edge", async () => {
  const ctx = await context();
  const { layers, calls } = fakeLayers({ loggedIn: true, proofPath: "public", route: 443 });
  await connect(ctx, { ...OPTIONS, restart: true }, layers);
  assert.ok(!calls.includes("ts.install") && !calls.includes("ts.login"));
  assert.equal(calls[0], "ts.current");
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`disconnect()` removes route then edge; `--purge` also restores and deletes", async (t) => {
  const ctx = await context();
  const state = { loggedIn: true, proofPath: "public" as const };
  const { layers, calls } = fakeLayers(state);
  await connect(ctx, OPTIONS, layers);
  calls.length = 0;
  await t.step("plain disconnect keeps keys and gateway settings", async () => {
    const result = await disconnect(ctx, { purge: false }, layers);
    assert.deepEqual(calls, ["ts.unpublish", "edge.remove"]);
    assert.deepEqual(result.actions, ["removed", "edge removed"]);
    assert.ok(await Deno.stat(ctx.paths.credentialsFile));
  });
  await t.step("purge restores the gateway and deletes keys and credentials", async () => {
    calls.length = 0;
    const result = await disconnect(ctx, { purge: true }, layers);
    assert.deepEqual(calls, ["ts.unpublish", "edge.remove", "keys.purge", "oc.undo"]);
    assert.ok(result.purged);
    await assert.rejects(Deno.stat(ctx.paths.credentialsFile));
  });
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`status()` puts the first broken layer and its fix on top", async () => {
  const ctx = await context();
  const { layers } = fakeLayers({ loggedIn: true, proofPath: "public" });
  const before = await status(ctx, { publicCheck: true }, layers);
  assert.equal(before.ok, false);
  assert.equal(before.firstProblem?.layer, "funnel");
  assert.equal(before.firstProblem?.fix, "ecto connect");
  await connect(ctx, OPTIONS, layers);
  const after = await status(ctx, { publicCheck: true }, layers);
  assert.equal(after.ok, true, JSON.stringify(after.firstProblem));
  const credentials = after.layers.find((l) => l.name === "credentials")!;
  const preview = /^key (\S+),/.exec(credentials.summary)![1]!;
  assert.ok([...preview].length <= 8, preview);
  assert.ok(!credentials.summary.includes("ecto_first"));
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` on a directly published gateway without consent exits 3 naming every change, changing nothing", async () => {
  const ctx = await context();
  const { layers, calls } = fakeLayers({
    loggedIn: true,
    proofPath: "public",
    exposed: [OLD_ROUTE],
    tailscaleMode: "funnel",
  });
  const error = await connect(ctx, OPTIONS, layers).then(
    () => assert.fail("connect went ahead without consent"),
    (e) => e,
  );
  assert.ok(error instanceof ActionRequiredError);
  assert.equal(error.exitCode, 3);
  assert.equal(error.code, "takeover_needs_consent");
  assert.match(
    error.message,
    /remove the route https:\/\/node\.example\.ts\.net → http:\/\/127\.0\.0\.1:18789/,
  );
  assert.match(error.message, /gateway\.tailscale\.mode funnel → off/);
  assert.match(error.message, /token auth with a fresh token/);
  assert.match(error.message, /port 443/);
  assert.match(error.fix ?? "", /^ecto connect --yes/);
  assert.ok(!error.message.includes(OLD_PASSWORD), "no secret in the message");
  assert.deepEqual(calls, ["ts.install", "ts.running", "ts.login", "ts.funnel"]);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` with consent takes over: routes off first, one gateway change, legacy key, old port, credentials last", async () => {
  const ctx = { ...(await context()), consent: () => Promise.resolve(true) };
  const state = {
    loggedIn: true,
    proofPath: "public" as const,
    exposed: [OLD_ROUTE],
    tailscaleMode: "off",
  };
  const { layers, calls } = fakeLayers(state);
  await Deno.mkdir(`${ctx.home}/.openclaw`, { recursive: true });
  await Deno.writeTextFile(
    ctx.paths.credentialsFile,
    JSON.stringify({ token: OLD_PASSWORD, url: "https://node.example.ts.net", port: 18789 }),
  );
  const result = await connect(ctx, OPTIONS, layers);
  assert.deepEqual(calls, [
    "ts.install",
    "ts.running",
    "ts.login",
    "ts.funnel",
    "keys.owner",
    "ts.removeGatewayRoutes 443",
    "oc.configure rotate",
    "edge.run",
    "ts.publish http://127.0.0.1:18795",
    "proof",
  ]);
  assert.equal(result.funnelPort, 443);
  assert.equal(result.url, "https://node.example.ts.net");
  assert.equal(result.takeover?.credentialRotated, true);
  assert.match(result.notes.join(" "), /keeps working through ecto's edge as the key "legacy"/);
  await using store = await KeyStore.open(ctx.paths.keysFile);
  const legacy = await store.verify(OLD_PASSWORD);
  assert.equal(legacy?.name, "legacy");
  assert.equal(legacy?.role, "owner");
  assert.equal(await store.owner(), undefined, "an imported key never counts as the owner key");
  const creds = JSON.parse(await Deno.readTextFile(ctx.paths.credentialsFile));
  assert.equal(creds.token, "ecto_first");

  // --regenerate-token retires the legacy key.
  const again = await connect(ctx, { ...OPTIONS, regenerateToken: true }, layers);
  assert.match(again.notes.join(" "), /retired/);
  assert.equal(await store.verify(OLD_PASSWORD), undefined);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("a failed proof leaves the previous credentials file byte-identical", async () => {
  const ctx = { ...(await context()), consent: () => Promise.resolve(true) };
  const { layers } = fakeLayers({ loggedIn: true, proofPath: "none", exposed: [OLD_ROUTE] });
  await Deno.mkdir(`${ctx.home}/.openclaw`, { recursive: true });
  const before =
    `{"token": "${OLD_PASSWORD}", "url": "https://node.example.ts.net", "port": 18789, "created": "2026-01-01T00:00:00Z"}`;
  await Deno.writeTextFile(ctx.paths.credentialsFile, before);
  await assert.rejects(connect(ctx, OPTIONS, layers), /proven over none/);
  assert.equal(await Deno.readTextFile(ctx.paths.credentialsFile), before);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`status()` reports a route straight to the gateway as the first broken layer, with the fix", async () => {
  const ctx = await context();
  const { layers } = fakeLayers({
    loggedIn: true,
    proofPath: "public",
    exposed: [OLD_ROUTE],
    tailscaleMode: "funnel",
  });
  const report = await status(ctx, { publicCheck: false }, layers);
  assert.equal(report.layers[0].name, "exposure");
  assert.equal(report.firstProblem?.layer, "exposure");
  assert.match(
    report.firstProblem?.message ?? "",
    /https:\/\/node\.example\.ts\.net → http:\/\/127\.0\.0\.1:18789/,
  );
  assert.match(report.firstProblem?.message ?? "", /gateway\.tailscale\.mode is funnel/);
  assert.match(report.firstProblem?.fix ?? "", /^ecto connect --yes/);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` refuses a credential the edge cannot be given before changing anything", async () => {
  const ctx = await context();
  const { layers, calls } = fakeLayers({ loggedIn: true, proofPath: "public" });
  const config = {
    gateway: { mode: "local", auth: { mode: "token", token: { source: "file", id: "/run/gw" } } },
  };
  layers.openclaw.inspect = () =>
    Promise.resolve({
      location: {
        configPath: "/x/openclaw.json",
        stateDir: "/x",
        home: "/",
        source: "HOME" as const,
        legacy: false,
        profile: undefined,
      },
      exists: true,
      config,
      env: () => undefined,
      settings: inspectGatewaySettings(config),
    });
  await assert.rejects(connect(ctx, OPTIONS, layers), /SecretRef/);
  assert.deepEqual(calls, ["ts.install", "ts.running", "ts.login", "ts.funnel"]);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect({ restart })` on a directly published gateway refuses with exit 3: only a full connect takes over", async () => {
  const ctx = { ...(await context()), consent: () => Promise.resolve(true) };
  const { layers, calls } = fakeLayers({
    loggedIn: true,
    proofPath: "public",
    route: 443,
    exposed: [OLD_ROUTE],
  });
  const error = await connect(ctx, { ...OPTIONS, restart: true }, layers).then(
    () => assert.fail("--restart took over"),
    (e) => e,
  );
  assert.equal(error.code, "takeover_needs_connect");
  assert.equal(error.exitCode, 3);
  assert.deepEqual(calls, ["ts.current"]);
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` with mode private threads the mode to every layer and records it", async () => {
  const ctx = await context();
  const { layers, calls } = fakeLayers({ loggedIn: true, proofPath: "tailnet" });
  const modes: string[] = [];
  const tailscale = layers.tailscale;
  layers.tailscale = {
    ...tailscale,
    checkFunnelReady: (
      c,
      n,
      o,
    ) => (modes.push(`ready ${o?.mode}`), tailscale.checkFunnelReady(c, n, o)),
    publish: (c, n, o) => (modes.push(`publish ${o.mode}`), tailscale.publish(c, n, o)),
  };
  const proofLayer = layers.proof;
  layers.proof = (c, r) => (modes.push(`proof ${r.mode}`), proofLayer(c, r));
  const result = await connect(ctx, { ...OPTIONS, mode: "private" }, layers);
  assert.deepEqual(modes, ["ready private", "publish private", "proof private"]);
  assert.ok(calls.includes("ts.publish http://127.0.0.1:18795"));
  assert.equal(result.mode, "private");
  assert.ok(result.changed.includes("serve.route"), result.changed.join());
  assert.ok(result.notes.some((n) => /works only on devices in your tailnet/.test(n)));
  const record = JSON.parse(await Deno.readTextFile(ctx.paths.connectionFile));
  assert.equal(record.mode, "private");
  const creds = JSON.parse(await Deno.readTextFile(ctx.paths.credentialsFile));
  assert.equal(creds.mode, "private");
  assert.match(creds.reach, /^tailnet only: /);
  // Back to public: the file is rewritten without the private fields.
  const pub = await connect(ctx, OPTIONS, layers);
  assert.equal(pub.mode, "public");
  assert.deepEqual(modes.slice(3), ["ready public", "publish public", "proof public"]);
  const after = JSON.parse(await Deno.readTextFile(ctx.paths.credentialsFile));
  assert.equal(after.mode, undefined);
  assert.equal(after.reach, undefined);
  assert.equal(JSON.parse(await Deno.readTextFile(ctx.paths.connectionFile)).mode, "public");
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect({ restart })` keeps the recorded private mode: a restart never makes the URL public", async () => {
  const ctx = await context();
  const { layers } = fakeLayers({ loggedIn: true, proofPath: "tailnet" });
  const published: (string | undefined)[] = [];
  const publish = layers.tailscale.publish;
  layers.tailscale.publish = (c, n, o) => (published.push(o.mode), publish(c, n, o));
  await connect(ctx, { ...OPTIONS, mode: "private" }, layers);
  const restarted = await connect(ctx, { ...OPTIONS, restart: true }, layers);
  assert.equal(restarted.mode, "private");
  assert.deepEqual(published, ["private", "private"]);
  const plain = await connect(ctx, OPTIONS, layers);
  assert.equal(plain.mode, "public", "a plain connect is the switch back to public");
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` reports each step once: start, then done or skip; a layer's own steps become progress under it", async () => {
  const ctx = await context();
  const { layers } = fakeLayers({ loggedIn: true, proofPath: "public" });
  const ensureRunning = layers.edge.ensureRunning;
  layers.edge.ensureRunning = (c, o) => {
    c.events({ kind: "step", step: "edge.unit", status: "done", detail: "unit written" });
    return ensureRunning(c, o);
  };
  const result = await connect(ctx, OPTIONS, layers);
  const steps = ctx.events_.flatMap((e) => e.kind === "step" ? [`${e.step} ${e.status}`] : []);
  assert.deepEqual(steps, [
    "tailscale.install start",
    "tailscale.install skip",
    "tailscale.daemon start",
    "tailscale.daemon skip",
    "tailscale.login start",
    "tailscale.login skip",
    "tailscale.funnel start",
    "tailscale.funnel skip",
    "takeover.inspect start",
    "takeover.inspect skip",
    "keys.owner start",
    "keys.owner skip",
    "openclaw.configure start",
    "edge.run start",
    "openclaw.configure skip",
    "edge.run skip",
    "funnel.route start",
    "funnel.route done",
    "proof start",
    "proof done",
    "credentials start",
    "credentials done",
  ]);
  assert.deepEqual(result.changed, ["funnel.route", "credentials"]);
  assert.ok(
    ctx.events_.some((e) =>
      e.kind === "progress" && e.step === "edge.run" && e.message === "unit written"
    ),
    "the layer's step is progress under edge.run",
  );
  await Deno.remove(ctx.home, { recursive: true });
});

Deno.test("`connect()` taking over moves to the first free port when the old URL's port is someone else's, and says so", async (t) => {
  /** Layers whose 443 carries a foreign handler: publishing there is refused. */
  const busy443 = () => {
    const fake = fakeLayers({ loggedIn: true, proofPath: "public", exposed: [OLD_ROUTE] });
    fake.layers.tailscale.publish = (_c, _n, o) => {
      fake.calls.push(`ts.publish ${o.port ?? "any"}`);
      if (o.port === 443) {
        return Promise.reject(
          new EctoError("funnel_port_busy", "Funnel port 443 carries another handler."),
        );
      }
      return Promise.resolve({ port: 8443, changed: true, detail: "published" });
    };
    return fake;
  };
  await t.step("without --funnel-port: the first free port, and a note", async () => {
    const ctx = { ...(await context()), consent: () => Promise.resolve(true) };
    const { layers, calls } = busy443();
    const result = await connect(ctx, OPTIONS, layers);
    assert.deepEqual(calls.filter((c) => c.startsWith("ts.publish")), [
      "ts.publish 443",
      "ts.publish any",
    ]);
    assert.equal(result.funnelPort, 8443);
    assert.equal(result.url, "https://node.example.ts.net:8443");
    assert.ok(
      result.notes.includes(
        "The old URL's port 443 could not be reused; the URL is now on port 8443.",
      ),
      result.notes.join(" | "),
    );
    await Deno.remove(ctx.home, { recursive: true });
  });
  await t.step("with --funnel-port 443: the refusal stands", async () => {
    const ctx = { ...(await context()), consent: () => Promise.resolve(true) };
    const { layers, calls } = busy443();
    await assert.rejects(
      connect(ctx, { ...OPTIONS, funnelPort: 443 }, layers),
      (e: unknown) => e instanceof EctoError && e.code === "funnel_port_busy",
    );
    assert.deepEqual(calls.filter((c) => c.startsWith("ts.publish")), ["ts.publish 443"]);
    await Deno.remove(ctx.home, { recursive: true });
  });
});
