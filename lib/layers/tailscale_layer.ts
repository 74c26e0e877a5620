/**
 * The Tailscale layer bound for connect, status and disconnect: finds the CLI
 * once per run, and turns the layer's results into step results.
 *
 * @module
 */
import type { ConnectionRecord } from "../connection_record.ts";
import type { EctoContext } from "../context.ts";
import { ActionRequiredError, EctoError, MissingPrerequisiteError } from "../errors.ts";
import type {
  GatewayRoutes,
  LayerStatus,
  StepResult,
  TailscaleFound,
  TailscaleLayer,
  TailscaleNode,
  TailscaleReport,
} from "../layers.ts";
import {
  allowedFunnelPorts,
  assertSupportedVersion,
  cliFromInstall,
  enableFunnel,
  findEctoRoute,
  funnelUrl,
  getServeConfig,
  getStatus,
  installTailscale,
  locateTailscale,
  login,
  removeFunnel,
  startTailscaleDaemon,
  type TailscaleCli,
  type TailscaleInstall,
  type TailscaleStatus,
} from "../tailscale.ts";
import { edgeTarget } from "./edge_address.ts";
import { removeGatewayExposures } from "../tailscale/gateway_routes.ts";
import {
  describeExposure,
  findGatewayExposures,
  foregroundLoopbackPorts,
} from "../tailscale/serve_config.ts";

/** Where to fix tailnet-wide settings. */
export const ADMIN_DNS_URL = "https://login.tailscale.com/admin/dns";
/** The policy file (node attributes, funnel ports). */
export const ADMIN_POLICY_URL = "https://login.tailscale.com/admin/acls/file";

/** Builds the Tailscale layer. */
export function tailscaleLayer(): TailscaleLayer {
  let found: TailscaleInstall | undefined;
  let lastStatus: TailscaleStatus | undefined;

  const cli = (ctx: EctoContext, install: TailscaleInstall): TailscaleCli => {
    const user = ctx.env("SUDO_USER") ?? ctx.env("USER");
    return cliFromInstall(install, { $: ctx.$, ...(user ? { user } : {}) });
  };

  const locate = async (ctx: EctoContext): Promise<TailscaleInstall | undefined> => {
    found ??= await locateTailscale({ $: ctx.$, env: ctx.env, os: ctx.os });
    return found;
  };

  const located = async (ctx: EctoContext): Promise<TailscaleInstall> => {
    const install = await locate(ctx);
    if (!install) {
      throw new MissingPrerequisiteError("tailscale_missing", "Tailscale is not installed.", {
        fix: "ecto connect --yes (installs it), or install it from https://tailscale.com/download",
      });
    }
    return install;
  };

  const nodeOf = (status: TailscaleStatus, detail: string, changed: boolean): TailscaleNode => {
    if (!status.dnsName) {
      throw new EctoError(
        "tailscale_no_dns_name",
        "Tailscale is connected but has no DNS name yet.",
        {
          fix: "Wait a few seconds and run ecto connect again.",
        },
      );
    }
    return {
      dnsName: status.dnsName,
      tailnet: status.tailnetName,
      tailscaleIps: status.tailscaleIps,
      funnelPorts: allowedFunnelPorts(status),
      detail,
      changed,
    };
  };

  return {
    async ensureInstalled(ctx): Promise<TailscaleFound> {
      let install = await locate(ctx);
      let changed = false;
      if (!install) {
        await installTailscale({
          $: ctx.$,
          consent: ctx.consent,
          os: ctx.os,
          interactive: ctx.interactive,
          events: ctx.events,
        });
        found = undefined;
        install = await located(ctx);
        changed = true;
      }
      if (install.version) assertSupportedVersion(install.version, install.variant);
      const version = install.version?.short ?? "unknown version";
      return {
        path: install.path,
        variant: install.variant,
        version,
        changed,
        detail: `${
          changed ? "Installed" : "Found"
        } Tailscale ${version} (${install.variant}) at ${install.path}.`,
      };
    },

    async ensureRunning(ctx): Promise<StepResult> {
      const install = await located(ctx);
      const handle = cli(ctx, install);
      try {
        const status = await getStatus(handle);
        return { detail: `The Tailscale daemon is running (${status.backendState}).` };
      } catch (error) {
        if (!(error instanceof EctoError) || error.code !== "tailscale_not_running") throw error;
        await startTailscaleDaemon(install, handle, {
          consent: ctx.consent,
          os: ctx.os,
          interactive: ctx.interactive,
          events: ctx.events,
        });
        return {
          changed: true,
          detail: `Started the Tailscale daemon (${install.startHint.command}).`,
        };
      }
    },

    async ensureLoggedIn(ctx, _found, options): Promise<TailscaleNode> {
      const handle = cli(ctx, await located(ctx));
      // Without a person at a terminal nobody can open the URL while we wait: surface it
      // and stop (exit 3); the re-run resumes the pending login.
      const result = await login(handle, {
        ...(options.authKey ? { authKey: options.authKey } : {}),
        timeoutMs: options.timeoutMs,
        noWait: !ctx.interactive && !options.authKey,
        events: ctx.events,
      });
      lastStatus = result.status;
      return nodeOf(result.status, result.detail, result.changed);
    },

    async checkFunnelReady(ctx): Promise<StepResult> {
      const status = lastStatus ?? await getStatus(cli(ctx, await located(ctx)));
      return checkPrerequisites(ctx, cli, located, status);
    },

    async current(ctx): Promise<TailscaleNode> {
      const status = await getStatus(cli(ctx, await located(ctx)));
      if (!status.connected) {
        throw new ActionRequiredError("tailscale_not_connected", status.meaning, {
          fix: "ecto connect (without --restart) logs in and starts Tailscale.",
        });
      }
      return nodeOf(status, `Tailscale is connected as ${status.dnsName}.`, false);
    },

    async publish(ctx, _node, options) {
      const route = await enableFunnel(cli(ctx, await located(ctx)), {
        target: options.target,
        ...(options.port === undefined ? {} : { preferredPort: options.port }),
        events: ctx.events,
      });
      return { port: route.port, changed: route.changed, detail: route.detail };
    },

    async unpublish(ctx, options): Promise<StepResult> {
      const install = await locate(ctx);
      if (!install) return { detail: "Tailscale is not installed: no route to remove." };
      const target = options.target ?? edgeTarget(ctx);
      try {
        const result = await removeFunnel(cli(ctx, install), {
          target,
          ...(options.port === undefined ? {} : { port: options.port }),
          events: ctx.events,
        });
        return { changed: result.removed.length > 0, detail: result.detail };
      } catch (error) {
        if (error instanceof EctoError && error.code === "tailscale_not_running") {
          ctx.events({
            kind: "note",
            step: "funnel.route",
            level: "warn",
            message: "Tailscale is not running, so ecto's route could not be removed; " +
              "run ecto disconnect again once it runs.",
          });
          return {
            detail: "Tailscale is not running: the route was left for the next disconnect.",
          };
        }
        throw error;
      }
    },

    report: (ctx, record) => report(ctx, record, locate, cli),

    async gatewayRoutes(ctx, options): Promise<GatewayRoutes> {
      const none: GatewayRoutes = { read: false, routes: [], gatewayPorts: [options.port] };
      const install = await locate(ctx).catch(() => undefined);
      if (!install) return none;
      let config;
      try {
        config = await getServeConfig(cli(ctx, install));
      } catch {
        return none;
      }
      const ports = [options.port];
      for (const p of foregroundLoopbackPorts(config)) {
        if (p !== options.port && await options.isGateway(p)) ports.push(p);
      }
      return { read: true, routes: findGatewayExposures(config, ports), gatewayPorts: ports };
    },

    async removeGatewayRoutes(ctx, options): Promise<StepResult> {
      const result = await removeGatewayExposures(cli(ctx, await located(ctx)), {
        exposures: options.routes,
        gatewayPorts: options.gatewayPorts,
        events: ctx.events,
      });
      return result.removed.length === 0
        ? { detail: "No route straight to the gateway to remove." }
        : {
          changed: true,
          detail: `Removed ${result.removed.length} route(s) straight to the gateway: ${
            result.removed.map(describeExposure).join("; ")
          }${result.othersUnchanged ? "; every other route is as it was" : ""}.`,
        };
    },
  };
}

async function checkPrerequisites(
  ctx: EctoContext,
  cli: (ctx: EctoContext, install: TailscaleInstall) => TailscaleCli,
  located: (ctx: EctoContext) => Promise<TailscaleInstall>,
  status: TailscaleStatus,
): Promise<StepResult> {
  if (!status.magicDnsEnabled) {
    throw new ActionRequiredError(
      "magicdns_disabled",
      "MagicDNS is off for your tailnet; Funnel needs it.",
      {
        url: ADMIN_DNS_URL,
        fix: `Turn on MagicDNS at ${ADMIN_DNS_URL}, then run ecto connect again.`,
      },
    );
  }
  if (!status.httpsCapable) {
    throw new ActionRequiredError(
      "https_not_enabled",
      "HTTPS certificates are off for your tailnet; Funnel needs them.",
      {
        url: ADMIN_DNS_URL,
        fix: `Enable HTTPS Certificates at ${ADMIN_DNS_URL}, then run ecto connect again.`,
      },
    );
  }
  if (!status.funnelAllowed) {
    // Ask the CLI's own enable flow for the node's enable URL. When Funnel is not allowed it
    // prints the URL and changes nothing; enableFunnel turns that into exit 3 with the URL.
    await enableFunnel(cli(ctx, await located(ctx)), {
      target: edgeTarget(ctx),
      events: ctx.events,
    });
    return { changed: true, detail: "Funnel was just enabled for this node." };
  }
  const ports = allowedFunnelPorts(status);
  if (!ports.includes(443)) {
    throw new ActionRequiredError(
      "funnel_port_not_allowed",
      "Your tailnet policy does not allow Funnel on port 443, and the Tailscale CLI checks 443 for every Funnel.",
      {
        url: ADMIN_POLICY_URL,
        fix:
          `Add 443 to the funnel-ports node attribute in ${ADMIN_POLICY_URL}, then run ecto connect again.`,
      },
    );
  }
  return { detail: `MagicDNS, HTTPS and Funnel are on (ports ${ports.join(", ")}).` };
}

async function report(
  ctx: EctoContext,
  record: ConnectionRecord,
  locate: (ctx: EctoContext) => Promise<TailscaleInstall | undefined>,
  cli: (ctx: EctoContext, install: TailscaleInstall) => TailscaleCli,
): Promise<TailscaleReport> {
  const funnelUnknown = (summary: string): LayerStatus => ({
    name: "funnel",
    ok: null,
    summary,
    details: {},
  });
  const install = await locate(ctx).catch(() => undefined);
  if (!install) {
    return {
      tailscale: {
        name: "tailscale",
        ok: false,
        summary: "not installed",
        details: {},
        problem: { message: "Tailscale is not installed.", fix: "ecto connect --yes" },
      },
      funnel: funnelUnknown("not checked"),
    };
  }
  const handle = cli(ctx, install);
  const base = {
    path: install.path,
    variant: install.variant,
    version: install.version?.short,
  };
  let status: TailscaleStatus;
  try {
    status = await getStatus(handle);
  } catch (error) {
    const e = error instanceof EctoError ? error : undefined;
    return {
      tailscale: {
        name: "tailscale",
        ok: false,
        summary: e?.message ?? String(error),
        details: base,
        problem: { message: e?.message ?? String(error), fix: e?.fix },
      },
      funnel: funnelUnknown("not checked"),
    };
  }
  const details = {
    ...base,
    state: status.backendState,
    dnsName: status.dnsName,
    tailnet: status.tailnetName,
    funnelAllowed: status.funnelAllowed,
    funnelPorts: allowedFunnelPorts(status).join(", "),
  };
  const tailscale: LayerStatus = status.connected
    ? {
      name: "tailscale",
      ok: true,
      summary: `${status.backendState} as ${status.dnsName}`,
      details,
    }
    : {
      name: "tailscale",
      ok: false,
      summary: status.meaning,
      details,
      problem: { message: status.meaning, fix: "ecto connect" },
    };
  if (!status.connected || !status.dnsName) {
    return { tailscale, funnel: funnelUnknown("not checked") };
  }

  let config;
  try {
    config = await getServeConfig(handle);
  } catch (error) {
    const e = error instanceof EctoError ? error : undefined;
    return {
      tailscale,
      funnel: {
        name: "funnel",
        ok: false,
        summary: "could not read the serve config",
        details: {},
        problem: { message: e?.message ?? String(error), fix: e?.fix },
      },
    };
  }
  const target = record.funnelTarget ?? edgeTarget(ctx);
  const route = findEctoRoute(config, status.dnsName, target);
  const node: TailscaleNode = {
    dnsName: status.dnsName,
    tailnet: status.tailnetName,
    tailscaleIps: status.tailscaleIps,
    funnelPorts: allowedFunnelPorts(status),
    detail: "",
  };
  const foreign = [...config.tcp.keys()].filter((p) => p !== route?.port).sort((a, b) => a - b);
  const funnelDetails = { target, otherPorts: foreign.length ? foreign.join(", ") : "none" };
  if (!route) {
    return {
      tailscale,
      node,
      funnel: {
        name: "funnel",
        ok: false,
        summary: "no ecto route",
        details: funnelDetails,
        problem: { message: "ecto's Funnel route is not there.", fix: "ecto connect" },
      },
    };
  }
  const url = funnelUrl(status.dnsName, route.port).replace(/\/$/, "");
  const funnelOn = route.funnel;
  return {
    tailscale,
    node,
    route: { port: route.port, url },
    funnel: {
      name: "funnel",
      ok: funnelOn,
      summary: `${url} → ${target} (ours${funnelOn ? ", Funnel on" : ", Funnel OFF"})`,
      details: { port: route.port, ...funnelDetails },
      ...(funnelOn ? {} : {
        problem: {
          message: "ecto's route is there but Funnel is off for its port.",
          fix: "ecto connect",
        },
      }),
    },
  };
}
