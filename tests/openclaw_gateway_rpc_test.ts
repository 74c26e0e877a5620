/**
 * The gateway WebSocket client on frames recorded from openclaw@2026.9.6
 * (`tests/fixtures/openclaw/ws-*.json`, re-recorded by `tests/harness/record_ws_frames.ts`):
 * frame parsing, the signed handshake, error handling and the retry loop of `config.patch`,
 * with a fake socket and an injected clock (no real gateway, no sleeps).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createPublicKey, verify } from "node:crypto";
import {
  buildConnectParams,
  classifyError,
  connectAuthFields,
  deviceAuthPayloadV3,
  type GatewayErrorShape,
  parseChallenge,
  parseConfigSnapshot,
  parseFrame,
  parseHelloOk,
  parsePatchAnswer,
  replacePathsFor,
} from "../lib/openclaw/gateway_frames.ts";
import {
  deviceIdentityPath,
  generateDeviceIdentity,
  isDeviceIdentity,
  loadOrCreateDeviceIdentity,
  publicKeyBase64Url,
} from "../lib/openclaw/device_identity.ts";
import {
  connectGateway,
  GatewayConnectionError,
  type GatewayRpc,
  GatewayRpcError,
  isLoopbackUrl,
  websocketUrl,
} from "../lib/openclaw/gateway_rpc.ts";
import { patchConfig } from "../lib/openclaw/config_rpc.ts";
import {
  chooseConfigWriter,
  gatewayConfigWriter,
  restartAfterWrite,
} from "../lib/openclaw/config_writer.ts";
import { build$ } from "dax";
import { createShell } from "../lib/core/shell.ts";

const FIXTURES = new URL("./fixtures/openclaw/", import.meta.url).pathname;
const TOKEN = "a".repeat(64);

async function fixtureText(name: string): Promise<string> {
  return await Deno.readTextFile(`${FIXTURES}ws-${name}.json`);
}

/** Raw Ed25519 public key (base64url) → a verifiable key object. */
function publicKeyFromRaw(raw: string) {
  const spki = Buffer.concat([
    Buffer.from("302a300506032b6570032100", "hex"),
    Buffer.from(raw, "base64url"),
  ]);
  return createPublicKey({ key: spki, type: "spki", format: "der" });
}

/**
 * A fake WebSocket that plays the gateway: it sends the recorded challenge on open, and answers
 * each request through `answer` (recorded frames with the request's id put in).
 */
class FakeGatewaySocket extends EventTarget {
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  url: string;
  constructor(
    url: string,
    readonly challenge: string,
    readonly answer: (
      req: Record<string, unknown>,
      socket: FakeGatewaySocket,
    ) => string | undefined,
  ) {
    super();
    this.url = url;
    queueMicrotask(() => {
      this.readyState = 1;
      this.dispatchEvent(new Event("open"));
      this.receive(this.challenge);
    });
  }
  receive(text: string): void {
    this.dispatchEvent(new MessageEvent("message", { data: text }));
  }
  send(text: string): void {
    const req = JSON.parse(text);
    this.sent.push(req);
    const reply = this.answer(req, this);
    if (reply !== undefined) queueMicrotask(() => this.receive(reply));
  }
  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.dispatchEvent(new Event("close"));
  }
}

/** A recorded response frame with `id` replaced. */
function withId(text: string, id: unknown): string {
  const frame = JSON.parse(text);
  frame.id = id;
  return JSON.stringify(frame);
}

/** An injected clock whose sleep moves time instead of waiting. */
function fakeClock(start = 1_000_000) {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: (ms: number) => {
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
    sleeps,
  };
}

Deno.test("parseFrame() and friends read the recorded frames", async (t) => {
  await t.step("connect.challenge carries nonce and ts", async () => {
    const challenge = parseChallenge(parseFrame(await fixtureText("challenge")));
    assert.ok(challenge);
    assert.match(challenge.nonce, /^[0-9a-f-]{36}$/);
    assert.ok(Number.isSafeInteger(challenge.ts) && challenge.ts > 0);
  });
  await t.step("a challenge without an integer ts is invalid", () => {
    const frame = parseFrame(
      JSON.stringify({
        type: "event",
        event: "connect.challenge",
        payload: { nonce: "n", ts: 1.5 },
      }),
    );
    assert.equal(parseChallenge(frame), undefined);
  });
  await t.step("hello-ok grants operator with admin and read", async () => {
    const frame = parseFrame(await fixtureText("hello-ok"));
    assert.equal(frame.type, "res");
    assert.ok(frame.type === "res" && frame.ok);
    const hello = parseHelloOk(frame.payload);
    assert.ok(hello);
    assert.equal(hello.protocol, 4);
    assert.equal(hello.serverVersion, "2026.9.6");
    assert.equal(hello.role, "operator");
    assert.deepEqual(hello.scopes, ["operator.admin", "operator.read"]);
    assert.ok(hello.methods.includes("config.patch"));
    assert.equal(hello.maxPayload, 26214400);
  });
  await t.step("config.get has the path, the hash and the redacted config", async () => {
    const frame = parseFrame(await fixtureText("config-get"));
    assert.ok(frame.type === "res" && frame.ok);
    const snap = parseConfigSnapshot(frame.payload);
    assert.ok(snap);
    assert.match(snap.hash ?? "", /^hmac-sha256:v1:/);
    assert.ok(snap.exists && snap.valid);
    assert.match(snap.path, /\/\.openclaw\/openclaw\.json$/);
    const gateway = snap.config.gateway as { auth: { token: string } };
    assert.equal(gateway.auth.token, "__OPENCLAW_REDACTED__");
  });
  await t.step("config.patch ok has changedPaths and the new hash", async () => {
    const frame = parseFrame(await fixtureText("config-patch-ok"));
    assert.ok(frame.type === "res" && frame.ok);
    const answer = parsePatchAnswer(frame.payload);
    assert.deepEqual(answer.changedPaths, ["gateway.http.endpoints.responses"]);
    assert.match(answer.hash ?? "", /^hmac-sha256:v1:/);
    assert.equal(answer.noop, false);
  });
  await t.step("a no-op patch has changedPaths []", async () => {
    const frame = parseFrame(await fixtureText("config-patch-noop"));
    assert.ok(frame.type === "res" && frame.ok);
    const answer = parsePatchAnswer(frame.payload);
    assert.deepEqual(answer.changedPaths, []);
    assert.equal(answer.noop, true);
  });
  await t.step("events are events, garbage is unknown", async () => {
    const frame = parseFrame(await fixtureText("event-health"));
    assert.equal(frame.type, "event");
    assert.equal(parseFrame("not json").type, "unknown");
    assert.equal(parseFrame('{"type":"res"}').type, "unknown");
  });
});

Deno.test("classifyError() maps the recorded refusals to retry, re-read or fail", async (t) => {
  const error = async (name: string): Promise<GatewayErrorShape> => {
    const frame = parseFrame(await fixtureText(name));
    assert.ok(frame.type === "res" && !frame.ok);
    return frame.error;
  };
  await t.step("a stale baseHash means read again", async () => {
    assert.deepEqual(classifyError(await error("config-patch-stale")), { kind: "stale" });
  });
  await t.step("the rate limit waits retryAfterMs", async () => {
    const shape = await error("config-patch-rate-limited");
    assert.deepEqual(classifyError(shape), { kind: "retry", delayMs: shape.retryAfterMs });
  });
  await t.step("a token mismatch fails", async () => {
    assert.deepEqual(classifyError(await error("connect-token-mismatch")), { kind: "fail" });
  });
  await t.step("a config the running gateway cannot run is unappliable, not retried", async () => {
    assert.deepEqual(classifyError(await error("config-patch-unappliable")), {
      kind: "unappliable",
    });
  });
  await t.step("UNAVAILABLE during a restart waits and re-reads", () => {
    // Shape from dist/server-methods-*.mjs ("<method> unavailable during gateway restart").
    const shape = {
      code: "UNAVAILABLE",
      message: "config.patch unavailable during gateway restart",
      retryable: true,
      retryAfterMs: 1000,
    };
    assert.deepEqual(classifyError(shape), { kind: "reload", delayMs: 1000 });
  });
});

Deno.test("deviceAuthPayloadV3() signs what the gateway verifies", async (t) => {
  const identity = generateDeviceIdentity(0);
  const challenge = { nonce: "dceb1d67-1dba-4747-b9bb-6e764c7e513b", ts: 1796114196366 };
  await t.step("the payload is the v3 layout with the token and lower-cased platform", () => {
    const fields = connectAuthFields(
      { credential: { kind: "token", value: TOKEN }, platform: "Linux", deviceId: "dev" },
      challenge,
    );
    assert.equal(
      deviceAuthPayloadV3(fields),
      `v3|dev|cli|cli|operator|operator.admin,operator.read|1796114196366|${TOKEN}|${challenge.nonce}|linux|`,
    );
  });
  await t.step("password auth signs an empty token", () => {
    const fields = connectAuthFields(
      { credential: { kind: "password", value: "pw" }, platform: "linux", deviceId: "dev" },
      challenge,
    );
    assert.equal(fields.token, "");
  });
  await t.step("the device id is sha256 of the raw public key", () => {
    const raw = Buffer.from(publicKeyBase64Url(identity.publicKeyPem), "base64url");
    assert.equal(raw.length, 32);
    assert.equal(createHash("sha256").update(raw).digest("hex"), identity.deviceId);
    assert.ok(isDeviceIdentity(identity));
    assert.equal(isDeviceIdentity({ ...identity, deviceId: "0".repeat(64) }), false);
  });
  await t.step("connect params carry auth by kind and never a password as token", () => {
    const device = { id: "d", publicKey: "k", signature: "s", signedAt: 1, nonce: "n" };
    const token = buildConnectParams({
      version: "1",
      platform: "linux",
      credential: { kind: "token", value: TOKEN },
      device,
    });
    assert.deepEqual(token.auth, { token: TOKEN });
    assert.deepEqual(token.client, {
      id: "cli",
      displayName: "ecto",
      version: "1",
      platform: "linux",
      mode: "cli",
    });
    assert.equal(token.role, "operator");
    const password = buildConnectParams({
      version: "1",
      platform: "linux",
      credential: { kind: "password", value: "pw" },
      device,
    });
    assert.deepEqual(password.auth, { password: "pw" });
    const none = buildConnectParams({
      version: "1",
      platform: "linux",
      credential: undefined,
      device,
    });
    assert.equal("auth" in none, false);
  });
});

Deno.test("replacePathsFor() lists the arrays a merge patch sets or deletes", () => {
  const current = { gateway: { trustedProxies: ["127.0.0.1"], http: { x: { list: [1] } } } };
  assert.deepEqual(replacePathsFor({ gateway: { trustedProxies: ["::1"] } }, current), [
    "gateway.trustedProxies",
  ]);
  assert.deepEqual(replacePathsFor({ gateway: { trustedProxies: null } }, current), [
    "gateway.trustedProxies",
  ]);
  assert.deepEqual(replacePathsFor({ gateway: { http: null } }, current), ["gateway.http.x.list"]);
  assert.deepEqual(
    replacePathsFor(
      { gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } },
      current,
    ),
    [],
  );
});

Deno.test("connectGateway() answers the recorded challenge with a signed operator connect", async (t) => {
  const identity = generateDeviceIdentity(0);
  const challengeText = await fixtureText("challenge");
  const challenge = parseChallenge(parseFrame(challengeText))!;
  const hello = await fixtureText("hello-ok");
  const configGet = await fixtureText("config-get");
  let socket: FakeGatewaySocket | undefined;
  const open =
    (answer: (req: Record<string, unknown>, s: FakeGatewaySocket) => string | undefined) =>
    (url: string) => {
      socket = new FakeGatewaySocket(url, challengeText, answer);
      return socket as unknown as WebSocket;
    };

  await t.step("the signature verifies and hello-ok opens a usable connection", async () => {
    const rpc = await connectGateway({
      url: "http://127.0.0.1:18789",
      credential: { kind: "token", value: TOKEN },
      identity,
      version: "9.9.9",
      platform: "linux",
      openSocket: open((req) =>
        req.method === "connect"
          ? withId(hello, req.id)
          : req.method === "config.get"
          ? withId(configGet, req.id)
          : undefined
      ),
    });
    assert.equal(socket!.url, "ws://127.0.0.1:18789/");
    const connect = socket!.sent[0]!;
    assert.equal(connect.method, "connect");
    const params = connect.params as Record<string, unknown>;
    const device = params.device as Record<string, unknown>;
    assert.equal(device.nonce, challenge.nonce);
    assert.equal(device.signedAt, challenge.ts);
    assert.equal(device.id, identity.deviceId);
    const payload = deviceAuthPayloadV3(
      connectAuthFields({
        credential: { kind: "token", value: TOKEN },
        platform: "linux",
        deviceId: identity.deviceId,
      }, challenge),
    );
    assert.ok(
      verify(
        null,
        Buffer.from(payload),
        publicKeyFromRaw(device.publicKey as string),
        Buffer.from(device.signature as string, "base64url"),
      ),
    );
    assert.deepEqual(params.scopes, ["operator.admin", "operator.read"]);
    assert.deepEqual(rpc.hello.scopes, ["operator.admin", "operator.read"]);
    const snap = await rpc.request("config.get", {});
    assert.equal(parseConfigSnapshot(snap)?.valid, true);
    rpc.close();
    assert.equal(rpc.open, false);
  });

  await t.step("a token mismatch is a GatewayRpcError with the fix and no secret", async () => {
    const mismatch = await fixtureText("connect-token-mismatch");
    const error = await connectGateway({
      url: "http://127.0.0.1:18789",
      credential: { kind: "token", value: TOKEN },
      identity,
      version: "9.9.9",
      openSocket: open((req) => withId(mismatch, req.id)),
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof GatewayRpcError);
    assert.equal(error.shape.details?.code, "AUTH_TOKEN_MISMATCH");
    assert.match(error.fix ?? "", /gateway restart/);
    assert.ok(!error.message.includes(TOKEN));
  });

  await t.step("no challenge within the bound is a GatewayConnectionError", async () => {
    const error = await connectGateway({
      url: "http://127.0.0.1:18789",
      credential: undefined,
      identity,
      version: "9.9.9",
      timeoutMs: 20,
      openSocket: (url) => {
        const s = new FakeGatewaySocket(url, "{}", () => undefined);
        return s as unknown as WebSocket;
      },
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof GatewayConnectionError);
  });

  await t.step("a non-loopback URL is refused before any socket opens", async () => {
    let opened = false;
    const error = await connectGateway({
      url: "http://192.0.2.1:18789",
      credential: { kind: "token", value: TOKEN },
      identity,
      version: "9.9.9",
      openSocket: () => {
        opened = true;
        throw new Error("no");
      },
    }).then(() => undefined, (e) => e);
    assert.equal(opened, false);
    assert.match(String(error), /loopback/);
    assert.ok(isLoopbackUrl("http://127.0.0.1:1") && isLoopbackUrl("http://[::1]:1"));
    assert.equal(websocketUrl("http://127.0.0.1:5/x?y"), "ws://127.0.0.1:5/");
  });
});

/** A fake connection that answers config.get and config.patch from a script. */
function scriptedRpc(
  answers: Array<(method: string, params: Record<string, unknown>) => unknown>,
  log: Array<{ method: string; params: Record<string, unknown> }>,
): GatewayRpc {
  let open = true;
  const rpc = {
    hello: { protocol: 4, serverVersion: "x", role: "operator", scopes: [], methods: [] },
    get open() {
      return open;
    },
    request(method: string, params: Record<string, unknown>) {
      log.push({ method, params });
      const next = answers.shift();
      if (!next) return Promise.reject(new Error(`unexpected ${method}`));
      try {
        return Promise.resolve(next(method, params));
      } catch (error) {
        if (error instanceof GatewayConnectionError) open = false;
        return Promise.reject(error);
      }
    },
    close() {
      open = false;
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  return rpc as unknown as GatewayRpc;
}

Deno.test("patchConfig() sends one patch with baseHash and handles stale, rate limit and restart", async (t) => {
  const getPayload = () => parseFrame(Deno.readTextFileSync(`${FIXTURES}ws-config-get.json`));
  const snapshot = () => {
    const f = getPayload();
    assert.ok(f.type === "res" && f.ok);
    return f.payload;
  };
  const okPayload = () => {
    const f = parseFrame(Deno.readTextFileSync(`${FIXTURES}ws-config-patch-ok.json`));
    assert.ok(f.type === "res" && f.ok);
    return f.payload;
  };
  const refusal = (name: string) => () => {
    const f = parseFrame(Deno.readTextFileSync(`${FIXTURES}ws-${name}.json`));
    assert.ok(f.type === "res" && !f.ok);
    throw new GatewayRpcError("config.patch", f.error);
  };
  const patch = {
    gateway: { http: { endpoints: { responses: { enabled: true } } }, trustedProxies: ["::1"] },
  };

  type Answer = (method: string, params: Record<string, unknown>) => unknown;
  /** One `patchConfig()` on scripted answers, with no reconnect and the injected clock. */
  const patchOn = async (answers: Answer[], opts: { limitMs?: number } = {}) => {
    const log: Array<{ method: string; params: Record<string, unknown> }> = [];
    const clock = fakeClock();
    const outcome = await patchConfig(
      {
        connect: () => Promise.reject(new Error("no reconnect")),
        waitReady: () => Promise.resolve(),
        ...clock,
      },
      patch,
      { rpc: scriptedRpc(answers, log), ...opts },
    ).then((result) => ({ result, error: undefined }), (error: unknown) => ({
      result: undefined,
      error,
    }));
    return { ...outcome, log, clock };
  };

  await t.step("happy path: get, one patch with raw, baseHash and replacePaths", async () => {
    const { result, log, clock } = await patchOn([snapshot, okPayload]);
    assert.deepEqual(log.map((l) => l.method), ["config.get", "config.patch"]);
    const params = log[1]!.params;
    assert.deepEqual(JSON.parse(params.raw as string), patch);
    assert.match(params.baseHash as string, /^hmac-sha256:v1:/);
    assert.deepEqual(params.replacePaths, ["gateway.trustedProxies"]);
    assert.deepEqual(result?.changedPaths, ["gateway.http.endpoints.responses"]);
    assert.equal(result?.attempts, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  await t.step("a stale baseHash reads again and re-sends", async () => {
    const { result, log, clock } = await patchOn([
      snapshot,
      refusal("config-patch-stale"),
      snapshot,
      okPayload,
    ]);
    assert.deepEqual(log.map((l) => l.method), [
      "config.get",
      "config.patch",
      "config.get",
      "config.patch",
    ]);
    assert.equal(result?.attempts, 2);
    assert.deepEqual(clock.sleeps, []);
  });

  await t.step(
    "the rate limit waits retryAfterMs on the injected clock when the bound allows",
    async () => {
      const { result, clock } = await patchOn(
        [snapshot, refusal("config-patch-rate-limited"), snapshot, okPayload],
        { limitMs: 120_000 },
      );
      const limited = parseFrame(await fixtureText("config-patch-rate-limited"));
      assert.ok(limited.type === "res" && !limited.ok);
      assert.deepEqual(clock.sleeps, [limited.error.retryAfterMs]);
      assert.equal(result?.attempts, 2);
    },
  );

  await t.step(
    "a rate limit longer than the bound fails at once with the gateway's sentence",
    async () => {
      const { error, clock } = await patchOn([snapshot, refusal("config-patch-rate-limited")], {
        limitMs: 10_000,
      });
      assert.ok(error instanceof GatewayRpcError);
      assert.match(error.message, /rate limit exceeded for config\.patch; retry after \d+s/);
      assert.deepEqual(clock.sleeps, []);
    },
  );

  await t.step(
    "a socket lost mid-patch waits for the gateway, reconnects and re-reads",
    async () => {
      const clock = fakeClock();
      const log: Array<{ method: string; params: Record<string, unknown> }> = [];
      let waited = 0;
      let reconnects = 0;
      const result = await patchConfig(
        {
          connect: () => {
            reconnects++;
            return Promise.resolve(scriptedRpc([snapshot, okPayload], log));
          },
          waitReady: () => {
            waited++;
            return Promise.resolve();
          },
          ...clock,
        },
        patch,
        {
          rpc: scriptedRpc([snapshot, () => {
            throw new GatewayConnectionError("The gateway closed the WebSocket.");
          }], log),
        },
      );
      assert.equal(waited, 1);
      assert.equal(reconnects, 1);
      assert.equal(
        result.changedPaths,
        undefined,
        "after an interrupted attempt what changed is unknown",
      );
      assert.equal(restartAfterWrite("automatic", result), "automatic");
    },
  );

  await t.step("an invalid patch fails without retrying", async () => {
    const { error, log } = await patchOn([snapshot, () => {
      throw new GatewayRpcError("config.patch", {
        code: "INVALID_REQUEST",
        message: "gateway.bind: Invalid input",
      });
    }]);
    assert.ok(error instanceof GatewayRpcError);
    assert.equal(log.length, 2);
  });
});

Deno.test("restartAfterWrite(): the gateway's changedPaths [] means no restart", () => {
  assert.equal(restartAfterWrite("restart", { changedPaths: [] }), "none");
  assert.equal(restartAfterWrite("restart", { changedPaths: ["gateway.auth.token"] }), "restart");
  assert.equal(restartAfterWrite("automatic", { changedPaths: undefined }), "automatic");
});

Deno.test("loadOrCreateDeviceIdentity() keeps one identity, 0600 in a 0700 directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = deviceIdentityPath(`${dir}/state`);
    const first = await loadOrCreateDeviceIdentity(path);
    const second = await loadOrCreateDeviceIdentity(path);
    assert.equal(second.deviceId, first.deviceId);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    await Deno.writeTextFile(path, JSON.stringify({ ...first, deviceId: "f".repeat(64) }));
    await assert.rejects(() => loadOrCreateDeviceIdentity(path), /gateway-device\.json is corrupt/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chooseConfigWriter() picks the gateway API only when the gateway answers and accepts ecto", async (t) => {
  const dir = await Deno.makeTempDir();
  const challengeText = await fixtureText("challenge");
  const hello = await fixtureText("hello-ok");
  const mismatch = await fixtureText("connect-token-mismatch");
  const credential = { kind: "token" as const, value: TOKEN, source: "config" as const };
  const target = {
    cli: { bin: "openclaw", source: "given" as const },
    url: "http://127.0.0.1:18789",
    credentials: [credential],
  };
  const ready = (() => Promise.resolve(new Response("{}", { status: 200 }))) as typeof fetch;
  const down = (() => Promise.reject(new TypeError("connection refused"))) as typeof fetch;
  const base = (vars: Record<string, string>, fetchFn: typeof fetch) => ({
    $: createShell(),
    fetch: fetchFn,
    env: (name: string) => ({ HOME: dir, ECTO_STATE_DIR: `${dir}/state`, ...vars })[name],
  });
  let sockets = 0;
  const socket = (answer: string) => (url: string) => {
    sockets++;
    return new FakeGatewaySocket(
      url,
      challengeText,
      (req) => withId(answer, req.id),
    ) as unknown as WebSocket;
  };
  try {
    await t.step("ECTO_CONFIG_WRITER=cli forces the CLI without asking the gateway", async () => {
      const writer = await chooseConfigWriter(
        { ...base({ ECTO_CONFIG_WRITER: "cli" }, ready), openSocket: socket(hello) },
        target,
      );
      assert.equal(writer.kind, "cli");
      assert.equal(sockets, 0);
    });
    await t.step("a gateway that does not answer /readyz gets the CLI", async () => {
      const writer = await chooseConfigWriter(
        { ...base({}, down), openSocket: socket(hello) },
        target,
      );
      assert.equal(writer.kind, "cli");
      assert.equal(sockets, 0);
    });
    await t.step("no credential the running gateway accepts: the CLI", async () => {
      const writer = await chooseConfigWriter(
        { ...base({}, ready), openSocket: socket(hello) },
        { ...target, credentials: [undefined] },
      );
      assert.equal(writer.kind, "cli");
    });
    await t.step(
      "a gateway that completes the handshake: its API, identity kept 0600",
      async () => {
        const writer = await chooseConfigWriter(
          { ...base({}, ready), openSocket: socket(hello) },
          target,
        );
        assert.equal(writer.kind, "gateway");
        assert.equal((await Deno.stat(`${dir}/state/gateway-device.json`)).mode! & 0o777, 0o600);
      },
    );
    await t.step(
      "a refused handshake falls back to the CLI with a note, no secret in it",
      async () => {
        const notes: string[] = [];
        const writer = await chooseConfigWriter({
          ...base({}, ready),
          openSocket: socket(mismatch),
          events: (e) => void (e.kind === "note" && notes.push(e.message)),
        }, target);
        assert.equal(writer.kind, "cli");
        assert.equal(notes.length, 1);
        assert.match(notes[0]!, /token mismatch/);
        assert.ok(!notes[0]!.includes(TOKEN));
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gatewayConfigWriter() hands a patch the running gateway cannot run to the CLI", async () => {
  const snapshotPayload = (() => {
    const f = parseFrame(Deno.readTextFileSync(`${FIXTURES}ws-config-get.json`));
    assert.ok(f.type === "res" && f.ok);
    return f.payload;
  })();
  const unappliable = parseFrame(await fixtureText("config-patch-unappliable"));
  assert.ok(unappliable.type === "res" && !unappliable.ok);
  const stdins: string[] = [];
  const $ = build$({
    commandBuilder: (b) =>
      b.registerCommand("openclaw", async (ctx) => {
        stdins.push(
          await new Response(ctx.stdin as unknown as ReadableStream).text().catch(() => ""),
        );
        await ctx.stdout.writeText("Applied 1 config update(s). Restart the gateway to apply.\n");
        return { code: 0 };
      }),
  });
  const notes: string[] = [];
  const clock = fakeClock();
  const writer = gatewayConfigWriter(
    {
      $,
      fetch,
      env: (name) => (name === "HOME" ? "/nonexistent" : undefined),
      events: (e) => void (e.kind === "note" && notes.push(e.message)),
      ...clock,
    },
    { cli: { bin: "openclaw", source: "given" }, url: "http://127.0.0.1:1", credentials: [] },
    () => Promise.reject(new Error("no reconnect")),
    scriptedRpc([() => snapshotPayload, () => {
      throw new GatewayRpcError("config.patch", unappliable.error);
    }], []),
  );
  const patch = { gateway: { auth: { token: null } } };
  const result = await writer.write(patch, { secrets: [], configPath: "/x/openclaw.json" });
  assert.equal(result.via, "cli");
  assert.equal(result.changedPaths, undefined, "the plan decides the restart");
  assert.equal(stdins.length, 1);
  assert.match(notes[0] ?? "", /cannot apply this change live/);
});

Deno.test("gatewayConfigWriter() keeps a new secret the gateway quotes back out of its error", async () => {
  const snapshotPayload = (() => {
    const f = parseFrame(Deno.readTextFileSync(`${FIXTURES}ws-config-get.json`));
    assert.ok(f.type === "res" && f.ok);
    return f.payload;
  })();
  const secret = "b".repeat(64);
  const clock = fakeClock();
  const writer = gatewayConfigWriter(
    { $: createShell(), fetch, env: () => undefined, ...clock },
    { cli: { bin: "openclaw", source: "given" }, url: "http://127.0.0.1:1", credentials: [] },
    () => Promise.reject(new Error("no reconnect")),
    scriptedRpc([() => snapshotPayload, () => {
      throw new GatewayRpcError("config.patch", {
        code: "INVALID_REQUEST",
        message: `gateway.auth.token: "${secret}" is not allowed`,
      });
    }], []),
  );
  const error = await writer.write({ gateway: { auth: { token: secret } } }, {
    secrets: [secret],
    configPath: "/x/openclaw.json",
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof GatewayRpcError);
  assert.ok(!error.message.includes(secret) && !error.shape.message.includes(secret));
  assert.match(error.message, /<redacted>/);
});

Deno.test("chooseConfigWriter() uses the CLI when the gateway grants no admin scope", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const challengeText = await fixtureText("challenge");
    const hello = JSON.parse(await fixtureText("hello-ok"));
    hello.payload.auth.scopes = ["operator.read"];
    const notes: string[] = [];
    const writer = await chooseConfigWriter({
      $: createShell(),
      fetch: (() => Promise.resolve(new Response("{}", { status: 200 }))) as typeof fetch,
      env: (name) =>
        ({ HOME: dir, ECTO_STATE_DIR: `${dir}/state` } as Record<string, string>)[name],
      events: (e) => void (e.kind === "note" && notes.push(e.message)),
      openSocket: (url) =>
        new FakeGatewaySocket(
          url,
          challengeText,
          (req) => withId(JSON.stringify(hello), req.id),
        ) as unknown as WebSocket,
    }, {
      cli: { bin: "openclaw", source: "given" },
      url: "http://127.0.0.1:18789",
      credentials: [{ kind: "token", value: TOKEN, source: "config" }],
    });
    assert.equal(writer.kind, "cli");
    assert.match(notes[0] ?? "", /granted only operator\.read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
