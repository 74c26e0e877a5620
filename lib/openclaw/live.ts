/**
 * Making a written change live, shared by apply and undo: restart only as
 * the plan says (or wait out the gateway's own restart), then probe
 * `GET /v1/models` until the gateway answers the way the new config should,
 * instead of trusting the writer's hint. Bounded; failures name the log.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import type { GatewaySettings } from "./settings.ts";
import type { OpenClawCli } from "./cli.ts";
import {
  type GatewayApiProbe,
  type GatewayDeps,
  gatewayHealth,
  LIVE_TIMEOUT_MS,
  openClawDailyLogPath,
  probeGatewayApi,
  readLogTail,
  waitFor,
  waitForGatewayReady,
} from "./gateway_health.ts";
import { restartGateway, type RestartResult } from "./gateway.ts";
import type { RestartKind } from "./plan_changes.ts";

/** Options of {@link applyOpenClawPlan} and {@link undoOpenClaw}. */
export interface ApplyOptions {
  /** The `openclaw` CLI. */
  cli: OpenClawCli;
  /** Bound for a hot change to show up (default `deps.limits`, else 30 s). */
  liveTimeoutMs?: number;
  /** Bound for the gateway to be ready after a restart (default `deps.limits`, else 120 s). */
  readyTimeoutMs?: number;
  /** The gateway pid, when known (ecto started it). */
  gatewayPid?: number;
  /** Whether ecto started `gatewayPid`. */
  startedByEcto?: boolean;
  /** Log of a gateway ecto (re)starts (default `/tmp/openclaw-gateway.log`). */
  logPath?: string;
}

/** What a written change must look like once live, and how to ask. */
export interface LiveTarget {
  /** The gateway, `http://127.0.0.1:PORT`. */
  url: string;
  /** What it takes for the write to be live. */
  restart: RestartKind;
  /** The credential to probe with (`undefined`: probe without). */
  credential: string | undefined;
  /** The probe state the new config should produce. */
  want: GatewayApiProbe["state"];
  /** The step progress events and errors are reported under. */
  step: string;
  /** Redacted from log tails in errors. */
  secrets: string[];
}

/** Waits until the API probe is in `want` state; returns the probe and time, or throws. */
async function waitForApiState(
  deps: GatewayDeps,
  target: LiveTarget,
  limitMs: number,
): Promise<{ probe: GatewayApiProbe; ms: number }> {
  const { url, credential, want, step, secrets } = target;
  let last: GatewayApiProbe | undefined;
  const waited = await waitFor(
    deps,
    step,
    want === "endpoint-disabled"
      ? "waiting for the gateway to turn the API off"
      : "waiting for the gateway to apply the change",
    limitMs,
    async () => {
      last = await probeGatewayApi(deps.fetch, url, credential);
      return last.state === want ? last : undefined;
    },
    250,
  );
  if (!waited) {
    const logPath = openClawDailyLogPath(new Date((deps.now ?? Date.now)()));
    const tail = await readLogTail(logPath, 10, secrets);
    throw new EctoError(
      "openclaw_change_not_live",
      `The OpenClaw gateway at ${url} did not apply the change within ${
        Math.round(limitMs / 1000)
      } s (GET /v1/models: ${last?.withoutCredential ?? "no answer"} without credential, ${
        last?.withCredential ?? "not asked"
      } with it); its log is ${logPath}.${tail ? `\nLast lines:\n${tail}` : ""}`,
      { fix: "Restart the gateway (`openclaw gateway restart`), then run ecto again." },
    );
  }
  return { probe: waited.value, ms: waited.elapsedMs };
}

/** The probe state a config should produce. */
export function expectedApiState(settings: GatewaySettings): GatewayApiProbe["state"] {
  if (!settings.chatCompletions && !settings.responses) return "endpoint-disabled";
  if (settings.effectiveAuthMode === "none") return "open";
  return "ok";
}

/** After the write: restart as needed, then wait for the expected API state. */
export async function makeLive(
  deps: GatewayDeps,
  opts: ApplyOptions,
  target: LiveTarget,
): Promise<{ restart?: RestartResult; probe: GatewayApiProbe }> {
  const { url, restart, step, secrets } = target;
  const liveLimit = opts.liveTimeoutMs ?? deps.limits?.liveMs ?? LIVE_TIMEOUT_MS;
  let restarted: RestartResult | undefined;
  const now = deps.now ?? Date.now;
  if (restart === "automatic") {
    // The gateway restarts itself in-process a moment after the write.
    const started = now();
    await waitFor(
      deps,
      step,
      "waiting for the gateway to restart itself",
      12_000,
      async () => (await gatewayHealth(deps.fetch, url)).ready ? undefined : true,
      200,
    );
    await waitForGatewayReady(deps, url, {
      limitMs: opts.readyTimeoutMs,
      logPath: openClawDailyLogPath(new Date(now())),
      step,
      secrets,
    });
    restarted = undefined;
    deps.events?.({
      kind: "progress",
      step,
      message: "the gateway restarted itself",
      elapsedMs: now() - started,
    });
  } else if (restart === "restart" || restart === "full") {
    restarted = await restartGateway(deps, {
      cli: opts.cli,
      url,
      kind: restart,
      limitMs: opts.readyTimeoutMs,
      secrets,
      ...(opts.gatewayPid !== undefined ? { pid: opts.gatewayPid } : {}),
      ...(opts.startedByEcto !== undefined ? { startedByEcto: opts.startedByEcto } : {}),
      ...(opts.logPath !== undefined ? { logPath: opts.logPath } : {}),
    });
  }
  const { probe } = await waitForApiState(deps, target, liveLimit);
  return { ...(restarted ? { restart: restarted } : {}), probe };
}
