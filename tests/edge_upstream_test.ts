/**
 * The edge's HTTP/1.1 gateway client against scripted TCP servers that send
 * exactly the bytes a test wants (split reads, chunked framing, early closes).
 */
import assert from "node:assert/strict";
import { createHttp1Upstream } from "../lib/edge/http1_upstream.ts";
import {
  NoResponseError,
  UpstreamProtocolError,
  type UpstreamRequest,
} from "../lib/edge/upstream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Received {
  head: string;
  body: string;
  connection: number;
}

type Script = (
  send: (text: string | Uint8Array) => Promise<void>,
  received: Received,
  close: () => void,
) => Promise<void>;

/** A TCP server that runs `script` for each request it reads (keep-alive unless the script closes). */
function scripted(script: Script) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: Received[] = [];
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let connections = 0;
  const serve = async (conn: Deno.Conn, id: number) => {
    conns.add(conn);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch { /* closed */ }
    };
    let buffer = "";
    const buf = new Uint8Array(65536);
    try {
      while (!closed) {
        let end = buffer.indexOf("\r\n\r\n");
        while (end === -1) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          buffer += dec.decode(buf.subarray(0, n));
          end = buffer.indexOf("\r\n\r\n");
        }
        const head = buffer.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        while (buffer.length < end + 4 + length) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          buffer += dec.decode(buf.subarray(0, n));
        }
        const r = { head, body: buffer.slice(end + 4, end + 4 + length), connection: id };
        buffer = buffer.slice(end + 4 + length);
        received.push(r);
        await script(
          async (data) => {
            const bytes = typeof data === "string" ? enc.encode(data) : data;
            let written = 0;
            while (written < bytes.length) written += await conn.write(bytes.subarray(written));
          },
          r,
          close,
        );
      }
    } catch {
      /* peer went away */
    } finally {
      conns.delete(conn);
      close();
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const task = serve(conn, ++connections);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch { /* closed */ }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get connections() {
      return connections;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
      await Promise.all([...tasks]);
    },
  };
}

function get(path = "/v1/models", signal = new AbortController().signal): UpstreamRequest {
  return { method: "GET", path, headers: [["authorization", "Bearer t"]], signal };
}

async function readAll(body: unknown): Promise<string> {
  if (body instanceof Uint8Array) return dec.decode(body);
  if (body instanceof ReadableStream) return await new Response(body).text();
  return "";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("`createHttp1Upstream()` sends the request as given and reads a sized body whole", async () => {
  await using server = scripted(async (send) => {
    await send(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n" +
        'Keep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\n{"ok":true}',
    );
  });
  const client = createHttp1Upstream(server.url);
  try {
    const res = await client.request({
      method: "POST",
      path: "/v1/chat/completions",
      headers: [["authorization", "Bearer t"], ["content-type", "application/json"]],
      body: enc.encode('{"a":1}'),
      signal: new AbortController().signal,
    });
    assert.equal(res.status, 200);
    assert.ok(res.body instanceof Uint8Array, "read whole");
    assert.equal(await readAll(res.body), '{"ok":true}');
    assert.deepEqual(res.headers.find(([n]) => n === "keep-alive"), ["keep-alive", "timeout=5"]);
    const head = server.received[0].head.split("\r\n");
    assert.equal(head[0], "POST /v1/chat/completions HTTP/1.1");
    assert.ok(head.includes(`host: ${new URL(server.url).host}`));
    assert.ok(head.includes("authorization: Bearer t"));
    assert.ok(head.includes("content-length: 7"));
    assert.equal(server.received[0].body, '{"a":1}');
    // the connection is reused
    const again = await client.request(get());
    assert.equal(await readAll(again.body), '{"ok":true}');
    assert.equal(server.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("`createHttp1Upstream()` streams chunked bodies piece by piece", async (t) => {
  await t.step("each chunk is delivered when it arrives", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    await using server = scripted(async (send) => {
      await send(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
      );
      await send("d\r\ndata: first\n\n\r\n");
      await gate;
      await send("e\r\ndata: second\n\n\r\n0\r\n\r\n");
    });
    const client = createHttp1Upstream(server.url);
    try {
      const res = await client.request(get("/v1/chat/completions"));
      assert.ok(res.body instanceof ReadableStream);
      const reader = res.body.getReader();
      assert.equal(dec.decode((await reader.read()).value), "data: first\n\n");
      release();
      assert.equal(dec.decode((await reader.read()).value), "data: second\n\n");
      assert.equal((await reader.read()).done, true);
      await client.request(get()).then((r) => readAll(r.body));
      assert.equal(server.connections, 1, "reused after the last chunk");
    } finally {
      client.close();
    }
  });

  await t.step("framing split across reads, extensions and trailers", async () => {
    await using server = scripted(async (send) => {
      const parts = [
        "HTTP/1.1 200 OK\r\nTransfer-",
        "Encoding: chunked\r\n\r",
        "\n5;ext=1\r",
        "\nhel",
        "lo\r",
        "\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n",
        "\r\n",
      ];
      for (const p of parts) {
        await send(p);
        await sleep(5);
      }
    });
    const client = createHttp1Upstream(server.url);
    try {
      const res = await client.request(get());
      assert.equal(await readAll(res.body), "hello world");
    } finally {
      client.close();
    }
  });

  await t.step("a body delimited by the connection's end, not reused", async () => {
    await using server = scripted(async (send, _r, close) => {
      await send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
      await send("close");
      close();
    });
    const client = createHttp1Upstream(server.url);
    try {
      assert.equal(await readAll((await client.request(get())).body), "until close");
      assert.equal(await readAll((await client.request(get())).body), "until close");
      assert.equal(server.connections, 2);
    } finally {
      client.close();
    }
  });

  await t.step("an event stream with a length and a large body are streamed too", async () => {
    await using server = scripted(async (send, r) => {
      const body = r.head.includes("/big") ? "x".repeat(3000) : "data: 1\n\n";
      const type = r.head.includes("/big") ? "application/json" : "text/event-stream";
      await send(
        `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
    const client = createHttp1Upstream(server.url, { bufferLimit: 1000 });
    try {
      const sse = await client.request(get("/sse"));
      assert.ok(sse.body instanceof ReadableStream);
      assert.equal(await readAll(sse.body), "data: 1\n\n");
      const big = await client.request(get("/big"));
      assert.ok(big.body instanceof ReadableStream);
      assert.equal((await readAll(big.body)).length, 3000);
      assert.equal(server.connections, 1);
    } finally {
      client.close();
    }
  });
});

Deno.test("`createHttp1Upstream()` odd but valid responses", async (t) => {
  await t.step(
    "100 Continue is skipped; 204 has no body; Connection: close is honoured",
    async () => {
      await using server = scripted(async (send, r, close) => {
        if (r.head.includes("/continue")) {
          await send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } else if (r.head.includes("/empty")) {
          await send("HTTP/1.1 204 No Content\r\n\r\n");
        } else {
          await send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
          close();
        }
      });
      const client = createHttp1Upstream(server.url);
      try {
        assert.equal(await readAll((await client.request(get("/continue"))).body), "ok");
        const empty = await client.request(get("/empty"));
        assert.equal(empty.status, 204);
        assert.equal(empty.body, null);
        assert.equal(await readAll((await client.request(get("/close"))).body), "bye");
        assert.equal(await readAll((await client.request(get("/continue"))).body), "ok");
        assert.equal(server.connections, 2, "a new connection after Connection: close");
      } finally {
        client.close();
      }
    },
  );

  await t.step("garbage is a protocol error, not a hang", async () => {
    await using server = scripted(async (send) => {
      await send("SSH-2.0-OpenSSH\r\n\r\n");
    });
    const client = createHttp1Upstream(server.url);
    try {
      await assert.rejects(client.request(get()), UpstreamProtocolError);
    } finally {
      client.close();
    }
  });

  await t.step("an endless head is refused", async () => {
    await using server = scripted(async (send) => {
      await send("HTTP/1.1 200 OK\r\n");
      for (let i = 0; i < 40; i++) await send(`x-filler-${i}: ${"a".repeat(2000)}\r\n`);
    });
    const client = createHttp1Upstream(server.url, { maxHeadBytes: 16 * 1024 });
    try {
      await assert.rejects(client.request(get()), UpstreamProtocolError);
    } finally {
      client.close();
    }
  });
});

Deno.test("`createHttp1Upstream()` retries a pooled connection the gateway closed, once", async (t) => {
  await t.step(
    "GET and POST on a reused connection that closes unanswered are retried",
    async () => {
      // every connection answers its first request and hangs up on the second
      await using server = scripted(async (send, r, close) => {
        const n = server.received.filter((x) => x.connection === r.connection).length;
        if (n >= 2) return close();
        await send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      });
      const client = createHttp1Upstream(server.url);
      try {
        await readAll((await client.request(get())).body);
        assert.equal(await readAll((await client.request(get())).body), "ok");
        assert.equal(server.connections, 2);
        const post = await client.request({
          method: "POST",
          path: "/v1/chat/completions",
          headers: [],
          body: enc.encode("{}"),
          signal: new AbortController().signal,
        });
        assert.equal(await readAll(post.body), "ok");
        assert.equal(server.connections, 3);
      } finally {
        client.close();
      }
    },
  );

  await t.step("a POST on a fresh connection that closes unanswered is not retried", async () => {
    await using server = scripted((_send, _r, close) => Promise.resolve(close()));
    const client = createHttp1Upstream(server.url);
    try {
      await assert.rejects(
        client.request({
          method: "POST",
          path: "/v1/chat/completions",
          headers: [],
          body: enc.encode("{}"),
          signal: new AbortController().signal,
        }),
        NoResponseError,
      );
      assert.equal(server.received.length, 1);
      await assert.rejects(client.request(get()), NoResponseError);
      assert.equal(server.received.length, 3, "a GET is tried twice");
    } finally {
      client.close();
    }
  });

  await t.step("a connection idle past poolIdleTimeoutMs is never reused", async () => {
    let clock = 0;
    await using server = scripted(async (send) => {
      await send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    const client = createHttp1Upstream(server.url, { poolIdleTimeoutMs: 2500, now: () => clock });
    try {
      await readAll((await client.request(get())).body);
      clock += 2400;
      await readAll((await client.request(get())).body);
      assert.equal(server.connections, 1);
      clock += 2500;
      await readAll((await client.request(get())).body);
      assert.equal(server.connections, 2);
    } finally {
      client.close();
    }
  });

  await t.step("nothing listening: an error, not a hang", async () => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const client = createHttp1Upstream(`http://127.0.0.1:${port}`);
    await assert.rejects(client.request(get()));
    client.close();
  });
});

/** Writes until the peer's close makes a write fail (bounded: 200 writes 10 ms apart). */
async function writeUntilClosed(send: (data: string) => Promise<void>): Promise<boolean> {
  try {
    for (let i = 0; i < 200; i++) {
      await send("2\r\nhi\r\n");
      await sleep(10);
    }
  } catch {
    return true;
  }
  return false;
}

Deno.test("`createHttp1Upstream()` abort closes the connection", async (t) => {
  await t.step("while waiting for the head", async () => {
    const received = Promise.withResolvers<void>();
    const aborted = Promise.withResolvers<void>();
    const serverSawClose = Promise.withResolvers<boolean>();
    await using server = scripted(async (send) => {
      received.resolve(); // the request arrived; no head until the client has given up
      await aborted.promise;
      serverSawClose.resolve(await writeUntilClosed(send));
    });
    const client = createHttp1Upstream(server.url);
    try {
      const ac = new AbortController();
      const pending = client.request(get("/slow", ac.signal));
      await received.promise;
      ac.abort(new Error("stop"));
      await assert.rejects(pending, /stop/);
      aborted.resolve();
      assert.equal(await serverSawClose.promise, true, "the gateway saw the connection close");
    } finally {
      aborted.resolve();
      client.close();
    }
  });

  await t.step("mid-stream", async () => {
    const aborted = Promise.withResolvers<void>();
    const serverSawClose = Promise.withResolvers<boolean>();
    await using server = scripted(async (send) => {
      await send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n");
      await aborted.promise;
      serverSawClose.resolve(await writeUntilClosed(send));
    });
    const client = createHttp1Upstream(server.url);
    try {
      const ac = new AbortController();
      const res = await client.request(get("/stream", ac.signal));
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      ac.abort(new Error("client gone"));
      await assert.rejects(reader.read(), /client gone/);
      aborted.resolve();
      assert.equal(await serverSawClose.promise, true, "the gateway saw the connection close");
    } finally {
      aborted.resolve();
      client.close();
    }
  });

  await t.step("cancelling the body stream closes the connection too", async () => {
    await using server = scripted(async (send) => {
      await send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n");
      await sleep(50);
    });
    const client = createHttp1Upstream(server.url);
    try {
      const res = await client.request(get());
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      await reader.cancel();
      await client.request(get()).then((r) => (r.body as ReadableStream).cancel());
      assert.equal(server.connections, 2, "the cancelled connection was not reused");
    } finally {
      client.close();
    }
  });
});
