import assert from "node:assert/strict";
import { EctoError } from "../lib/core/errors.ts";
import type { EctoEvent } from "../lib/core/events.ts";
import {
  baseUrl,
  describeFailure,
  type HttpsGet,
  httpsGet,
  isEdgeUnauthorized,
  matchConnectTo,
  parseConnectTo,
  parseModelList,
  parseNameServers,
  type ProveOptions,
  provePublicUrl,
  type PublicResolver,
} from "../lib/proof/mod.ts";
import { startDnsStub } from "./e2e/dns_stub.ts";

// Test certificates (valid until 2126; the CA's key was deleted after signing):
// a CA, a server certificate for edge.tail1234.ts.net, and one for other.example.com.
// Made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 ...` and
// `openssl x509 -req ... -extfile` (subjectAltName=DNS:<name>, extendedKeyUsage=serverAuth).
const TLS = `${import.meta.dirname}/fixtures/tls`;
const CA_FILE = `${TLS}/ca.pem`;
const CA = Deno.readTextFileSync(CA_FILE);
const NAME = "edge.tail1234.ts.net";
const KEY = "ecto_test_client_key_0123456789abcdefghij";
const MODELS = { object: "list", data: [{ id: "openclaw/default", object: "model" }] };

type Behaviour = "edge" | "foreign-401" | "open" | "bad-key";

interface FakeEdge extends AsyncDisposable {
  port: number;
  /** Requests seen: method, path, Host header, whether an Authorization header came. */
  seen: { path: string; host: string | null; authorized: boolean }[];
  /** Answer 502 to this many requests first (an edge still starting). */
  failFirst: number;
}

/** A TLS server on 127.0.0.1:0 standing in for the public edge. */
function startEdge(behaviour: Behaviour = "edge", cert = "edge"): FakeEdge {
  const state = {
    seen: [] as FakeEdge["seen"],
    failFirst: 0,
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(`${TLS}/${cert}.pem`),
    key: Deno.readTextFileSync(`${TLS}/${cert}-key.pem`),
    onListen() {},
  }, (request) => {
    const auth = request.headers.get("authorization");
    state.seen.push({
      path: new URL(request.url).pathname,
      host: request.headers.get("host"),
      authorized: auth !== null,
    });
    if (state.failFirst > 0) {
      state.failFirst--;
      return new Response(null, { status: 502 });
    }
    if (behaviour === "foreign-401") return new Response("Unauthorized", { status: 401 });
    if (behaviour === "open") return Response.json(MODELS);
    if (auth !== `Bearer ${KEY}` || behaviour === "bad-key") {
      return Response.json(
        {
          error: {
            message: "Invalid API key.",
            type: "invalid_request_error",
            code: "invalid_api_key",
          },
        },
        { status: 401 },
      );
    }
    // Streamed, so the client's chunked decoding is exercised too.
    const body = new TextEncoder().encode(JSON.stringify(MODELS));
    return new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(body.subarray(0, 10));
          controller.enqueue(body.subarray(10));
          controller.close();
        },
      }),
      { headers: { "content-type": "application/json" } },
    );
  });
  return {
    port: server.addr.port,
    get seen() {
      return state.seen;
    },
    get failFirst() {
      return state.failFirst;
    },
    set failFirst(n: number) {
      state.failFirst = n;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A clock that only moves when the proof sleeps. */
function fakeTime() {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: (ms: number) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

/** The real connector, except that the DNS name itself never resolves (no real DNS in tests). */
const connector: HttpsGet = (request) =>
  request.address === NAME
    ? Promise.reject(new Deno.errors.NotFound(`failed to lookup address information: ${NAME}`))
    : httpsGet(request);

const neverCalled: PublicResolver = () => {
  throw new Error("public DNS must not be asked when ECTO_CONNECT_TO matches");
};

/** Test options: fake clock, the real connector, and an environment given as a record. */
function options(
  over: Omit<Partial<ProveOptions>, "env"> & { env?: Record<string, string> } = {},
): ProveOptions {
  const { env = {}, deps, ...rest } = over;
  const time = fakeTime();
  return {
    dnsName: NAME,
    port: 443,
    clientKey: KEY,
    waitMs: 9_000,
    retryIntervalMs: 3_000,
    requestTimeoutMs: 5_000,
    ...rest,
    env: (name) => env[name],
    deps: {
      now: time.now,
      sleep: time.sleep,
      httpsGet: connector,
      resolveDns: neverCalled,
      ...deps,
    },
  };
}

Deno.test("`baseUrl()` omits :443 and keeps any other port", () => {
  assert.equal(baseUrl("build-box.tail1234.ts.net", 443), "https://build-box.tail1234.ts.net");
  assert.equal(
    baseUrl("build-box.tail1234.ts.net.", 8443),
    "https://build-box.tail1234.ts.net:8443",
  );
  assert.equal(baseUrl("b.tail1.ts.net", 10000), "https://b.tail1.ts.net:10000");
});

Deno.test("`parseConnectTo()` reads curl --connect-to entries and rejects bad ones", async (t) => {
  await t.step("one entry", () => {
    assert.deepEqual(parseConnectTo(`${NAME}:443:127.0.0.1:8443`), [
      { host: NAME, port: 443, toHost: "127.0.0.1", toPort: 8443 },
    ]);
  });
  await t.step("several entries, IPv6 in brackets, case and trailing dot", () => {
    const rules = parseConnectTo(` A.example.:443:[::1]:9000 , b.example:8443:10.0.0.2:8443,`);
    assert.deepEqual(rules, [
      { host: "a.example", port: 443, toHost: "::1", toPort: 9000 },
      { host: "b.example", port: 8443, toHost: "10.0.0.2", toPort: 8443 },
    ]);
    assert.deepEqual(matchConnectTo(rules, "a.example", 443), { hostname: "::1", port: 9000 });
    assert.equal(matchConnectTo(rules, "a.example", 8443), undefined);
    assert.equal(matchConnectTo(rules, "c.example", 443), undefined);
  });
  await t.step("empty fields: any host/port, same port", () => {
    const rules = parseConnectTo("::127.0.0.1:");
    assert.deepEqual(rules, [{ host: "", toHost: "127.0.0.1" }]);
    assert.deepEqual(matchConnectTo(rules, NAME, 8443), { hostname: "127.0.0.1", port: 8443 });
  });
  for (
    const bad of [
      "edge:443:127.0.0.1",
      "edge:443",
      "edge:https:127.0.0.1:443",
      "edge:443:127.0.0.1:70000",
      "edge:443:[::1:443",
      "edge:443::",
      "edge:443:127.0.0.1:443:extra",
      "edge:443:user@host:443",
    ]
  ) {
    await t.step(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseConnectTo(bad), (error: unknown) => {
        assert.ok(error instanceof EctoError);
        assert.equal(error.code, "invalid_connect_to");
        assert.match(error.message, /ECTO_CONNECT_TO entry .* is not HOST:PORT:ADDR:PORT/);
        assert.match(error.fix ?? "", /ECTO_CONNECT_TO/);
        return true;
      });
    });
  }
});

Deno.test("`isEdgeUnauthorized()` and `parseModelList()` recognise the edge and an OpenAI list", () => {
  assert.equal(isEdgeUnauthorized(401, `{"error":{"code":"invalid_api_key","message":"x"}}`), true);
  assert.equal(isEdgeUnauthorized(401, `{"error":"unauthorized"}`), false);
  assert.equal(isEdgeUnauthorized(401, "Unauthorized"), false);
  assert.equal(isEdgeUnauthorized(403, `{"error":{"code":"invalid_api_key"}}`), false);
  assert.deepEqual(parseModelList(200, JSON.stringify(MODELS)), ["openclaw/default"]);
  assert.equal(parseModelList(200, `{"data":[]}`), undefined);
  assert.equal(parseModelList(200, "<html>"), undefined);
  assert.equal(parseModelList(500, JSON.stringify(MODELS)), undefined);
});

Deno.test("`httpsGet()` connects to the chosen address and verifies the certificate for the DNS name", async (t) => {
  await using edge = startEdge();
  const request = {
    address: "127.0.0.1",
    port: edge.port,
    serverName: NAME,
    hostHeader: NAME,
    path: "/v1/models",
    caCerts: [CA],
    timeoutMs: 5_000,
  };
  await t.step("right name: answers, Host header kept", async () => {
    const unauth = await httpsGet(request);
    assert.equal(unauth.status, 401);
    assert.equal(isEdgeUnauthorized(unauth.status, unauth.body), true);
    const auth = await httpsGet({ ...request, headers: { Authorization: `Bearer ${KEY}` } });
    assert.equal(auth.status, 200);
    assert.deepEqual(JSON.parse(auth.body), MODELS);
    assert.equal(auth.headers.get("transfer-encoding"), "chunked");
    assert.equal(edge.seen.at(-1)?.host, NAME);
  });
  await t.step("a certificate for another name is rejected before any request", async () => {
    await using other = startEdge("edge", "other");
    const error = await httpsGet({ ...request, port: other.port }).then(() => undefined, (e) => e);
    assert.equal((error as { code?: string }).code, "ERR_TLS_CERT_ALTNAME_INVALID", String(error));
    assert.match(
      describeFailure(error),
      /^TLS failed: .*edge\.tail1234\.ts\.net.* altnames: DNS:other\.example\.com/,
    );
    assert.equal(other.seen.length, 0, "no request reached the wrong server");
  });
  await t.step("the name sent as SNI is the DNS name, not the address", async () => {
    const error = await httpsGet({ ...request, serverName: "other.example.com" })
      .then(() => undefined, (e) => e);
    assert.equal((error as { code?: string }).code, "ERR_TLS_CERT_ALTNAME_INVALID", String(error));
  });
  await t.step("a certificate from an unknown CA is rejected", async () => {
    const error = await httpsGet({ ...request, caCerts: [] }).then(() => undefined, (e) => e);
    assert.equal((error as { code?: string }).code, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    assert.match(describeFailure(error), /^TLS failed: unable to verify/);
  });
  await t.step("connection refused", async () => {
    const error = await httpsGet({ ...request, port: closedPort() }).then(
      () => undefined,
      (e) => e,
    );
    assert.equal((error as { code?: string }).code, "ECONNREFUSED");
    assert.equal(describeFailure(error), "connection refused");
  });
  await t.step("a header with a line break is refused, not sent", async () => {
    await assert.rejects(
      httpsGet({ ...request, headers: { "X-A": "b\r\nInjected: 1" } }),
      TypeError,
    );
  });
  await t.step("a server that never answers times out", async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const error = await httpsGet({
      ...request,
      port: (listener.addr as Deno.NetAddr).port,
      timeoutMs: 200,
    }).then(() => undefined, (e) => e);
    (await accepted).close();
    assert.ok(error instanceof Deno.errors.TimedOut, String(error));
    assert.equal(describeFailure(error), "timed out");
  });
});

Deno.test("`provePublicUrl()` proves the public path through ECTO_CONNECT_TO against a real TLS edge", async () => {
  await using edge = startEdge();
  const events: EctoEvent[] = [];
  const result = await provePublicUrl(options({
    env: { ECTO_CONNECT_TO: `${NAME}:443:127.0.0.1:${edge.port}`, ECTO_CA_FILE: CA_FILE },
    events: (e) => events.push(e),
  }));
  assert.equal(result.path, "public", result.detail);
  assert.equal(result.url, `https://${NAME}`);
  assert.deepEqual(result.publicDns, { source: "connect-to", addresses: ["127.0.0.1"] });
  assert.equal(result.checkedVia, "public");
  assert.equal(result.target, `127.0.0.1:${edge.port}`);
  assert.deepEqual(result.unauthenticated, { status: 401, ok: true });
  assert.deepEqual(result.authenticated, { status: 200, ok: true, models: ["openclaw/default"] });
  assert.equal(result.attempts, 1);
  assert.equal(result.publicError, undefined);
  assert.match(result.detail, /^Proven from the internet via ECTO_CONNECT_TO target/);
  assert.deepEqual(edge.seen.map((s) => [s.path, s.host, s.authorized]), [
    ["/v1/models", NAME, false],
    ["/v1/models", NAME, true],
  ]);
  assert.deepEqual(events, []);
  assert.ok(!JSON.stringify(result).includes(KEY), "the key is not in the result");
});

Deno.test("`provePublicUrl()` does not count a 401 that is not the edge's, and keeps the key to itself", async () => {
  await using foreign = startEdge("foreign-401");
  const result = await provePublicUrl(options({
    env: { ECTO_CONNECT_TO: `${NAME}:443:127.0.0.1:${foreign.port}`, ECTO_CA_FILE: CA_FILE },
  }));
  assert.equal(result.path, "none");
  assert.equal(result.checkedVia, "public");
  assert.equal(result.unauthenticated.status, 401);
  assert.equal(result.unauthenticated.ok, false);
  assert.match(result.unauthenticated.error ?? "", /not with ecto's edge error/);
  assert.equal(result.authenticated.status, null);
  assert.match(result.authenticated.error ?? "", /not attempted/);
  assert.equal(result.attempts, 1, "a definite wrong answer is not retried");
  assert.ok(foreign.seen.every((s) => !s.authorized), "the client key was never sent");
  assert.match(result.detail, /Not proven on any path/);
});

Deno.test("`provePublicUrl()` reports an open URL and a rejected key as failures", async (t) => {
  for (
    const [behaviour, field, pattern] of [
      ["open", "unauthenticated", /open to anyone/],
      ["bad-key", "authenticated", /rejected the client key/],
    ] as const
  ) {
    await t.step(behaviour, async () => {
      await using edge = startEdge(behaviour);
      const result = await provePublicUrl(options({
        env: { ECTO_CONNECT_TO: `${NAME}:443:127.0.0.1:${edge.port}`, ECTO_CA_FILE: CA_FILE },
      }));
      assert.equal(result.path, "none");
      assert.equal(result[field].ok, false);
      assert.match(result[field].error ?? "", pattern);
    });
  }
});

Deno.test("`provePublicUrl()` waits for public DNS within the bound, then proves the public path", async () => {
  await using edge = startEdge();
  const asked: string[] = [];
  let round = 0;
  const resolveDns: PublicResolver = (name, type, server) => {
    asked.push(`${server.ipAddr} ${type} ${name}`);
    if (server.ipAddr === "1.1.1.1" && type === "A") round++;
    if (round < 3) {
      return Promise.reject(
        server.ipAddr === "9.9.9.9"
          ? new Deno.errors.TimedOut("timed out")
          : new Deno.errors.NotFound(`no records found for ${name}`),
      );
    }
    // Ready: 1.1.1.1 still has the negative answer cached, 8.8.8.8 has the record.
    if (server.ipAddr === "1.1.1.1") return Promise.reject(new Deno.errors.NotFound("no records"));
    return Promise.resolve(type === "A" ? ["127.0.0.1"] : []);
  };
  const events: EctoEvent[] = [];
  const time = fakeTime();
  const result = await provePublicUrl({
    ...options({ env: { ECTO_CA_FILE: CA_FILE } }),
    port: edge.port,
    events: (e) => events.push(e),
    deps: { resolveDns, httpsGet: connector, now: time.now, sleep: time.sleep },
  });
  assert.equal(result.path, "public", result.detail);
  assert.equal(result.url, `https://${NAME}:${edge.port}`);
  assert.deepEqual(result.publicDns, {
    source: "public-dns",
    nameServer: "8.8.8.8",
    addresses: ["127.0.0.1"],
  });
  assert.equal(result.attempts, 3);
  assert.equal(result.durationMs, 6_000);
  assert.deepEqual(time.sleeps, [3_000, 3_000]);
  assert.equal(edge.seen[0]?.host, `${NAME}:${edge.port}`);
  assert.ok(asked.includes(`1.1.1.1 AAAA ${NAME}`), "asks for AAAA too");
  const progress = events.filter((e) => e.kind === "progress");
  assert.equal(progress.length, 2);
  assert.deepEqual(progress.map((e) => e.kind === "progress" && [e.elapsedMs, e.limitMs]), [
    [0, 9_000],
    [3_000, 9_000],
  ]);
  assert.match(
    (progress[0] as { message: string }).message,
    /1\.1\.1\.1: no A\/AAAA record; 8\.8\.8\.8: no A\/AAAA record; 9\.9\.9\.9: timed out/,
  );
});

Deno.test("`provePublicUrl()` retries while the edge answers 502, within the bound", async () => {
  await using edge = startEdge();
  edge.failFirst = 2;
  const result = await provePublicUrl(options({
    env: { ECTO_CONNECT_TO: `${NAME}:443:127.0.0.1:${edge.port}`, ECTO_CA_FILE: CA_FILE },
  }));
  assert.equal(result.path, "public", result.detail);
  assert.equal(result.attempts, 3);
});

Deno.test("`provePublicUrl()` falls back to the tailnet path when public DNS never catches up", async () => {
  await using edge = startEdge();
  const events: EctoEvent[] = [];
  const time = fakeTime();
  const result = await provePublicUrl({
    ...options({ env: { ECTO_CA_FILE: CA_FILE } }),
    port: edge.port,
    tailnetAddresses: ["127.0.0.1"],
    waitMs: 10_000,
    events: (e) => events.push(e),
    deps: {
      resolveDns: () => Promise.reject(new Deno.errors.NotFound("no records found")),
      httpsGet: connector,
      now: time.now,
      sleep: time.sleep,
    },
  });
  assert.equal(result.path, "tailnet", result.detail);
  assert.equal(result.checkedVia, "tailnet");
  assert.equal(result.target, `127.0.0.1:${edge.port}`);
  assert.equal(result.attempts, 4);
  assert.equal(result.durationMs, 9_000);
  assert.deepEqual(result.publicDns.addresses, []);
  assert.match(
    result.publicError ?? "",
    new RegExp(`${NAME.replaceAll(".", "\\.")} not in public DNS`),
  );
  assert.deepEqual(result.authenticated.models, ["openclaw/default"]);
  assert.match(result.detail, /^Only the tailnet path was proven/);
  assert.match(result.detail, /public path is not proven/);
  assert.ok(events.some((e) => e.kind === "note" && e.level === "warn"));
  assert.equal(events.filter((e) => e.kind === "progress").length, 3);
});

Deno.test("`provePublicUrl()` rejects a public server whose certificate is for another name", async () => {
  await using impostor = startEdge("edge", "other");
  const result = await provePublicUrl(options({
    env: { ECTO_CONNECT_TO: `${NAME}:443:127.0.0.1:${impostor.port}`, ECTO_CA_FILE: CA_FILE },
  }));
  assert.equal(result.path, "none");
  assert.equal(result.checkedVia, null);
  assert.equal(result.attempts, 4, "a TLS failure is retried until the bound");
  assert.match(result.publicError ?? "", /TLS failed: .*altnames/);
  assert.match(
    result.detail,
    new RegExp(`Tailnet: 127\\.0\\.0\\.1:${impostor.port}: TLS failed`),
    "the tailnet name goes through ECTO_CONNECT_TO too",
  );
  assert.equal(impostor.seen.length, 0);
});

Deno.test("`provePublicUrl()` reports none when neither path answers", async () => {
  const port = closedPort();
  const result = await provePublicUrl(options({
    env: { ECTO_CONNECT_TO: `${NAME}:${port}:127.0.0.1:${port}` },
    tailnetAddresses: ["127.0.0.1"],
    port,
    waitMs: 0,
  }));
  assert.equal(result.path, "none");
  assert.equal(result.attempts, 1);
  assert.equal(result.checkedVia, null);
  assert.deepEqual(result.unauthenticated, { status: null, ok: false, error: "nothing answered" });
  assert.match(result.publicError ?? "", /connection refused/);
  assert.match(result.detail, new RegExp(`Tailnet: 127\\.0\\.0\\.1:${port}: connection refused`));
});

Deno.test("`provePublicUrl()` connects to an IPv6 ECTO_CONNECT_TO target", async () => {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      {
        hostname: "::1",
        port: 0,
        cert: Deno.readTextFileSync(`${TLS}/edge.pem`),
        key: Deno.readTextFileSync(`${TLS}/edge-key.pem`),
        onListen() {},
      },
      (request) =>
        request.headers.get("authorization") === `Bearer ${KEY}`
          ? Response.json(MODELS)
          : Response.json({ error: { code: "invalid_api_key" } }, { status: 401 }),
    );
  } catch {
    return; // no IPv6 loopback here
  }
  try {
    const result = await provePublicUrl(options({
      env: { ECTO_CONNECT_TO: `${NAME}:8443:[::1]:${server.addr.port}`, ECTO_CA_FILE: CA_FILE },
      port: 8443,
    }));
    assert.equal(result.path, "public", result.detail);
    assert.equal(result.target, `[::1]:${server.addr.port}`);
    assert.equal(result.url, `https://${NAME}:8443`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("`provePublicUrl()` stops on bad ECTO_CONNECT_TO or ECTO_CA_FILE with a clear error", async (t) => {
  await t.step("ECTO_CONNECT_TO", async () => {
    const error = await provePublicUrl(options({ env: { ECTO_CONNECT_TO: "nonsense" } }))
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof EctoError);
    assert.equal(error.code, "invalid_connect_to");
  });
  await t.step("ECTO_CA_FILE", async () => {
    const error = await provePublicUrl(options({ env: { ECTO_CA_FILE: `${TLS}/missing.pem` } }))
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof EctoError);
    assert.equal(error.code, "ca_file_unreadable");
    assert.match(error.fix ?? "", /ECTO_CA_FILE/);
  });
});

Deno.test("`parseNameServers()` reads ECTO_DNS_SERVER and rejects what is not an IP", () => {
  assert.deepEqual(parseNameServers("127.0.0.1:5353, [::1]:53,::1,10.0.0.1"), [
    { ipAddr: "127.0.0.1", port: 5353 },
    { ipAddr: "::1", port: 53 },
    { ipAddr: "::1", port: 53 },
    { ipAddr: "10.0.0.1", port: 53 },
  ]);
  for (const bad of ["dns.example:53", "127.0.0.1:99999", "[::1", "1.1.1.1:x"]) {
    assert.throws(() => parseNameServers(bad), (error: unknown) => {
      assert.ok(error instanceof EctoError, bad);
      assert.equal(error.code, "invalid_dns_server");
      assert.match(error.fix ?? "", /ECTO_DNS_SERVER/);
      return true;
    });
  }
});

Deno.test("`provePublicUrl()` asks ECTO_DNS_SERVER (a stub on loopback) instead of the public resolvers", async () => {
  await using edge = startEdge();
  await using dns = await startDnsStub({ [NAME]: ["127.0.0.1"] });
  const time = fakeTime();
  const result = await provePublicUrl({
    dnsName: NAME,
    port: edge.port,
    clientKey: KEY,
    waitMs: 0,
    env: (name) => ({ ECTO_DNS_SERVER: dns.server, ECTO_CA_FILE: CA_FILE })[name],
    // The real resolver (Deno.resolveDns) and the real connector.
    deps: { now: time.now, sleep: time.sleep },
  });
  assert.equal(result.path, "public", result.detail);
  assert.deepEqual(result.publicDns, {
    source: "public-dns",
    nameServer: "127.0.0.1",
    addresses: ["127.0.0.1"],
  });
  assert.deepEqual(dns.questions.toSorted(), [`A ${NAME}`, `AAAA ${NAME}`]);
  assert.match(result.detail, /via public DNS address 127\.0\.0\.1:/);
});

Deno.test("`provePublicUrl()` throws, not reports, when the permission set forbids an address", async (t) => {
  // What Deno throws before any socket exists (tests/permissions_test.ts shows it for real).
  const forbidden = () => Promise.reject(new Deno.errors.NotCapable("Requires net access"));
  await t.step("on the HTTPS check", async () => {
    const error = await provePublicUrl(options({ deps: { httpsGet: forbidden } }))
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof Deno.errors.NotCapable, String(error));
  });
  await t.step("on public DNS", async () => {
    const error = await provePublicUrl(options({ deps: { resolveDns: forbidden } }))
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof Deno.errors.NotCapable, String(error));
  });
});

Deno.test("`provePublicUrl()` sends the tailnet path through ECTO_CONNECT_TO too, as curl would", async () => {
  await using edge = startEdge();
  const dialled: string[] = [];
  const onlyLoopback: HttpsGet = (request) => {
    dialled.push(`${request.address}:${request.port}`);
    if (request.address !== "127.0.0.1") {
      return Promise.reject(new Error(`dialled ${request.address}, which is not loopback`));
    }
    return httpsGet(request);
  };
  const result = await provePublicUrl(options({
    env: {
      // Only the Tailscale IP is mapped; public DNS has nothing yet.
      ECTO_CONNECT_TO: `100.101.102.103:443:127.0.0.1:${edge.port}`,
      ECTO_CA_FILE: CA_FILE,
    },
    tailnetAddresses: ["100.101.102.103"],
    waitMs: 0,
    deps: {
      httpsGet: onlyLoopback,
      resolveDns: () => Promise.reject(new Deno.errors.NotFound("no records")),
    },
  }));
  assert.equal(result.path, "tailnet", result.detail);
  assert.equal(result.target, `127.0.0.1:${edge.port}`);
  assert.deepEqual(dialled, [`127.0.0.1:${edge.port}`, `127.0.0.1:${edge.port}`]);
});
