/**
 * Re-records the gateway WebSocket frames under `tests/fixtures/openclaw/ws-*.json` from a real
 * gateway: `deno run -P=test tests/harness/record_ws_frames.ts`. Only frames the gateway sends are
 * kept (ecto's own `connect` carries the credential), and the token is replaced by `<token>`.
 *
 * @module
 */
import {
  deviceIdentityPath,
  loadOrCreateDeviceIdentity,
} from "../../lib/openclaw/device_identity.ts";
import { connectGateway } from "../../lib/openclaw/gateway_rpc.ts";
import { getConfig } from "../../lib/openclaw/config_rpc.ts";
import { startGateway } from "./gateway.ts";
import { startStubLlm } from "./stub_llm.ts";

const OUT = new URL("../fixtures/openclaw/", import.meta.url).pathname;

/** Every text frame the gateway sent, in order. */
const frames: unknown[] = [];

/** A real WebSocket that records what it receives. */
function recordingSocket(url: string): WebSocket {
  const ws = new WebSocket(url);
  ws.addEventListener("message", (e) => {
    if (typeof e.data === "string") frames.push(JSON.parse(e.data));
  });
  return ws;
}

/** Replaces the token, device tokens and recovery scopes; keeps only a few `features.methods`. */
function scrub(frame: unknown, token: string): unknown {
  const text = JSON.stringify(frame).replaceAll(token, "<token>");
  return JSON.parse(text, (key, value) => {
    if ((key === "deviceToken" || key === "recoveryScope") && typeof value === "string") {
      return "<redacted>";
    }
    if (key === "methods" && Array.isArray(value)) {
      return value.filter((m) => ["health", "config.get", "config.patch"].includes(m));
    }
    return value;
  });
}

if (import.meta.main) {
  await using stub = await startStubLlm({ reply: "hi" });
  await using gw = await startGateway({ stubUrl: stub.url });
  const token = gw.token!;
  const identity = await loadOrCreateDeviceIdentity(deviceIdentityPath(`${gw.home}/.ecto`));
  const connect = (value: string) =>
    connectGateway({
      url: gw.url,
      credential: { kind: "token", value },
      identity,
      version: "0.0.0-record",
      openSocket: recordingSocket,
    });
  const save = async (name: string, frame: unknown) => {
    await Deno.writeTextFile(
      `${OUT}ws-${name}.json`,
      JSON.stringify(scrub(frame, token), null, 2) + "\n",
    );
  };
  const res = (id: string) => frames.find((f) => (f as { id?: string }).id === id);

  const rpc = await connect(token);
  await save("challenge", frames[0]);
  await save("hello-ok", res("ecto-connect"));
  const snap = await getConfig(rpc);
  await save("config-get", res("ecto-1"));
  const patch = { gateway: { http: { endpoints: { responses: { enabled: true } } } } };
  await rpc.request("config.patch", { raw: JSON.stringify(patch), baseHash: snap.hash });
  await save("config-patch-ok", res("ecto-2"));
  await rpc.request("config.patch", { raw: JSON.stringify(patch), baseHash: snap.hash }).catch(
    () => {},
  );
  await save("config-patch-stale", res("ecto-3"));
  const snap2 = await getConfig(rpc);
  await rpc.request("config.patch", { raw: JSON.stringify(patch), baseHash: snap2.hash });
  await save("config-patch-noop", res("ecto-5"));
  const event = frames.find((f) =>
    (f as { type?: string }).type === "event" && (f as { event?: string }).event === "health"
  );
  if (event) await save("event-health", event);
  // A write the running gateway cannot apply (token mode without a token): refused, rolled back.
  const snap3 = await getConfig(rpc);
  await rpc.request("config.patch", {
    raw: JSON.stringify({ gateway: { auth: { token: null } } }),
    baseHash: snap3.hash,
  }).catch(() => {});
  await save("config-patch-unappliable", frames.at(-1));
  const config = await Deno.readTextFile(gw.configPath);
  if (!config.includes(token)) throw new Error("the refused write removed the token from the file");
  // 30 control-plane writes per 60 s per device and IP: the next one is refused.
  for (let i = 0; i < 31; i++) {
    const error = await rpc.request("config.patch", { raw: "{}", baseHash: snap3.hash }).then(
      () => undefined,
      (e) => e,
    );
    if (error) {
      await save("config-patch-rate-limited", frames.at(-1));
      break;
    }
  }
  rpc.close();
  await connect("wrong-token-00000000000000000000000000").catch(() => {});
  await save("connect-token-mismatch", frames.at(-1));
}
