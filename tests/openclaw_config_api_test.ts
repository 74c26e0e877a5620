/**
 * The gateway's config API against a REAL gateway (openclaw@2026.9.6, one cold start for the
 * module): the operator handshake with ecto's device identity, `config.get`, `config.patch` with
 * `baseHash`, a stale `baseHash` refused, `changedPaths`, a hot change visible on the very next
 * HTTP request, and the OpenClaw layer configuring, reporting and undoing while the gateway is up
 * without spawning a single `openclaw` process.
 */
import assert from "node:assert/strict";
import type { EctoContext } from "../lib/core/context.ts";
import type { EctoEvent } from "../lib/core/events.ts";
import { openclawLayer } from "../lib/openclaw/layer.ts";
import { deviceIdentityPath, loadOrCreateDeviceIdentity } from "../lib/openclaw/device_identity.ts";
import { connectGateway, type GatewayRpc, GatewayRpcError } from "../lib/openclaw/gateway_rpc.ts";
import { getConfig } from "../lib/openclaw/config_rpc.ts";
import { chooseConfigWriter } from "../lib/openclaw/config_writer.ts";
import { parsePatchAnswer } from "../lib/openclaw/gateway_frames.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import { createShell } from "../lib/core/shell.ts";
import { gatewayLimitsEnv, sharedGateway } from "./harness/gateway.ts";

async function modelsStatus(url: string, token: string | undefined): Promise<number> {
  const response = await fetch(`${url}/v1/models`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  await response.body?.cancel();
  return response.status;
}

/** An `openclaw` that records each run and fails: any spawn is visible and breaks the run. */
async function failingOpenClaw(dir: string): Promise<{ bin: string; runs: () => Promise<number> }> {
  const bin = `${dir}/openclaw`;
  const log = `${dir}/openclaw-runs.log`;
  await Deno.writeTextFile(
    bin,
    `#!/bin/sh\necho "$@" >> "${log}"\necho "fake openclaw must not run" >&2\nexit 1\n`,
  );
  await Deno.chmod(bin, 0o755);
  return {
    bin,
    runs: async () => {
      try {
        return (await Deno.readTextFile(log)).split("\n").filter(Boolean).length;
      } catch {
        return 0;
      }
    },
  };
}

Deno.test({
  name:
    "config API on a real gateway: get, patch with baseHash, stale refusal, changedPaths, live on the next request; the layer spawns no openclaw and its undo removes ecto's pairing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const gw = await sharedGateway();
    const scratch = await Deno.makeTempDir({ prefix: "ecto-config-api-" });
    const credential = { kind: "token" as const, value: gw.token! };
    const identity = await loadOrCreateDeviceIdentity(deviceIdentityPath(`${scratch}/test-state`));
    const connect = () =>
      connectGateway({ url: gw.url, credential, identity, version: "0.0.0-test" });
    let rpc: GatewayRpc | undefined;
    try {
      await t.step(
        "the operator handshake gets admin and read on loopback (silent pairing)",
        async () => {
          rpc = await connect();
          assert.equal(rpc.hello.role, "operator");
          assert.deepEqual(rpc.hello.scopes, ["operator.admin", "operator.read"]);
          assert.equal(rpc.hello.serverVersion, "2026.9.6");
        },
      );

      let hash = "";
      await t.step("config.get returns the file, a hash and redacted secrets", async () => {
        const snap = await getConfig(rpc!);
        assert.equal(snap.path, gw.configPath);
        assert.match(snap.hash ?? "", /^hmac-sha256:v1:/);
        hash = snap.hash!;
        assert.ok(!JSON.stringify(snap.config).includes(gw.token!));
      });

      await t.step(
        "config.patch with baseHash answers once applied: the next request sees it",
        async () => {
          assert.equal(await modelsStatus(gw.url, gw.token), 200);
          const answer = parsePatchAnswer(
            await rpc!.request("config.patch", {
              raw: JSON.stringify({
                gateway: { http: { endpoints: { chatCompletions: { enabled: false } } } },
              }),
              baseHash: hash,
            }),
          );
          assert.deepEqual(answer.changedPaths, ["gateway.http.endpoints.chatCompletions.enabled"]);
          assert.notEqual(answer.hash, hash);
          // No poll: the answer itself is the receipt.
          assert.equal(await modelsStatus(gw.url, gw.token), 404);
        },
      );

      await t.step("a stale baseHash is refused and nothing is written", async () => {
        const before = await Deno.readTextFile(gw.configPath);
        const error = await rpc!.request("config.patch", {
          raw: JSON.stringify({
            gateway: { http: { endpoints: { responses: { enabled: true } } } },
          }),
          baseHash: hash,
        }).then(() => undefined, (e) => e);
        assert.ok(error instanceof GatewayRpcError);
        assert.equal(error.shape.code, "INVALID_REQUEST");
        assert.match(error.shape.message, /changed since last load/);
        assert.equal(await Deno.readTextFile(gw.configPath), before);
      });
      rpc?.close();

      await t.step(
        "the layer configures, reports and undoes through the API: zero openclaw spawns, pairing removed",
        async () => {
          const fake = await failingOpenClaw(scratch);
          const vars: Record<string, string> = {
            ...gw.env(),
            ...gatewayLimitsEnv(),
            ECTO_OPENCLAW: fake.bin,
            ECTO_STATE_DIR: `${scratch}/state`,
          };
          const env = (name: string) => vars[name];
          const events: EctoEvent[] = [];
          const ctx: EctoContext = {
            $: createShell(),
            env,
            envAll: () => ({ ...vars }),
            fetch,
            now: () => Date.now(),
            sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
            events: (e) => events.push(e),
            consent: () => Promise.resolve(false),
            paths: ectoPaths(env),
            selfCommand: [],
            os: Deno.build.os,
            interactive: false,
          };
          const writer = await chooseConfigWriter(ctx, {
            cli: { bin: fake.bin, source: "given" },
            url: gw.url,
            credentials: [{ ...credential, source: "config" }],
          });
          assert.equal(writer.kind, "gateway");
          const layer = openclawLayer();
          const started = Date.now();
          const configured = await layer.configure(ctx, { keepBind: false, restart: false });
          const configureMs = Date.now() - started;
          assert.equal(configured.changed, true);
          assert.match(configured.detail, /gateway API/);
          assert.equal(await modelsStatus(gw.url, gw.token), 200);
          const status = await layer.report(ctx);
          assert.equal(status.ok, true, status.summary);
          const ectoDevice = JSON.parse(
            await Deno.readTextFile(deviceIdentityPath(`${scratch}/state`)),
          ).deviceId as string;
          const paired = async () => {
            const admin = await connect();
            try {
              return JSON.stringify(await admin.request("device.pair.list", {}));
            } finally {
              admin.close();
            }
          };
          assert.ok((await paired()).includes(ectoDevice), "ecto's device was paired silently");
          const undone = await layer.undo(ctx);
          assert.equal(undone.changed, true);
          assert.match(undone.detail, /Removed ecto's device pairing/);
          assert.equal(await modelsStatus(gw.url, gw.token), 404);
          assert.ok(!(await paired()).includes(ectoDevice), "the purge removed ecto's pairing");
          await assert.rejects(
            Deno.stat(deviceIdentityPath(`${scratch}/state`)),
            Deno.errors.NotFound,
          );
          assert.equal(await fake.runs(), 0, "no openclaw process while the gateway is up");
          assert.ok(
            !events.some((e) => e.kind === "note" && /slower/.test(e.message)),
            "no CLI fallback",
          );
          // deno-lint-ignore no-console
          console.error(`  [timing] layer.configure through the API: ${configureMs} ms`);
        },
      );
    } finally {
      rpc?.close();
      // Leave the shared gateway as it was found: the endpoint on.
      const restore = await connect();
      try {
        const snap = await getConfig(restore);
        await restore.request("config.patch", {
          raw: JSON.stringify({
            gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } },
          }),
          baseHash: snap.hash,
        });
      } finally {
        restore.close();
      }
      await Deno.remove(scratch, { recursive: true });
      await gw.stop();
    }
  },
});
