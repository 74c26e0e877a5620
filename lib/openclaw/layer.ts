/**
 * The OpenClaw layer as connect, status and disconnect see it: one validated
 * patch (live when possible), the gateway started only when it is not
 * running, and a final probe of the API with the gateway's own credential.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { EctoError } from "../core/errors.ts";
import type {
  GatewayConfigured,
  GatewayInspection,
  LayerStatus,
  OpenClawLayer,
  StepResult,
} from "../core/layer_types.ts";
import {
  applyMergePatch,
  applyOpenClawPlan,
  blockedLegacyMigration,
  ensureGatewayRunning,
  forgetGatewayDevice,
  GATEWAY_LOG_PATH,
  type GatewayDeps,
  gatewayHealth,
  gatewayLimits,
  inspectGatewaySettings,
  loadOpenClaw,
  openClawEnvLookup,
  planOpenClaw,
  probeGatewayApi,
  readOpenClawConfig,
  readOpenClawSnapshot,
  resolveOpenClawLocation,
  undoOpenClaw,
} from "./mod.ts";

function gatewayDeps(ctx: EctoContext): GatewayDeps {
  return {
    $: ctx.$,
    fetch: ctx.fetch,
    env: ctx.env,
    events: ctx.events,
    now: ctx.now,
    sleep: ctx.sleep,
    limits: gatewayLimits(ctx.env),
  };
}

/** The variables the edge's supervisor passes on (locations only, never a secret). */
const EDGE_ENV_NAMES = [
  "HOME",
  "PATH",
  "DENO_DIR",
  "ECTO_STATE_DIR",
  "OPENCLAW_STATE_DIR",
  "OPENCLAW_CONFIG_PATH",
  "OPENCLAW_HOME",
];

/** The environment as the supervised edge sees it. */
export function edgeEnv(env: (name: string) => string | undefined) {
  return (name: string): string | undefined =>
    EDGE_ENV_NAMES.includes(name) ? env(name) : undefined;
}

/** Where a gateway ecto starts writes its output (the seed's path; tests override it). */
function gatewayLog(ctx: EctoContext): string {
  return ctx.env("ECTO_OPENCLAW_LOG") ?? GATEWAY_LOG_PATH;
}

/**
 * The model id a client should send: `openclaw/default` with one agent; with
 * several, `openclaw/default` is refused by the gateway, so name an agent.
 */
export function chooseModel(ids: readonly string[]): string {
  const agents = ids.filter((id) => id.startsWith("openclaw/") && id !== "openclaw/default");
  if (agents.length <= 1) return "openclaw/default";
  return agents.includes("openclaw/main") ? "openclaw/main" : agents[0]!;
}

async function listModels(ctx: EctoContext, url: string, credential: string): Promise<string[]> {
  try {
    const response = await ctx.fetch(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${credential}` },
      signal: AbortSignal.timeout(15_000),
    });
    const body = await response.json() as { data?: Array<{ id?: unknown }> };
    return (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string");
  } catch {
    return [];
  }
}

/** Restores the gateway settings ecto changed, from its snapshot. */
async function restoreSettings(ctx: EctoContext): Promise<StepResult> {
  const snapshot = await readOpenClawSnapshot(ctx.env);
  if (!snapshot) return { detail: "ecto changed no gateway settings." };
  const state = await loadOpenClaw({ env: ctx.env });
  const result = await undoOpenClaw(gatewayDeps(ctx), {
    cli: state.cli,
    state,
    logPath: gatewayLog(ctx),
  });
  return result.restored
    ? {
      changed: true,
      detail: `Restored the gateway settings ecto changed (${result.keys.join(", ")}).`,
    }
    : { detail: "ecto changed no gateway settings." };
}

/** Removes ecto's device pairing from the gateway (purge); one sentence when it did. */
async function forgetDevice(ctx: EctoContext): Promise<string | undefined> {
  const location = resolveOpenClawLocation(ctx.env);
  const settings = await readOpenClawConfig(location.configPath).then(
    async (file) =>
      inspectGatewaySettings(file.config, await openClawEnvLookup(ctx.env, location.stateDir)),
    () => undefined,
  );
  if (!settings) return undefined;
  const result = await forgetGatewayDevice(ctx, {
    url: settings.url,
    credential: settings.credential,
  });
  // "kept" (gateway down or refusing): the identity stays for the next run, nothing to say.
  return result === "removed" ? "Removed ecto's device pairing from the gateway." : undefined;
}

/** Builds the OpenClaw layer. */
export function openclawLayer(): OpenClawLayer {
  return {
    async configure(ctx, options): Promise<GatewayConfigured> {
      const deps = gatewayDeps(ctx);
      const state = await loadOpenClaw({ env: ctx.env });
      const plan = planOpenClaw(state.file.config, {
        configPath: state.location.configPath,
        env: state.env,
        allowNonLoopback: options.keepBind,
        ...(options.rotateCredential ? { rotateCredential: true } : {}),
        ...(options.tailscaleOff ? { tailscaleOff: true } : {}),
      });
      // The edge runs under a supervisor that passes no secrets: what it can resolve itself.
      const edgeView = inspectGatewaySettings(
        applyMergePatch(state.file.config, plan.patch),
        await openClawEnvLookup(edgeEnv(ctx.env), state.location),
      ).credential?.value;
      const edgeNeedsCopy = edgeView === plan.credential.value ? undefined : plan.credential.value;
      const logPath = gatewayLog(ctx);
      const parts: string[] = [];
      let changed = false;
      let restarted = false;
      if (Object.keys(plan.patch).length > 0) {
        const applied = await applyOpenClawPlan(deps, plan, { cli: state.cli, logPath });
        changed = applied.changed;
        restarted = applied.restart !== undefined;
        parts.push(
          `Applied ${plan.changes.length} setting(s) in one patch` +
            (applied.cliMs === undefined
              ? ""
              : ` (${applied.writer === "gateway" ? "gateway API" : "CLI"} ${
                (applied.cliMs / 1000).toFixed(1)
              } s`) +
            (applied.liveMs === undefined
              ? (applied.cliMs === undefined ? "" : ")")
              : `, live ${(applied.liveMs / 1000).toFixed(1)} s later)`) +
            (restarted ? "; the gateway restarted" : "; no restart") + ".",
        );
      }
      const running = await ensureGatewayRunning(deps, {
        cli: state.cli,
        url: plan.url,
        logPath,
        secrets: [plan.credential.value],
      });
      if (!running.alreadyRunning) {
        changed = true;
        parts.push(
          `Started the gateway (${running.startedBy}, ready in ${
            (running.readyMs / 1000).toFixed(1)
          } s).`,
        );
      }
      // The probe and the model list are independent requests: one round trip, not two.
      const [probe, models] = await Promise.all([
        probeGatewayApi(ctx.fetch, plan.url, plan.credential.value),
        listModels(ctx, plan.url, plan.credential.value),
      ]);
      if (probe.state !== "ok") {
        throw new EctoError(
          "gateway_api_not_ready",
          `The gateway's API did not answer as expected (${probe.state}: ${probe.withoutCredential} without a token, ${probe.withCredential} with it).`,
          { fix: `Check the gateway log (${running.logPath}), then run ecto connect --restart.` },
        );
      }
      const model = chooseModel(models);
      if (parts.length === 0) {
        parts.push(
          `The gateway on ${plan.url} is already configured (endpoint on, token auth, ${plan.after.bind}).`,
        );
      }
      return {
        port: plan.after.port,
        url: plan.url,
        configPath: state.location.configPath,
        model,
        restarted,
        changed,
        detail: parts.join(" "),
        ...(plan.retired ? { retired: plan.retired.value } : {}),
        ...(edgeNeedsCopy ? { edgeNeedsCopy } : {}),
      };
    },

    async inspect(ctx): Promise<GatewayInspection> {
      const location = resolveOpenClawLocation(ctx.env);
      const file = await readOpenClawConfig(location.configPath);
      const env = await openClawEnvLookup(ctx.env, location);
      return {
        location,
        exists: file.exists,
        settings: inspectGatewaySettings(file.config, env),
        config: file.config,
        env,
      };
    },

    async answersAsGateway(ctx, port): Promise<boolean> {
      // OpenClaw's private Tailscale listener is the gateway's own HTTP server: its `/healthz`
      // answers exactly `{"ok":true,"status":"live"}` (recorded with 2026.9.6).
      try {
        const response = await ctx.fetch(`http://127.0.0.1:${port}/healthz`, {
          signal: AbortSignal.timeout(3_000),
        });
        const body = await response.json().catch(() => undefined) as
          | { ok?: unknown; status?: unknown }
          | undefined;
        return response.status === 200 && body?.ok === true && body.status === "live";
      } catch {
        return false;
      }
    },

    async undo(ctx): Promise<StepResult> {
      const restored = await restoreSettings(ctx);
      const forgotten = await forgetDevice(ctx);
      return forgotten ? { changed: true, detail: `${restored.detail} ${forgotten}` } : restored;
    },

    async report(ctx): Promise<LayerStatus> {
      const location = resolveOpenClawLocation(ctx.env);
      let settings;
      try {
        const file = await readOpenClawConfig(location.configPath);
        if (!file.exists) {
          const message = `no OpenClaw config found at ${location.configPath}`;
          return {
            name: "gateway",
            ok: false,
            summary: message,
            details: { config: location.configPath, stateDir: location.stateDir },
            problem: {
              message: `There is no OpenClaw config at ${location.configPath}.`,
              fix:
                "Set up OpenClaw (openclaw onboard), or point ecto at your config with --profile, OPENCLAW_STATE_DIR or OPENCLAW_CONFIG_PATH.",
            },
          };
        }
        settings = inspectGatewaySettings(file.config, await openClawEnvLookup(ctx.env, location));
        const blocked = blockedLegacyMigration(ctx.env);
        if (blocked) {
          const message =
            `OpenClaw's migration from ${blocked.source} is blocked by an existing ${blocked.target}; the gateway will not start.`;
          return {
            name: "gateway",
            ok: false,
            summary: message,
            details: { config: location.configPath },
            problem: {
              message,
              fix:
                `Move ${blocked.target}/ecto-credentials.json into ${blocked.source}, remove the empty ${blocked.target}, then ecto connect`,
            },
          };
        }
      } catch (error) {
        const e = error instanceof EctoError ? error : undefined;
        return {
          name: "gateway",
          ok: false,
          summary: e?.message ?? String(error),
          details: { config: location.configPath },
          problem: { message: e?.message ?? String(error), fix: e?.fix },
        };
      }
      const health = await gatewayHealth(ctx.fetch, settings.url);
      const details = {
        url: settings.url,
        port: settings.port,
        bind: settings.bind,
        endpoint: settings.chatCompletions ? "on" : "off",
        auth: settings.effectiveAuthMode,
        config: location.configPath,
        ready: health.ready,
      };
      const problem = !health.live
        ? {
          message: `The gateway does not answer on ${settings.url}.`,
          fix: "ecto connect --restart (starts it)",
        }
        : !health.ready
        ? {
          message: "The gateway answers but is not ready yet.",
          fix: "Wait a few seconds, or check its log.",
        }
        : !settings.chatCompletions
        ? {
          message: "The gateway's chat completions endpoint is off.",
          fix: "ecto connect --restart",
        }
        : undefined;
      return problem
        ? { name: "gateway", ok: false, summary: problem.message, details, problem }
        : {
          name: "gateway",
          ok: true,
          summary: `ready on ${settings.url} (bind ${settings.bind}, endpoint on)`,
          details,
        };
    },
  };
}
