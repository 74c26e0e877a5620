/**
 * The edge as connect, status and disconnect see it: its settings file, its
 * supervisor (launchd, systemd, or a detached process with a pidfile) and its
 * health endpoint.
 *
 * @module
 */
import { readConnectionRecord } from "../core/connection_record.ts";
import type { EctoContext } from "../core/context.ts";
import { EctoError } from "../core/errors.ts";
import { HEALTH_PATH } from "./routes.ts";
import { type EdgeConfig, loadEdgeConfig, saveEdgeConfig } from "./run.ts";
import type { EdgeLayer, EdgeRunning, LayerStatus, StepResult } from "../core/layer_types.ts";
import {
  type EdgeServiceSpec,
  edgeServiceSpec,
  edgeServiceStatus,
  installEdgeService,
  removeEdgeService,
  type ServiceDeps,
  type Supervisor,
  SUPERVISORS,
} from "../service/mod.ts";
import { edgeListen, edgeTarget } from "../core/addresses.ts";

/** How long a started edge may take to answer its health check. */
const HEALTH_WAIT_MS = 20_000;

function serviceDeps(ctx: EctoContext, supervisor?: string): ServiceDeps {
  return {
    $: ctx.$,
    env: ctx.env,
    os: ctx.os,
    events: ctx.events,
    sleep: ctx.sleep,
    ...(isSupervisor(supervisor) ? { supervisor } : {}),
  };
}

function isSupervisor(value: string | undefined): value is Supervisor {
  return value !== undefined && (SUPERVISORS as readonly string[]).includes(value);
}

/**
 * The supervisor connect used, from the connection record: stopping and status must look
 * where the edge was started even when detection would answer differently now (say over SSH
 * without a user bus).
 */
async function recordedSupervisor(ctx: EctoContext): Promise<string | undefined> {
  return (await readConnectionRecord(ctx.paths).catch(() => undefined))?.supervisor;
}

/** The supervisor's description of the edge: this ecto, `edge run --config <file>`. */
function spec(ctx: EctoContext): EdgeServiceSpec {
  const env: Record<string, string> = {};
  // Locations only: the edge reads its secrets from files. DENO_DIR matters when ecto runs
  // from source (`deno run`) with another HOME than the one its module cache is in.
  for (
    const name of [
      "HOME",
      "PATH",
      "DENO_DIR",
      "ECTO_STATE_DIR",
      "OPENCLAW_STATE_DIR",
      "OPENCLAW_CONFIG_PATH",
      "OPENCLAW_HOME",
    ]
  ) {
    const value = ctx.env(name);
    if (value !== undefined) env[name] = value;
  }
  return edgeServiceSpec(
    ctx.paths,
    [...ctx.selfCommand, "edge", "run", "--config", ctx.paths.edgeConfigFile],
    env,
  );
}

interface Health {
  ok: boolean;
  gateway?: string;
  error?: string;
}

async function health(ctx: EctoContext, listen: string): Promise<Health> {
  try {
    const response = await ctx.fetch(`http://${listen}${HEALTH_PATH}`, {
      signal: AbortSignal.timeout(3_000),
    });
    const body = await response.json().catch(() => ({})) as { edge?: unknown; gateway?: unknown };
    // The edge answers 503 while the gateway is not ready: the edge itself is still up.
    return {
      ok: body.edge === "up",
      ...(typeof body.gateway === "string" ? { gateway: body.gateway } : {}),
    };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Builds the edge layer. */
export function edgeLayer(): EdgeLayer {
  return {
    async ensureRunning(ctx, options): Promise<EdgeRunning> {
      const listen = edgeListen(ctx);
      const config: EdgeConfig = {
        listen,
        upstream: options.gatewayUrl,
        openclawConfigPath: options.configPath,
        stateDir: ctx.paths.stateDir,
      };
      const previous = await loadEdgeConfig(ctx.paths.edgeConfigFile).catch(() => undefined);
      const configChanged = JSON.stringify(previous) !== JSON.stringify(config);
      if (configChanged) await saveEdgeConfig(ctx.paths.edgeConfigFile, config);
      const installed = await installEdgeService(serviceDeps(ctx), spec(ctx), {
        restart: options.restart || configChanged,
        ready: async () => (await health(ctx, listen)).ok,
      });
      // A bounded poll, fine-grained (loopback answers in ~1 ms); every 0.5 s it also asks the
      // supervisor, so an edge that exited at start fails now instead of after the bound.
      const started = ctx.now();
      let last: Health = { ok: false };
      for (let round = 1; ctx.now() - started < HEALTH_WAIT_MS; round++) {
        last = await health(ctx, listen);
        if (last.ok) break;
        if (round % 10 === 0 && !(await edgeServiceStatus(serviceDeps(ctx), spec(ctx))).running) {
          last = { ok: false, error: "the edge process exited" };
          break;
        }
        await ctx.sleep(50);
      }
      if (!last.ok) {
        throw new EctoError(
          "edge_not_healthy",
          `The edge did not answer on ${listen} within ${HEALTH_WAIT_MS / 1000} s` +
            (last.error ? ` (${last.error}).` : "."),
          {
            fix: `Check ${ctx.paths.edgeLog}; if another program uses ${listen}, ` +
              "set ECTO_EDGE_LISTEN=127.0.0.1:<free port> and run ecto connect again.",
          },
        );
      }
      const changed = installed.changed || installed.started || configChanged;
      return {
        listen,
        target: edgeTarget(ctx),
        supervisor: installed.supervisor,
        pid: installed.pid,
        changed,
        detail: `${changed ? "Started" : "Found"} the edge on ${listen} ` +
          `(${installed.supervisor}${installed.pid ? `, pid ${installed.pid}` : ""}); gateway ${
            last.gateway ?? "unknown"
          }.`,
      };
    },

    async remove(ctx): Promise<StepResult> {
      const result = await removeEdgeService(
        serviceDeps(ctx, await recordedSupervisor(ctx)),
        spec(ctx),
      );
      const changed = result.stopped || result.removed;
      return {
        changed,
        detail: changed
          ? `Stopped and removed the edge (${result.supervisor}).`
          : "The edge was not running.",
      };
    },

    async report(ctx): Promise<LayerStatus> {
      const listen = edgeListen(ctx);
      const [service, h] = await Promise.all([
        edgeServiceStatus(serviceDeps(ctx, await recordedSupervisor(ctx)), spec(ctx)).catch(() =>
          undefined
        ),
        health(ctx, listen),
      ]);
      const details = {
        listen,
        supervisor: service?.supervisor,
        pid: service?.pid,
        gateway: h.gateway,
      };
      if (h.ok) {
        return {
          name: "edge",
          ok: true,
          summary: `up on ${listen} (gateway ${h.gateway ?? "?"})`,
          details,
        };
      }
      return {
        name: "edge",
        ok: false,
        summary: service?.running ? `running but not answering on ${listen}` : "not running",
        details,
        problem: {
          message: service?.running
            ? `The edge runs but does not answer on ${listen}.`
            : "The edge is not running.",
          fix: "ecto connect --restart",
        },
      };
    },
  };
}
