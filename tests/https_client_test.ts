import assert from "node:assert/strict";
import { ConnectionClosedError, funnelRequest } from "./tailscale_double/https_client.ts";

// The proof's test certificates: a CA, edge.tail1234.ts.net and other.example.com.
const TLS = `${import.meta.dirname}/fixtures/tls`;
const CA = Deno.readTextFileSync(`${TLS}/ca.pem`);
const NAME = "edge.tail1234.ts.net";

function serve(cert: "edge" | "other", handler: Deno.ServeHandler) {
  return Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(`${TLS}/${cert}.pem`),
    key: Deno.readTextFileSync(`${TLS}/${cert}-key.pem`),
    onListen() {},
  }, handler);
}

Deno.test("`funnelRequest()` speaks TLS for the DNS name to a loopback port, and sends the body", async () => {
  const seen: { host: string | null; method: string; body: string }[] = [];
  await using server = serve("edge", async (request) => {
    seen.push({
      host: request.headers.get("host"),
      method: request.method,
      body: await request.text(),
    });
    return Response.json({ ok: true }, { headers: { "x-test": "1" } });
  });
  const res = await funnelRequest({
    localPort: server.addr.port,
    hostname: NAME,
    host: `${NAME}:8443`,
    caPem: CA,
    method: "POST",
    path: "/v1/chat/completions",
    headers: { "content-type": "application/json" },
    body: '{"é":1}',
  });
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body), { ok: true });
  assert.equal(res.headers.get("x-test"), "1");
  assert.deepEqual(seen, [{ host: `${NAME}:8443`, method: "POST", body: '{"é":1}' }]);
});

Deno.test("`funnelRequest()` rejects a certificate for another name, and one from another CA", async (t) => {
  let reached = 0;
  await using other = serve("other", () => {
    reached++;
    return new Response("should not be reached");
  });
  await t.step("another name", async () => {
    await assert.rejects(
      funnelRequest({ localPort: other.addr.port, hostname: NAME, caPem: CA }),
      (error: unknown) => {
        assert.ok(error instanceof ConnectionClosedError, String(error));
        assert.match(error.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
        return true;
      },
    );
  });
  await t.step("the right name, but a CA nobody trusts here", async () => {
    await using edge = serve("edge", () => new Response("no"));
    const stranger = Deno.readTextFileSync(`${TLS}/other.pem`); // a leaf, not our CA
    await assert.rejects(
      funnelRequest({ localPort: edge.addr.port, hostname: NAME, caPem: stranger }),
      ConnectionClosedError,
    );
  });
  assert.equal(reached, 0, "no request reached a server that failed verification");
});
