/**
 * `ecto status`: one look at every layer, fast (no `openclaw` CLI calls on the
 * happy path: it reads files, asks `tailscale`, probes HTTP). `ok` only when
 * every layer holds; otherwise the first broken layer and its fix come first.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { readConnectionRecord } from "../core/connection_record.ts";
import { credentialsFileFor, keyPreview, readCredentials } from "../core/credentials.ts";
import type { Layers, LayerStatus, PublishMode } from "../core/layer_types.ts";
import { realLayers } from "./real_layers.ts";
import { describeExposure } from "../tailscale/exposures.ts";
import { planTakeover } from "./takeover.ts";

/** What the user asked for. */
export interface StatusOptions {
  /** Run the public check (a short proof). */
  publicCheck: boolean;
  /** Bound of the public check's DNS wait. */
  publicTimeoutMs?: number;
}

/** The status report. */
export interface StatusReport {
  /** True when no layer is broken. */
  ok: boolean;
  /** `public` (Funnel) or `private` (Serve: the URL works only inside the tailnet), from the record. */
  mode: PublishMode;
  /** The first broken layer, with its fix. */
  firstProblem?: { layer: string; message: string; fix?: string | undefined } | undefined;
  /**
   * Every layer's line, in order: exposure, tailscale, funnel, edge, gateway, credentials,
   * public (private mode: `serve` for `funnel`, `tailnet` for `public`).
   */
  layers: LayerStatus[];
}

/** Collects every layer's status. */
export async function status(
  ctx: EctoContext,
  options: StatusOptions,
  layers?: Layers,
): Promise<StatusReport> {
  const l = layers ?? realLayers();
  const record = await readConnectionRecord(ctx.paths);
  const mode: PublishMode = record.mode ?? "public";
  // Private mode checks the tailnet path instead of the public one, under its own name.
  const checkName = mode === "private" ? "tailnet" : "public";
  const [exposure, ts, edge, gateway, credentials] = await Promise.all([
    exposureStatus(ctx, l),
    l.tailscale.report(ctx, record),
    l.edge.report(ctx),
    l.openclaw.report(ctx),
    credentialsStatus(ctx),
  ]);
  const report: LayerStatus[] = [
    exposure,
    ts.tailscale,
    ts.funnel,
    edge,
    gateway,
    credentials.status,
  ];

  let publicStatus: LayerStatus;
  const healthy = report.every((layer) => layer.ok !== false);
  if (!options.publicCheck) {
    publicStatus = {
      name: checkName,
      ok: null,
      summary: mode === "private"
        ? "not checked (--no-public); private mode: the URL works only inside your tailnet"
        : "not checked (--no-public)",
      details: {},
    };
  } else if (!healthy || !ts.node || !ts.route || !credentials.key) {
    publicStatus = {
      name: checkName,
      ok: null,
      summary: "not checked: a layer above is broken",
      details: {},
    };
  } else {
    const proof = await l.proof(ctx, {
      url: ts.route.url,
      dnsName: ts.node.dnsName,
      port: ts.route.port,
      key: credentials.key,
      timeoutMs: options.publicTimeoutMs ?? 5_000,
      tailnetAddresses: ts.node.tailscaleIps,
      mode,
    });
    const ok = proof.authenticated.ok && proof.unauthenticated.ok;
    publicStatus = {
      name: checkName,
      ok: proof.path === "none" ? false : ok,
      summary: proof.detail,
      details: { path: proof.path, ms: proof.durationMs },
      ...(ok ? {} : {
        problem: {
          message: proof.detail,
          fix: `${
            mode === "private" ? "ecto connect --private" : "ecto connect"
          } (re-proves the path and repairs what is broken)`,
        },
      }),
    };
  }
  report.push(publicStatus);
  const broken = report.find((layer) => layer.ok === false);
  return {
    ok: broken === undefined,
    mode,
    ...(broken
      ? {
        firstProblem: {
          layer: broken.name,
          message: broken.problem?.message ?? broken.summary,
          fix: broken.problem?.fix,
        },
      }
      : {}),
    layers: report,
  };
}

async function credentialsStatus(ctx: EctoContext): Promise<{ status: LayerStatus; key?: string }> {
  const file = credentialsFileFor(ctx.paths);
  try {
    const creds = await readCredentials(file);
    if (!creds) {
      return {
        status: {
          name: "credentials",
          ok: false,
          summary: "no credentials file",
          details: { file: file },
          problem: { message: "ecto has not connected this machine yet.", fix: "ecto connect" },
        },
      };
    }
    return {
      key: creds.token,
      status: {
        name: "credentials",
        ok: true,
        summary: `key ${keyPreview(creds.token)}, ${creds.url}`,
        details: { file: file, created: creds.created, model: creds.model },
      },
    };
  } catch (error) {
    return {
      status: {
        name: "credentials",
        ok: false,
        summary: "unreadable credentials file",
        details: { file: file },
        problem: {
          message: error instanceof Error ? error.message : String(error),
          fix: "ecto connect --regenerate-token",
        },
      },
    };
  }
}

/**
 * The `exposure` line: every way the gateway itself is reachable beyond ecto's
 * edge: a Serve/Funnel handler (background or foreground, OpenClaw's own
 * claim included) whose target is the gateway, `gateway.tailscale.mode`, a
 * non-loopback bind.
 */
async function exposureStatus(ctx: EctoContext, l: Layers): Promise<LayerStatus> {
  let gateway;
  try {
    gateway = await l.openclaw.inspect(ctx);
  } catch {
    return {
      name: "exposure",
      ok: null,
      summary: "not checked: the OpenClaw config is unreadable",
      details: {},
    };
  }
  const routes = await l.tailscale.gatewayRoutes(ctx, {
    port: gateway.settings.port,
    isGateway: (port) => l.openclaw.answersAsGateway(ctx, port),
  });
  const plan = planTakeover({ routes, settings: gateway.settings, keepBind: false });
  const found: string[] = [
    ...routes.routes.map((r) => `a route publishes the gateway: ${describeExposure(r)}`),
    ...(plan.tailscaleOff
      ? [
        `gateway.tailscale.mode is ${gateway.settings.tailscaleMode}: the gateway publishes itself`,
      ]
      : []),
    ...(plan.bindExposed
      ? [`gateway.bind is ${gateway.settings.bind}: the gateway listens beyond this machine`]
      : []),
  ];
  const details = {
    routes: routes.routes.length,
    tailscaleMode: gateway.settings.tailscaleMode,
    bind: gateway.settings.bind,
    serveConfigRead: routes.read,
  };
  if (found.length === 0) {
    return {
      name: "exposure",
      ok: true,
      summary: routes.read
        ? "nothing publishes the gateway itself"
        : "the gateway is on loopback (Tailscale routes not readable)",
      details,
    };
  }
  return {
    name: "exposure",
    ok: false,
    summary: found[0],
    details,
    problem: {
      message: `The gateway's full operator API is exposed: ${found.join("; ")}.`,
      fix: plan.foreign.length > 0
        ? "Stop the foreground `tailscale funnel`/`serve` that publishes the gateway (Ctrl+C), then ecto connect"
        : `ecto connect --yes (takes it over: ${plan.changes.join("; ")})`,
    },
  };
}
