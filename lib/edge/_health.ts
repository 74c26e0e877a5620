/**
 * The edge's health answer (`HEALTH_PATH`): whether the edge is up
 * and what the gateway's `/readyz` says, probed at most once per `cacheMs`
 * (concurrent health requests share one probe).
 *
 * @module
 */
import type { UpstreamClient } from "./upstream.ts";

/** Gateway states reported by the health endpoint. */
export type GatewayState = "ready" | "not_ready" | "down" | "error";

/** Options of {@link createHealth}. */
export interface HealthOptions {
  /** Clock, ms. */
  now: () => number;
  /** Bound of one probe, ms. */
  timeoutMs: number;
  /** How long an answer is reused, ms. */
  cacheMs: number;
}

/** The health route's state. */
export interface Health {
  /** The answer; `stopping` says the edge is shutting down. */
  answer(stopping: boolean): Promise<Response>;
  /** Resolves once no probe is running. */
  settled(): Promise<void>;
}

/** Health answers backed by probes of the gateway's `/readyz` through `upstream`. */
export function createHealth(upstream: UpstreamClient, options: HealthOptions): Health {
  let probedAt = -Infinity;
  let probe: Promise<GatewayState> | undefined;
  const probeGateway = async (): Promise<GatewayState> => {
    try {
      const res = await upstream.request({
        method: "GET",
        path: "/readyz",
        headers: [],
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (res.body instanceof ReadableStream) await res.body.cancel().catch(() => {});
      if (res.status === 200) return "ready";
      if (res.status === 503) return "not_ready";
      return "error";
    } catch {
      return "down";
    }
  };
  return {
    async answer(stopping) {
      const t = options.now();
      if (probe === undefined || t - probedAt >= options.cacheMs) {
        probedAt = t;
        probe = probeGateway();
      }
      const gateway = await probe;
      const ok = gateway === "ready";
      return new Response(JSON.stringify({ ok, edge: stopping ? "stopping" : "up", gateway }), {
        status: ok ? 200 : 503,
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    },
    async settled() {
      await probe?.catch(() => {});
    },
  };
}
