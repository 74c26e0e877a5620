import assert from "node:assert/strict";
import { EdgeConfigError, EdgeListenError } from "../lib/edge/errors.ts";
import { isStaleConnectionError } from "../lib/edge/upstream.ts";
import {
  forwardRequestHeaders,
  forwardResponseHeaders,
  matchRoute,
  rawTarget,
} from "../lib/edge/routes.ts";
import { loadEdgeConfig, saveEdgeConfig, validateEdgeConfig } from "../lib/edge/run.ts";
import { isLoopbackHostname, parseListen } from "../lib/edge/serve.ts";

Deno.test("`rawTarget()` recovers the origin-form target Deno.serve saw", () => {
  assert.equal(rawTarget("http://box.ts.net/v1/models", "box.ts.net"), "/v1/models");
  assert.equal(rawTarget("http://box.ts.net:8443/v1/../x", "box.ts.net:8443"), "/v1/../x");
  assert.equal(rawTarget("http://[::1]:18795/v1/models", "[::1]:18795"), "/v1/models");
  // absolute-form: the URL is the client's, not http://<Host>/...
  assert.equal(rawTarget("http://evil.example/v1/models", "box.ts.net"), undefined);
  assert.equal(rawTarget("http://127.0.0.1:18789/tools/invoke", "box.ts.net"), undefined);
  // a Host with a path or query in it would shift the target
  assert.equal(rawTarget("http://evil/x?/v1/models", "evil/x?"), undefined);
  assert.equal(rawTarget("http://a b/v1/models", "a b"), undefined);
  assert.equal(rawTarget("http://localhost:1/v1/models", null), undefined);
  assert.equal(rawTarget("https://box.ts.net/v1/models", "box.ts.net"), undefined);
  assert.equal(rawTarget("http://box.ts.net", "box.ts.net"), undefined);
});

Deno.test("`matchRoute()` accepts exact literal paths only", async (t) => {
  await t.step("published routes", () => {
    assert.equal(matchRoute("POST", "/v1/chat/completions", false)?.kind, "chat");
    assert.equal(matchRoute("GET", "/v1/models", false)?.kind, "models");
    assert.equal(matchRoute("GET", "/v1/models?x=1", false)?.upstreamPath, "/v1/models");
    assert.equal(matchRoute("POST", "/v1/responses", true)?.kind, "responses");
    assert.equal(matchRoute("POST", "/v1/responses", false), undefined);
    assert.equal(matchRoute("GET", "/.well-known/ecto/health", false)?.kind, "health");
  });
  await t.step("model ids are decoded once, checked and re-encoded", () => {
    const cases: Array<[string, string | undefined]> = [
      ["/v1/models/openclaw", "/v1/models/openclaw"],
      ["/v1/models/openclaw%2Fdefault", "/v1/models/openclaw%2Fdefault"],
      ["/v1/models/openclaw/main", "/v1/models/openclaw%2Fmain"],
      ["/v1/models/openclaw:main", "/v1/models/openclaw%3Amain"],
      ["/v1/models/agent%3Amain", "/v1/models/agent%3Amain"],
      ["/v1/models/..", undefined],
      ["/v1/models/%2e%2e", undefined],
      ["/v1/models/openclaw/..", undefined],
      ["/v1/models/openclaw//x", undefined],
      ["/v1/models/%2F", undefined],
      ["/v1/models/%252e%252e", undefined],
      ["/v1/models/%zz", undefined],
      ["/v1/models/a%00b", undefined],
      ["/v1/models/a b", undefined],
      ["/v1/models/" + "a".repeat(201), undefined],
    ];
    for (const [target, upstream] of cases) {
      assert.equal(matchRoute("GET", target, false)?.upstreamPath, upstream, target);
    }
  });
  await t.step("everything else", () => {
    for (
      const [method, target] of [
        ["GET", "/"],
        ["POST", "/tools/invoke"],
        ["GET", "/v1/../tools/invoke"],
        ["GET", "//v1/models"],
        ["GET", "/v1%2fmodels"],
        ["GET", "/v1/models/"],
        ["GET", "/v1/models#x"],
        ["HEAD", "/v1/models"],
        ["GET", "/v1/chat/completions"],
        ["POST", "/v1/chat/completions/"],
        ["POST", "/v1/embeddings"],
        ["GET", "/.well-known/ecto/health/"],
      ]
    ) assert.equal(matchRoute(method, target, true), undefined, `${method} ${target}`);
  });
});

Deno.test("`forwardRequestHeaders()` and `forwardResponseHeaders()` filter and count", () => {
  const source = new Headers({
    "content-type": "application/json",
    "connection": "close, X-Custom-Hop",
    "x-custom-hop": "1",
    "x-openclaw-session-key": "agent:main:main",
    "X-OpenClaw-Agent-Id": "main",
    "tailscale-user-login": "a@b",
    "x-forwarded-for": "1.2.3.4",
    "authorization": "Bearer ecto_x",
    "user-agent": "curl/8",
  });
  const { headers, count, bytes } = forwardRequestHeaders(source);
  assert.deepEqual(headers.map(([name]) => name).sort(), ["content-type", "user-agent"]);
  assert.equal(count, 9);
  assert.ok(bytes > 100);
  const response = forwardResponseHeaders(
    Object.entries({
      "content-type": "text/event-stream",
      "keep-alive": "timeout=5",
      "connection": "keep-alive",
      "transfer-encoding": "chunked",
      "set-cookie": "a=b",
      "x-request-id": "r1",
    }),
  );
  assert.deepEqual(response.map(([name]) => name).sort(), ["content-type", "x-request-id"]);
});

Deno.test("`isStaleConnectionError()` recognises a pooled connection the server closed", () => {
  assert.ok(isStaleConnectionError(new TypeError("connection closed before message completed")));
  assert.ok(
    isStaleConnectionError(new TypeError("x", { cause: new Error("Connection reset by peer") })),
  );
  assert.ok(
    !isStaleConnectionError(new TypeError("tcp connect error: Connection refused (os error 111)")),
  );
  assert.ok(!isStaleConnectionError("nope"));
});

Deno.test("`parseListen()` accepts loopback only", async (t) => {
  await t.step("loopback forms", () => {
    assert.deepEqual(parseListen("127.0.0.1:18795"), { hostname: "127.0.0.1", port: 18795 });
    assert.deepEqual(parseListen("localhost:1"), { hostname: "127.0.0.1", port: 1 });
    assert.deepEqual(parseListen("[::1]:18795"), { hostname: "::1", port: 18795 });
    assert.deepEqual(parseListen("127.0.0.2:0"), { hostname: "127.0.0.2", port: 0 });
    assert.deepEqual(parseListen("18795"), { hostname: "127.0.0.1", port: 18795 });
  });
  await t.step("refused with EdgeListenError", () => {
    for (
      const bad of [
        "0.0.0.0:18795",
        "[::]:18795",
        ":18795",
        "192.168.1.2:18795",
        "100.64.0.1:18795",
        "box.ts.net:443",
        "127.0.0.1",
        "127.0.0.1:99999",
        "127.0.0.1:x",
        "::1:18795",
        "128.0.0.1:1",
        "127.0.0.256:1",
      ]
    ) assert.throws(() => parseListen(bad), EdgeListenError, bad);
  });
  assert.ok(isLoopbackHostname("127.255.255.254"));
  assert.ok(!isLoopbackHostname("127.0.0.1.evil.com"));
});

Deno.test("`saveEdgeConfig()` / `loadEdgeConfig()` round-trip and validate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-edgecfg-" });
  try {
    const path = `${dir}/state/edge.json`;
    const config = {
      listen: "127.0.0.1:18795",
      upstream: "http://127.0.0.1:18789",
      openclawConfigPath: "/home/u/.openclaw/openclaw.json",
      stateDir: "/home/u/.ecto",
      enableResponses: true,
      upstreamTimeoutMs: 900_000,
      headerTimeoutMs: 5_000,
      idleTimeoutMs: 0,
    };
    await saveEdgeConfig(path, config);
    assert.deepEqual(await loadEdgeConfig(path), config);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await assert.rejects(loadEdgeConfig(`${dir}/missing.json`), EdgeConfigError);
    await Deno.writeTextFile(`${dir}/bad.json`, "{");
    await assert.rejects(loadEdgeConfig(`${dir}/bad.json`), EdgeConfigError);
    assert.throws(() => validateEdgeConfig({ ...config, listen: "0.0.0.0:1" }), EdgeListenError);
    assert.throws(() => validateEdgeConfig({ ...config, upstream: "ftp://x" }), EdgeConfigError);
    assert.throws(() => validateEdgeConfig({ ...config, stateDir: "" }), EdgeConfigError);
    assert.throws(() => validateEdgeConfig({ ...config, upstreamTimeoutMs: -1 }), EdgeConfigError);
    assert.throws(() => validateEdgeConfig({ ...config, headerTimeoutMs: -1 }), EdgeConfigError);
    assert.throws(() => validateEdgeConfig({ ...config, idleTimeoutMs: "60" }), EdgeConfigError);
    await assert.rejects(saveEdgeConfig(path, { ...config, listen: "0.0.0.0:1" }), EdgeListenError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`validateEdgeConfig()` refuses a plain-http upstream off this machine", () => {
  const base = {
    listen: "127.0.0.1:18795",
    openclawConfigPath: "/x/openclaw.json",
    stateDir: "/x/.ecto",
  };
  for (
    const upstream of ["http://127.0.0.1:18789", "http://localhost:18789", "http://[::1]:18789"]
  ) {
    assert.equal(validateEdgeConfig({ ...base, upstream }).upstream, upstream);
  }
  assert.throws(
    () => validateEdgeConfig({ ...base, upstream: "http://192.168.1.5:18789" }),
    EdgeConfigError,
  );
  assert.equal(
    validateEdgeConfig({ ...base, upstream: "https://gw.example:443" }).upstream,
    "https://gw.example:443",
  );
});
