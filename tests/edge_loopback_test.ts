/**
 * The edge as a real loopback server in front of real upstream servers:
 * raw request targets over TCP, SSE timing, client aborts, forged headers,
 * keep-alive behaviour like the gateway's, shutdown, and `runEdge`.
 */
import assert from "node:assert/strict";
import { within } from "./harness/poll.ts";
import type { AuditRecord } from "../lib/edge/audit.ts";
import { EdgeListenError } from "../lib/edge/errors.ts";
import { createEdgeHandler, type EdgeHandlerOptions } from "../lib/edge/handler.ts";
import { KeyStore } from "../lib/edge/keys.ts";
import { type EdgeServer, serveEdge } from "../lib/edge/serve.ts";
import { runEdge, saveEdgeConfig } from "../lib/edge/run.ts";
import { revokeKey } from "../lib/edge/keys_admin.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { staticTokenSource } from "../lib/edge/token_source.ts";
import { fakeKeys, OWNER_KEY, rawHttp, startKeepAliveUpstream } from "./fixtures/edge/helpers.ts";

const TOKEN = "gw-token-loopback-0123456789abcdef01234567";

interface Seen {
  method: string;
  path: string;
  headers: Headers;
}

/** A recording upstream on a free port. */
function recordingUpstream(
  handler: (request: Request, seen: Seen) => Response | Promise<Response> = () =>
    Response.json({ object: "list", data: [{ id: "openclaw/default" }] }),
) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const entry = {
      method: request.method,
      path: new URL(request.url).pathname + new URL(request.url).search,
      headers: request.headers,
    };
    seen.push(entry);
    return handler(request, entry);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function edgeFor(upstream: string, overrides: Partial<EdgeHandlerOptions> = {}): EdgeServer {
  const handler = createEdgeHandler({
    upstream,
    keys: fakeKeys(),
    tokenSource: staticTokenSource(TOKEN),
    ...overrides,
  });
  return serveEdge({ handler, port: 0, shutdownGraceMs: 2000 });
}

Deno.test("`serveEdge()` refuses raw request targets that a normalising client would hide", async () => {
  await using upstream = recordingUpstream();
  await using edge = edgeFor(upstream.url);
  const auth = `Authorization: Bearer ${OWNER_KEY}\r\n`;
  const send = (line: string, extra = "") =>
    rawHttp(
      edge.port,
      `${line}\r\nHost: box.tail1234.ts.net\r\n${auth}${extra}Connection: close\r\n\r\n`,
    );

  const refused = [
    "GET /v1/../tools/invoke HTTP/1.1",
    "POST /v1/../tools/invoke HTTP/1.1",
    "GET /v1/models/../../tools/invoke HTTP/1.1",
    "GET /v1/%2e%2e/tools/invoke HTTP/1.1",
    "GET /v1/models/%2e%2e%2f%2e%2e%2ftools%2finvoke HTTP/1.1",
    "GET /v1%2fmodels HTTP/1.1",
    "GET //v1/models HTTP/1.1",
    "GET /v1/./models HTTP/1.1",
    `GET http://127.0.0.1:${new URL(upstream.url).port}/tools/invoke HTTP/1.1`,
    "GET http://evil.example/v1/models HTTP/1.1",
    "GET / HTTP/1.1",
    "GET /tools/invoke HTTP/1.1",
    "OPTIONS * HTTP/1.1",
  ];
  for (const line of refused) {
    const res = await send(line);
    assert.ok(res.status === 404 || res.status === 400, `${line} → ${res.status}`);
    if (res.status === 404) assert.equal(JSON.parse(res.body).error.code, "not_found");
  }
  const ws = await send(
    "GET /v1/models HTTP/1.1",
    "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
  );
  assert.equal(ws.status, 404, "websocket upgrade");
  const badHost = await rawHttp(
    edge.port,
    `GET /v1/models HTTP/1.1\r\nHost: evil/x?\r\n${auth}Connection: close\r\n\r\n`,
  );
  assert.equal(badHost.status, 404, "host with a path in it");
  assert.equal(upstream.seen.length, 0, "nothing reached the upstream");

  const ok = await send("GET /v1/models HTTP/1.1");
  assert.equal(ok.status, 200);
  // absolute-form equal to http:// + Host + path (RFC 9112 §3.2.2): the same request
  const absolute = await send("GET http://box.tail1234.ts.net/v1/models HTTP/1.1");
  assert.equal(absolute.status, 200, "absolute-form naming this host");
  assert.equal(upstream.seen.length, 2);
  assert.deepEqual(upstream.seen.map((s) => s.path), ["/v1/models", "/v1/models"]);
});

Deno.test("`serveEdge()` passes each SSE chunk on before the upstream sends the next", async () => {
  // Lock-step: the upstream sends chunk n+1 only once the client has chunk n through the edge,
  // so an edge that buffered anything would stall here (and fail at the bound), on any machine.
  const seen = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
  const enc = new TextEncoder();
  await using upstream = recordingUpstream(() => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (n > 0) await seen[n - 1].promise;
        if (n === seen.length) {
          c.enqueue(enc.encode("data: [DONE]\n\n"));
          c.close();
          return;
        }
        c.enqueue(enc.encode(`data: {"n":${n++}}\n\n`));
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  await using edge = edgeFor(upstream.url);
  const res = await fetch(`${edge.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${OWNER_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "stub-model", stream: true, messages: [] }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (needle: string) => {
    while (!text.includes(needle)) {
      const { value, done } = await within(
        reader.read(),
        10_000,
        `"${needle.trim()}" via the edge`,
      );
      assert.ok(!done, `the stream ended before "${needle.trim()}": ${text}`);
      text += value;
    }
  };
  for (let n = 0; n < seen.length; n++) {
    await readUntil(`data: {"n":${n}}\n\n`);
    seen[n].resolve();
  }
  await readUntil("data: [DONE]\n\n");
  assert.equal((await reader.read()).done, true);
  assert.equal(
    text,
    [0, 1, 2, 3, 4].map((n) => `data: {"n":${n}}\n\n`).join("") + "data: [DONE]\n\n",
  );
});

Deno.test("`serveEdge()` a client that goes away cancels the upstream request", async (t) => {
  await t.step("mid-stream: the upstream's response stream is cancelled", async () => {
    const cancelled = Promise.withResolvers<void>();
    await using upstream = recordingUpstream(() => {
      let timer: ReturnType<typeof setInterval> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          timer = setInterval(() => c.enqueue(new TextEncoder().encode("data: tick\n\n")), 50);
        },
        cancel() {
          cancelled.resolve();
          clearInterval(timer);
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    });
    await using edge = edgeFor(upstream.url);
    const client = new AbortController();
    const res = await fetch(`${edge.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${OWNER_KEY}` },
      body: "{}",
      signal: client.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    client.abort();
    await reader.read().catch(() => {});
    await within(cancelled.promise, 10_000, "the upstream's stream cancelled");
  });

  await t.step("before the upstream answered: the upstream request is aborted", async () => {
    const arrived = Promise.withResolvers<void>();
    const aborted = Promise.withResolvers<void>();
    await using upstream = recordingUpstream(async (request) => {
      arrived.resolve();
      // Answers only once aborted, so the test waits on events, not on a timer.
      await new Promise((r) => request.signal.addEventListener("abort", r, { once: true }));
      aborted.resolve();
      return new Response("late");
    });
    await using edge = edgeFor(upstream.url);
    const body = "{}";
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: edge.port });
    await conn.write(new TextEncoder().encode(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${OWNER_KEY}\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
    ));
    await arrived.promise;
    conn.close();
    await within(aborted.promise, 10_000, "the upstream request aborted");
  });
});

Deno.test("`serveEdge()` answers repeated or conflicting Content-Length with one clear 400", async () => {
  await using upstream = recordingUpstream();
  await using edge = edgeFor(upstream.url);
  for (const lengths of [["2", "2"], ["2", "3"], ["2, 2"]]) {
    const fields = lengths.map((l) => `Content-Length: ${l}\r\n`).join("");
    const res = await rawHttp(
      edge.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${OWNER_KEY}\r\n${fields}Connection: close\r\n\r\n{}`,
    );
    assert.equal(res.status, 400, lengths.join(" | "));
    assert.equal(JSON.parse(res.body).error.code, "invalid_content_length", lengths.join(" | "));
  }
  assert.equal(upstream.seen.length, 0);
});

Deno.test("`serveEdge()` forged x-openclaw-* and forwarding headers never reach the upstream", async () => {
  await using upstream = recordingUpstream();
  await using edge = edgeFor(upstream.url);
  const res = await fetch(`${edge.url}/v1/models`, {
    headers: {
      authorization: `Bearer ${OWNER_KEY}`,
      "x-openclaw-agent-id": "main",
      "x-openclaw-session-key": "agent:main:main",
      "x-openclaw-scopes": "operator.admin",
      "x-forwarded-for": "203.0.113.5",
      "x-forwarded-proto": "https",
      "tailscale-funnel-request": "?1",
      "forwarded": "for=203.0.113.5",
      "x-real-ip": "203.0.113.5",
      "cookie": "a=b",
    },
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
  const headers = upstream.seen[0].headers;
  assert.equal(headers.get("authorization"), `Bearer ${TOKEN}`);
  for (const [name] of headers) {
    if (name === "x-openclaw-agent-id") continue; // the edge's own pin, checked below
    assert.ok(!/openclaw|forward|real-ip|tailscale|cookie/.test(name), `${name} reached upstream`);
  }
  assert.equal(headers.get("x-openclaw-agent-id"), "main", "the key's agent, not the forged one");
});

Deno.test("`serveEdge()` survives the gateway's 5 s keep-alive close", async (t) => {
  await t.step(
    "a connection idle past the pool timeout (2.5 s, under the gateway's 5 s) is not reused",
    async () => {
      let t = 0;
      await using upstream = startKeepAliveUpstream({ idleCloseMs: 5000 });
      await using edge = edgeFor(upstream.url, { now: () => t });
      const get = async () => {
        const res = await fetch(`${edge.url}/v1/models`, {
          headers: { authorization: `Bearer ${OWNER_KEY}` },
        });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      };
      await get();
      t += 1_000;
      await get(); // idle 1 s: reused
      t += 2_600;
      await get(); // idle 2.6 s on the edge's clock: a fresh connection, never the stale one
      const connections = upstream.seen.map((s) => s.connection);
      assert.equal(connections[1], connections[0]);
      assert.notEqual(connections[2], connections[1]);
    },
  );

  await t.step(
    "a request that races the upstream's close is retried on a fresh connection",
    async () => {
      // The upstream reads the 2nd request on each connection and hangs up without answering.
      await using upstream = startKeepAliveUpstream({ idleCloseMs: 5000, dropNthOnConnection: 2 });
      await using edge = edgeFor(upstream.url);
      const get = () =>
        fetch(`${edge.url}/v1/models`, { headers: { authorization: `Bearer ${OWNER_KEY}` } });
      const first = await get();
      await first.body?.cancel();
      const second = await get();
      assert.equal(second.status, 200, "retried, not a 502");
      await second.body?.cancel();
      assert.equal(upstream.seen.length, 3, "dropped once, then served on a new connection");
      assert.equal(upstream.connections, 2);
    },
  );
});

Deno.test("`serveEdge()` gateway down gives a 502 in OpenAI's error shape", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await using edge = edgeFor(`http://127.0.0.1:${port}`);
  const res = await fetch(`${edge.url}/v1/models`, {
    headers: { authorization: `Bearer ${OWNER_KEY}` },
  });
  assert.equal(res.status, 502);
  const body = await res.json();
  assert.equal(body.error.code, "gateway_unavailable");
  assert.equal(body.error.type, "api_error");
  const health = await fetch(`${edge.url}/.well-known/ecto/health`);
  assert.equal(health.status, 503);
  assert.deepEqual(await health.json(), { ok: false, edge: "up", gateway: "down" });
});

Deno.test("`serveEdge()` only listens on loopback", async (t) => {
  for (const hostname of ["0.0.0.0", "::", "192.168.1.10", "example.com", ""]) {
    await t.step(`refuses ${JSON.stringify(hostname)}`, () => {
      assert.throws(
        () =>
          serveEdge({
            handler: createEdgeHandler({
              upstream: "http://127.0.0.1:1",
              keys: fakeKeys(),
              tokenSource: staticTokenSource(TOKEN),
              fetch: () => Promise.resolve(new Response()),
            }),
            hostname,
            port: 0,
          }),
        EdgeListenError,
      );
    });
  }
});

Deno.test("`serveEdge()` shutdown lets streams finish, then aborts after the bound", async (t) => {
  const streamingUpstream = (chunks: number) =>
    recordingUpstream(() => {
      let n = 0;
      let timer: ReturnType<typeof setInterval> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          timer = setInterval(() => {
            if (n++ >= chunks) {
              clearInterval(timer);
              c.close();
              return;
            }
            c.enqueue(new TextEncoder().encode(`data: ${n}\n\n`));
          }, 100);
        },
        cancel() {
          clearInterval(timer);
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    });

  await t.step("a stream shorter than the grace period completes", async () => {
    await using upstream = streamingUpstream(5);
    const edge = edgeFor(upstream.url);
    const res = await fetch(`${edge.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${OWNER_KEY}` },
      body: "{}",
    });
    const stopping = edge.shutdown(3000);
    const text = await res.text();
    await stopping;
    assert.equal(text.match(/data: /g)?.length, 5);
  });

  await t.step("an endless stream is cut at the bound", async () => {
    await using upstream = streamingUpstream(1_000_000);
    const edge = edgeFor(upstream.url);
    const res = await fetch(`${edge.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${OWNER_KEY}` },
      body: "{}",
    });
    const started = Date.now();
    const stopping = edge.shutdown(300);
    await res.text().catch(() => "");
    await stopping;
    assert.ok(Date.now() - started < 3000, "stopped within the bound");
  });
});

Deno.test("`runEdge()` serves with the key store, config token and audit log, and stops on abort", async () => {
  await using dir = await tempDir();
  const stateDir = `${dir.path}/state`;
  const openclawConfigPath = `${dir.path}/openclaw.json`;
  await Deno.writeTextFile(
    openclawConfigPath,
    `// OpenClaw config (JSON5)\n{ gateway: { auth: { mode: "token", token: "${TOKEN}", }, }, }\n`,
  );
  await using upstream = recordingUpstream();
  const keysFile = `${stateDir}/keys.json`;
  await using store = await KeyStore.open(keysFile);
  const { key, id } = await store.create("laptop", { agent: "main" });

  const stop = new AbortController();
  const listening = Promise.withResolvers<string>();
  const configPath = `${stateDir}/edge.json`;
  await saveEdgeConfig(configPath, {
    listen: "127.0.0.1:0",
    upstream: upstream.url,
    openclawConfigPath,
    stateDir,
  });
  assert.equal((await Deno.stat(configPath)).mode! & 0o777, 0o600);
  const running = runEdge(
    { listen: "127.0.0.1:0", upstream: upstream.url, openclawConfigPath, stateDir },
    {
      signal: stop.signal,
      handleSignals: false,
      onListen: (server) => listening.resolve(server.url),
      env: (name) => (name === "HOME" ? dir.path : undefined),
    },
  );
  try {
    const url = await listening.promise;
    const ok = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.equal(upstream.seen[0].headers.get("authorization"), `Bearer ${TOKEN}`);

    // a key created by another process works on the next request
    await using other = await KeyStore.open(keysFile);
    const second = await other.create("phone", { agent: "main" });
    const viaNew = await fetch(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${second.key}` },
    });
    assert.equal(viaNew.status, 200);
    await viaNew.body?.cancel();

    // a key revoked by another process stops working on the very next request
    await other.revoke(id);
    const revoked = await fetch(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(revoked.status, 401);
    await revoked.body?.cancel();

    // a rotated gateway token is picked up without a restart
    await Deno.writeTextFile(
      openclawConfigPath,
      `{ gateway: { auth: { mode: "token", token: "rotated-token-000000000000000000000" } } }`,
    );
    const rotated = await fetch(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${second.key}` },
    });
    await rotated.body?.cancel();
    assert.equal(
      upstream.seen.at(-1)!.headers.get("authorization"),
      "Bearer rotated-token-000000000000000000000",
    );
  } finally {
    stop.abort();
    await running;
  }
  const lines = (await Deno.readTextFile(`${stateDir}/audit.log`)).trim().split("\n");
  const records = lines.map((l) => JSON.parse(l) as AuditRecord);
  assert.deepEqual(records.map((r) => r.status), [200, 200, 401, 200]);
  assert.equal(records[0].keyName, "laptop");
  assert.equal((await Deno.stat(`${stateDir}/audit.log`)).mode! & 0o777, 0o600);
  const auditText = lines.join("\n");
  assert.ok(!auditText.includes(key) && !auditText.includes(TOKEN) && !auditText.includes("ecto_"));
  // lastUsed was flushed on shutdown
  const listed = await (await KeyStore.open(keysFile)).list();
  assert.ok(listed.find((k) => k.name === "phone")?.lastUsed);
});

Deno.test("`runEdge()` in its own process stops cleanly on SIGTERM after open streams end", async () => {
  await using dir = await tempDir();
  const stateDir = `${dir.path}/state`;
  const openclawConfigPath = `${dir.path}/openclaw.json`;
  await Deno.writeTextFile(openclawConfigPath, `{ gateway: { auth: { token: "${TOKEN}" } } }`);
  // The upstream holds the stream open until the edge says it is stopping: the stream is
  // open when SIGTERM arrives, on any machine, and must still end whole.
  const stopping = Promise.withResolvers<void>();
  const enc = new TextEncoder();
  await using upstream = recordingUpstream(() => {
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(enc.encode('data: {"n":0}\n\n'));
        await stopping.promise;
        c.enqueue(enc.encode('data: {"n":1}\n\ndata: [DONE]\n\n'));
        c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  await using store = await KeyStore.open(`${stateDir}/keys.json`);
  const { key } = await store.create("owner", { role: "owner", agent: "main" });
  const configPath = `${stateDir}/edge.json`;
  await saveEdgeConfig(configPath, {
    listen: "127.0.0.1:0",
    upstream: upstream.url,
    openclawConfigPath,
    stateDir,
  });
  const { child, url, readLine, lines } = await spawnRunEdge(configPath, dir.path);
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ stream: true, messages: [] }),
  });
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = (await reader.read()).value ?? "";
  child.kill("SIGTERM");
  await readLine(/\nstopping\n/);
  stopping.resolve();
  for (;;) {
    const { value, done } = await within(reader.read(), 10_000, "the rest of the open stream");
    if (done) break;
    text += value;
  }
  assert.equal(
    text,
    'data: {"n":0}\n\ndata: {"n":1}\n\ndata: [DONE]\n\n',
    "the open stream finished",
  );
  const status = await within(child.status, 10_000, "the edge's exit after SIGTERM");
  await lines.cancel();
  const stderr = await new Response(child.stderr).text();
  assert.equal(status.code, 0, stderr);
});

Deno.test("`runEdge()` in its own process refuses a key revoked by another process on the very next request, 20 of 20", async () => {
  await using dir = await tempDir();
  const stateDir = `${dir.path}/state`;
  const openclawConfigPath = `${dir.path}/openclaw.json`;
  await Deno.writeTextFile(openclawConfigPath, `{ gateway: { auth: { token: "${TOKEN}" } } }`);
  await using upstream = recordingUpstream();
  const configPath = `${stateDir}/edge.json`;
  await saveEdgeConfig(configPath, {
    listen: "127.0.0.1:0",
    upstream: upstream.url,
    openclawConfigPath,
    stateDir,
  });
  const { child, url, lines } = await spawnRunEdge(configPath, dir.path);
  const paths = ectoPaths((name) => (name === "ECTO_STATE_DIR" ? stateDir : dir.path));
  await using store = await KeyStore.open(`${stateDir}/keys.json`);
  const untilRefused: number[] = [];
  try {
    for (let round = 0; round < 20; round++) {
      const k = await store.create(`r${round}`, { agent: "main" });
      // One Funnel client per round: 20 revoked keys from one address would (rightly) lock it out.
      const headers = {
        authorization: `Bearer ${k.key}`,
        "x-forwarded-for": `203.0.113.${round + 1}`,
      };
      const ok = await fetch(`${url}/v1/models`, { headers });
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
      await revokeKey(paths, k.id); // this process; the edge is another
      let n = 0;
      for (let status = 0; status !== 401 && n < 50;) {
        n++;
        const res = await fetch(`${url}/v1/models`, { headers });
        status = res.status;
        await res.body?.cancel();
        assert.ok(status === 200 || status === 401, `status ${status}`);
      }
      untilRefused.push(n);
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await lines.cancel();
    await child.stderr.cancel();
  }
  assert.deepEqual(untilRefused, Array(20).fill(1));
});

/**
 * `runEdge` in its own process (`fixtures/edge/run_edge.ts`) on `configPath`: resolves once it
 * says it listens, with its URL and a reader for its later lines (bounded waits).
 */
async function spawnRunEdge(configPath: string, home: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-P=test",
      new URL("./fixtures/edge/run_edge.ts", import.meta.url).pathname,
      configPath,
    ],
    env: { HOME: home },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const readLine = async (line: RegExp) => {
    while (!line.test(out)) {
      const { value, done } = await within(lines.read(), 30_000, `the edge's ${line} line`);
      assert.ok(!done, `the edge exited before ${line}: ${out}`);
      out += value;
    }
  };
  await readLine(/^listening \S+\n/);
  return { child, url: /^listening (\S+)\n/.exec(out)![1]!, readLine, lines };
}

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ecto-edge-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
