/**
 * The edge's connection guard (header-read and idle timeouts, which
 * `Deno.serve` lacks) on real loopback connections, with an injected clock:
 * the test moves time and waits for the guard's next sweep, never a sleep.
 */
import assert from "node:assert/strict";
import { Framer } from "../lib/edge/_framing.ts";
import { createEdgeHandler } from "../lib/edge/handler.ts";
import { serveEdge } from "../lib/edge/serve.ts";
import { staticTokenSource } from "../lib/edge/token_source.ts";
import { fakeFetch, fakeKeys, OWNER_KEY } from "./fixtures/edge/helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function start(respond?: Parameters<typeof fakeFetch>[0]) {
  let t = 0;
  let sweepWaiters: Array<() => void> = [];
  const upstream = fakeFetch(respond);
  const server = serveEdge({
    handler: createEdgeHandler({
      upstream: "http://127.0.0.1:18789",
      keys: fakeKeys(),
      tokenSource: staticTokenSource("gw-token-0123456789abcdef0123456789abcdef"),
      fetch: upstream.fetch,
    }),
    port: 0,
    headerTimeoutMs: 1_000,
    idleTimeoutMs: 5_000,
    now: () => t,
    guardSweepMs: 2,
    onGuardSweep: () => {
      const waiters = sweepWaiters;
      sweepWaiters = [];
      for (const w of waiters) w();
    },
  });
  const sweep = () => new Promise<void>((resolve) => sweepWaiters.push(resolve));
  /** Connects and waits (sweep by sweep) until the guard holds the connection. */
  const connect = async (): Promise<Deno.TcpConn> => {
    const before = server.guardConnections;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    while (server.guardConnections <= before) await sweep();
    return conn;
  };
  const advance = (ms: number) => {
    t += ms;
  };
  return { server, sweep, advance, connect };
}

/** Reads until the peer closes; returns what arrived. */
async function readToClose(conn: Deno.TcpConn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return text;
    text += dec.decode(buf.subarray(0, n));
  }
}

/** Whether `promise` is still pending after two guard sweeps. */
async function pendingAfterSweeps(promise: Promise<unknown>, sweep: () => Promise<void>) {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await sweep();
  await sweep();
  return !settled;
}

Deno.test("`serveEdge()` closes a connection whose request head arrives too slowly", async () => {
  const { server, sweep, advance, connect } = start();
  await using _ = server;
  const conn = await connect();
  await conn.write(enc.encode("GET /v1/models HTTP/1.1\r\nHost: edge.test\r\n"));
  const closed = readToClose(conn);
  advance(900);
  assert.ok(await pendingAfterSweeps(closed, sweep), "open within the deadline");
  await conn.write(enc.encode("X-Slow: 1\r\n"));
  advance(200); // 1.1 s since the connection began, head still unfinished
  assert.equal(await closed, "", "closed without an answer");
  assert.equal(server.guardClosed?.header, 1);
  conn.close();
});

Deno.test("`serveEdge()` closes a connection that never sends anything", async () => {
  const { server, advance, connect } = start();
  await using _ = server;
  const conn = await connect();
  advance(1_001);
  assert.equal(await readToClose(conn), "");
  assert.equal(server.guardClosed?.header, 1);
  conn.close();
});

Deno.test("`serveEdge()` closes an idle keep-alive connection, not one that is answering", async (t) => {
  await t.step("idle after a complete exchange: closed after idleTimeoutMs", async () => {
    const { server, sweep, advance, connect } = start();
    await using _ = server;
    const conn = await connect();
    await conn.write(
      enc.encode(
        `GET /v1/models HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Bearer ${OWNER_KEY}\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assert.match(dec.decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
    const closed = readToClose(conn);
    advance(4_000);
    assert.ok(await pendingAfterSweeps(closed, sweep), "kept alive within the idle timeout");
    advance(1_500);
    await closed;
    assert.equal(server.guardClosed?.idle, 1);
    conn.close();
  });

  await t.step("a silent event stream in progress stays open past the idle timeout", async () => {
    let push: ((text: string) => void) | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (text) => controller.enqueue(enc.encode(text));
      },
    });
    const { server, sweep, advance, connect } = start(() =>
      new Response(stream, { headers: { "content-type": "text/event-stream" } })
    );
    await using _ = server;
    const conn = await connect();
    const body = '{"messages":[]}';
    await conn.write(
      enc.encode(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Bearer ${OWNER_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      ),
    );
    push!("data: 1\n\n");
    const buf = new Uint8Array(4096);
    let seen = "";
    while (!seen.includes("data: 1")) {
      seen += dec.decode(buf.subarray(0, (await conn.read(buf)) ?? 0));
    }
    advance(60_000);
    const next = conn.read(buf);
    assert.ok(await pendingAfterSweeps(next, sweep), "not closed while the response is open");
    push!("data: 2\n\n");
    assert.match(dec.decode(buf.subarray(0, (await next) ?? 0)), /data: 2/);
    assert.equal(server.guardClosed?.idle, 0);
    conn.close();
  });
});

Deno.test("`serveEdge()` with both timeouts 0 serves without the guard", async () => {
  const upstream = fakeFetch();
  await using server = serveEdge({
    handler: createEdgeHandler({
      upstream: "http://127.0.0.1:18789",
      keys: fakeKeys(),
      tokenSource: staticTokenSource("gw-token-0123456789abcdef0123456789abcdef"),
      fetch: upstream.fetch,
    }),
    port: 0,
    headerTimeoutMs: 0,
    idleTimeoutMs: 0,
  });
  const res = await fetch(`${server.url}/v1/models`, {
    headers: { authorization: `Bearer ${OWNER_KEY}` },
  });
  await res.body?.cancel();
  assert.equal(res.status, 200);
  assert.equal(server.guardClosed, undefined, "no guard in front");
});

Deno.test("`Framer` finds message ends in chunked, sized and bodyless messages", () => {
  const requests = new Framer("request");
  const a = requests.feed(
    enc.encode("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n"),
  );
  assert.deepEqual(a.heads, [{ method: "POST" }]);
  assert.equal(a.completed, 1);
  assert.ok(requests.midHead);
  const b = requests.feed(
    enc.encode("\r\nPOST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
  );
  assert.deepEqual(b.heads, [{ method: "GET" }, { method: "POST" }]);
  assert.equal(b.completed, 2);
  assert.ok(requests.idle);

  const methods = ["HEAD", "GET"];
  const responses = new Framer("response", methods);
  const r = responses.feed(
    enc.encode(
      "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
    ),
  );
  assert.equal(r.completed, 1, "the HEAD answer has no body");
  assert.equal(responses.feed(enc.encode("lo\r\n0\r\n\r\n")).completed, 1);
  assert.ok(responses.feed(enc.encode("garbage\r\n\r\n")).error);

  for (const fields of ["Content-Length: 1\r\nContent-Length: 1", "Content-Length: 1, 2"]) {
    const seen = new Framer("request").feed(enc.encode(`POST / HTTP/1.1\r\n${fields}\r\n\r\nx`));
    assert.equal(seen.error, "content-length", fields);
  }
});
