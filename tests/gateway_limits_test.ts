/**
 * ecto's bounds on waiting for the gateway: 120 s to be ready and 30 s for a change to go live
 * unless `ECTO_GATEWAY_READY_TIMEOUT` / `ECTO_GATEWAY_LIVE_TIMEOUT` (seconds) say otherwise, and
 * the waits use them.
 */
import assert from "node:assert/strict";
import { build$ } from "dax";
import { EctoError, UsageError } from "../lib/core/errors.ts";
import { makeLive } from "../lib/openclaw/live.ts";
import {
  GATEWAY_READY_TIMEOUT_MS,
  gatewayLimits,
  GatewayNotReadyError,
  LIVE_TIMEOUT_MS,
  waitForGatewayReady,
} from "../lib/openclaw/gateway_health.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("`gatewayLimits()`: the defaults, seconds from the environment, a refusal of nonsense", () => {
  assert.deepEqual(gatewayLimits(envOf({})), {
    readyMs: GATEWAY_READY_TIMEOUT_MS,
    liveMs: LIVE_TIMEOUT_MS,
  });
  assert.deepEqual(
    gatewayLimits(envOf({ ECTO_GATEWAY_READY_TIMEOUT: "300", ECTO_GATEWAY_LIVE_TIMEOUT: "90.5" })),
    { readyMs: 300_000, liveMs: 90_500 },
  );
  assert.deepEqual(gatewayLimits(envOf({ ECTO_GATEWAY_LIVE_TIMEOUT: "" })).liveMs, LIVE_TIMEOUT_MS);
  for (const bad of ["0", "-5", "2m", "Infinity"]) {
    assert.throws(() => gatewayLimits(envOf({ ECTO_GATEWAY_READY_TIMEOUT: bad })), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(
        e.message,
        `ECTO_GATEWAY_READY_TIMEOUT must be a positive number of seconds, not "${bad}".`,
      );
      assert.match(e.fix ?? "", /default 120 s/);
      return true;
    });
  }
});

Deno.test("`waitForGatewayReady()` waits as long as `deps.limits` says, and no longer", async () => {
  let t = 0;
  const clock = { now: () => t, sleep: (ms: number) => Promise.resolve(void (t += ms)) };
  const never = () => Promise.reject(new TypeError("connection refused"));
  const log = await Deno.makeTempFile({ prefix: "ecto-limits-" });
  try {
    await assert.rejects(
      waitForGatewayReady(
        { fetch: never, ...clock, limits: { readyMs: 300_000, liveMs: 1 } },
        "http://127.0.0.1:1",
        { logPath: log },
      ),
      GatewayNotReadyError,
    );
    assert.ok(t >= 300_000 && t < 302_000, `gave up after ${t} ms of a 300 000 ms bound`);
  } finally {
    await Deno.remove(log);
  }
});

Deno.test("`makeLive()` waits for a hot change as long as `deps.limits` says, then names that bound", async () => {
  let t = 0;
  const clock = { now: () => t, sleep: (ms: number) => Promise.resolve(void (t += ms)) };
  const never = () => Promise.reject(new TypeError("connection refused"));
  const error = await makeLive(
    {
      $: build$({}),
      fetch: never,
      env: () => undefined,
      ...clock,
      limits: { readyMs: 1, liveMs: 90_000 },
    },
    { cli: { bin: "openclaw", source: "given" } },
    {
      url: "http://127.0.0.1:1",
      restart: "none",
      credential: undefined,
      want: "ok",
      step: "openclaw.live",
      secrets: [],
    },
  ).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof EctoError);
  assert.equal(error.code, "openclaw_change_not_live");
  assert.match(error.message, /did not apply the change within 90 s/);
  assert.ok(t >= 90_000 && t < 91_000, `gave up after ${t} ms of a 90 000 ms bound`);
});
