/**
 * The Tailscale layer bound for connect, status and disconnect: finds the CLI
 * once per run, and turns the layer's results into step results.
 *
 * @module
 */
import type { ConnectionRecord } from "../core/connection_record.ts";
import type { EctoContext } from "../core/context.ts";
import { ActionRequiredError, EctoError, MissingPrerequisiteError } from "../core/errors.ts";
import type {
  GatewayRoutes,
  LayerStatus,
  PublishMode,
  StepResult,
  TailscaleFound,
  TailscaleLayer,
  TailscaleNode,
  TailscaleReport,
} from "../core/layer_types.ts";
import {
  ADMIN_DNS_URL,
  ADMIN_POLICY_URL,
  allowedFunnelPorts,
  assertNotKnownBroken,
  assertSupportedVersion,
  breakageFor,
  cliFromInstall,
  enableFunnel,
  findEctoRoute,
  funnelStatusProblem,
  funnelUrl,
  installTailscale,
  knownBrokenError,
  login,
  removeFunnel,
  startTailscaleDaemon,
  type TailscaleCli,
  type TailscaleInstall,
  type TailscaleStatus,
} from "./mod.ts";
import { edgeTarget } from "../core/addresses.ts";
import { removeGatewayExposures } from "./gateway_routes.ts";
import { type TailscaleProbe, tailscaleProbe } from "./probe.ts";
import { describeExposure, findGatewayExposures, foregroundLoopbackPorts } from "./serve_config.ts";
import { enableServe } from "./serve.ts";

export { ADMIN_DNS_URL, ADMIN_POLICY_URL } from "./mod.ts";

/** The Tailscale layer, and the reads it shares with the preflight. */
export interface TailscaleLayerWithProbe extends TailscaleLayer {
  /** This run's memoised reads of Tailscale (built on first use with that context). */
  probe(ctx: EctoContext): TailscaleProbe;
}

/**
 * Builds the Tailscale layer. One instance serves one command: what it reads (the CLI and its
 * version, the status, the serve config) it reads once, until it changes something.
 */
export function tailscaleLayer(): TailscaleLayerWithProbe {
  let reads: TailscaleProbe | undefined;
  let routesLooked = false;

  const cli = (ctx: EctoContext, install: TailscaleInstall): TailscaleCli => {
    const user = ctx.env("SUDO_USER") ?? ctx.env("USER");
    return cliFromInstall(install, { $: ctx.$, ...(user ? { user } : {}) });
  };
  const probe = (ctx: EctoContext): TailscaleProbe =>
    reads ??= tailscaleProbe({ $: ctx.$, env: ctx.env, os: ctx.os, cli: (i) => cli(ctx, i) });

  const locate = (ctx: EctoContext): Promise<TailscaleInstall | undefined> => probe(ctx).install();

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
    probe,

    async ensureInstalled(ctx, options): Promise<TailscaleFound> {
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
        probe(ctx).forget("install");
        install = await located(ctx);
        changed = true;
      }
      if (install.version) assertSupportedVersion(install.version, install.variant);
      assertNotKnownBroken(install.version?.short, install.variant, "cli", options?.mode);
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

    async ensureRunning(ctx, _found, options): Promise<StepResult> {
      const install = await located(ctx);
      const handle = cli(ctx, install);
      let status: TailscaleStatus | undefined;
      try {
        status = await probe(ctx).status();
      } catch (error) {
        // Only a daemon that is not there gets started; a stale socket or a failing app
        // CLI carries its own fix and is thrown as is (no start command, no wait).
        if (!(error instanceof EctoError) || error.code !== "tailscale_not_running") throw error;
      }
      if (status) {
        // The daemon may be older or newer than the CLI (e.g. not restarted after an upgrade).
        assertNotKnownBroken(status.version, install.variant, "daemon", options?.mode);
        return { detail: `The Tailscale daemon is running (${status.backendState}).` };
      }
      await startTailscaleDaemon(install, handle, {
        consent: ctx.consent,
        os: ctx.os,
        interactive: ctx.interactive,
        events: ctx.events,
      });
      probe(ctx).forget("status");
      probe(ctx).forget("serve");
      return {
        changed: true,
        detail: `Started the Tailscale daemon (${install.startHint.command}).`,
      };
    },

    async ensureLoggedIn(ctx, _found, options): Promise<TailscaleNode> {
      const handle = cli(ctx, await located(ctx));
      const reads = probe(ctx);
      // Without a person at a terminal nobody can open the URL while we wait: surface it
      // and stop (exit 3); the re-run resumes the pending login.
      const result = await login(handle, {
        ...(options.authKey ? { authKey: options.authKey } : {}),
        timeoutMs: options.timeoutMs,
        noWait: !ctx.interactive && !options.authKey,
        events: ctx.events,
        status: await reads.status(),
      });
      if (result.changed) reads.forget("serve");
      reads.knowStatus(result.status);
      return nodeOf(result.status, result.detail, result.changed);
    },

    async checkFunnelReady(ctx, _node, options): Promise<StepResult> {
      const reads = probe(ctx);
      const status = await reads.status();
      const result = options?.mode === "private"
        ? await checkServePrerequisites(ctx, cli, located, status)
        : await checkPrerequisites(ctx, cli, located, status);
      if (result.changed) {
        reads.forget("status");
        reads.forget("serve");
      }
      return result;
    },

    async current(ctx, options): Promise<TailscaleNode> {
      const install = await located(ctx);
      const status = await probe(ctx).status();
      assertNotKnownBroken(status.version, install.variant, "daemon", options?.mode);
      if (!status.connected) {
        throw new ActionRequiredError("tailscale_not_connected", status.meaning, {
          fix: "ecto connect (without --restart) logs in and starts Tailscale.",
        });
      }
      return nodeOf(status, `Tailscale is connected as ${status.dnsName}.`, false);
    },

    async publish(ctx, _node, options) {
      const reads = probe(ctx);
      const handle = cli(ctx, await located(ctx));
      let route;
      try {
        if (options.mode === "private") {
          route = await enableServe(handle, {
            target: options.target,
            preferredPort: options.port,
            events: ctx.events,
          });
        } else {
          const [status, config] = await Promise.all([reads.status(), reads.serveConfig()]);
          route = await enableFunnel(handle, {
            target: options.target,
            ...(options.port === undefined ? {} : { preferredPort: options.port }),
            events: ctx.events,
            status,
            config,
          });
        }
      } finally {
        reads.forget("serve");
      }
      // The switch's other half: ecto's routes on other ports (either mode) go, and only those.
      if (route.others.length === 0) {
        return { port: route.port, changed: route.changed, detail: route.detail };
      }
      const left = await removeFunnel(handle, {
        target: options.target,
        exceptPort: route.port,
        events: ctx.events,
      });
      reads.forget("serve");
      if (left.removed.length === 0) {
        return { port: route.port, changed: route.changed, detail: route.detail };
      }
      return {
        port: route.port,
        changed: true,
        detail: `${route.detail} ${left.detail}`,
      };
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
        }).finally(() => probe(ctx).forget("serve"));
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

    report: (ctx, record) => report(ctx, record, probe(ctx)),

    async gatewayRoutes(ctx, options): Promise<GatewayRoutes> {
      const none: GatewayRoutes = { read: false, routes: [], gatewayPorts: [options.port] };
      const install = await locate(ctx).catch(() => undefined);
      if (!install) return none;
      // The first look shares the command's read; a later one (the take-over's check that the
      // gateway dropped its route, polled) must see what Tailscale holds now.
      const reads = probe(ctx);
      if (routesLooked) reads.forget("serve");
      routesLooked = true;
      let config;
      try {
        config = await reads.serveConfig();
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
      }).finally(() => probe(ctx).forget("serve"));
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

/**
 * Private mode needs MagicDNS and HTTPS certificates (for the https URL), not
 * Funnel: no funnel attribute, no funnel-ports policy. With HTTPS off, the
 * Serve consent flow gives the link (exit 3).
 */
async function checkServePrerequisites(
  ctx: EctoContext,
  cli: (ctx: EctoContext, install: TailscaleInstall) => TailscaleCli,
  located: (ctx: EctoContext) => Promise<TailscaleInstall>,
  status: TailscaleStatus,
): Promise<StepResult> {
  if (!status.magicDnsEnabled) {
    throw new ActionRequiredError(
      "magicdns_disabled",
      "MagicDNS is off for your tailnet; the private URL needs it.",
      {
        url: ADMIN_DNS_URL,
        fix: `Turn on MagicDNS at ${ADMIN_DNS_URL}, then run ecto connect --private again.`,
      },
    );
  }
  if (!status.httpsCapable) {
    await enableServe(cli(ctx, await located(ctx)), {
      target: edgeTarget(ctx),
      events: ctx.events,
    });
    return { changed: true, detail: "HTTPS certificates were just enabled for this node." };
  }
  return { detail: "MagicDNS and HTTPS certificates are on (Serve needs no Funnel permission)." };
}

async function checkPrerequisites(
  ctx: EctoContext,
  cli: (ctx: EctoContext, install: TailscaleInstall) => TailscaleCli,
  located: (ctx: EctoContext) => Promise<TailscaleInstall>,
  status: TailscaleStatus,
): Promise<StepResult> {
  if (!status.magicDnsEnabled) throw funnelStatusProblem(status);
  if (!status.httpsCapable || !status.funnelAllowed) {
    // Ask the CLI's own consent flow for the node's enable URL: with HTTPS off too it is one
    // link that turns on HTTPS certificates and Funnel together. When a capability is missing
    // the CLI prints the URL and changes nothing; enableFunnel turns that into exit 3.
    try {
      await enableFunnel(cli(ctx, await located(ctx)), {
        target: edgeTarget(ctx),
        events: ctx.events,
      });
    } catch (error) {
      throw consentFlowError(error, status);
    }
    return { changed: true, detail: "HTTPS and Funnel were just enabled for this node." };
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

/**
 * What the consent flow's failure means for the user: the single enable URL
 * (HTTPS and Funnel together) when the control plane gave one; the admin
 * console only when it gave none (self-hosted control, or no permission).
 */
export function consentFlowError(error: unknown, status: TailscaleStatus): unknown {
  if (!(error instanceof ActionRequiredError)) return error;
  if (error.code !== "funnel_not_enabled" && error.code !== "https_not_enabled") return error;
  const fromControl = error.url !== undefined && /\/f\//.test(error.url);
  if (fromControl) {
    if (status.httpsCapable) return error;
    return new ActionRequiredError(
      "https_not_enabled",
      "HTTPS certificates and Funnel are off for this node; open the link (as a tailnet admin): it turns both on, then run ecto connect again.",
      { url: error.url, fix: error.url, cause: error },
    );
  }
  if (!status.httpsCapable || error.code === "https_not_enabled") {
    return new ActionRequiredError(
      "https_not_enabled",
      "HTTPS certificates are off for your tailnet and Tailscale offered no link to turn them on; a tailnet admin must enable them in the admin console.",
      {
        url: ADMIN_DNS_URL,
        fix: `Enable HTTPS Certificates at ${ADMIN_DNS_URL}, then run ecto connect again.`,
        cause: error,
      },
    );
  }
  return new ActionRequiredError(
    "funnel_not_enabled",
    'Funnel is not allowed for this node and Tailscale offered no link to allow it; a tailnet admin must add the "funnel" node attribute in the policy file.',
    {
      url: ADMIN_POLICY_URL,
      fix: `Add the funnel node attribute at ${ADMIN_POLICY_URL}, then run ecto connect again.`,
      cause: error,
    },
  );
}

async function report(
  ctx: EctoContext,
  record: ConnectionRecord,
  reads: TailscaleProbe,
): Promise<TailscaleReport> {
  const funnelUnknown = (summary: string): LayerStatus => ({
    name: "funnel",
    ok: null,
    summary,
    details: {},
  });
  // All three reads at once: the version, the status and the serve config.
  reads.prefetch();
  const install = await reads.install().catch(() => undefined);
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
  const base = {
    path: install.path,
    variant: install.variant,
    version: install.version?.short,
  };
  let status: TailscaleStatus;
  try {
    status = await reads.status();
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
  // Private mode (Serve) is not hit by a Funnel-only breakage.
  const mode: PublishMode = record.mode ?? "public";
  const broken = breakageFor(status.version, mode) ?? breakageFor(install.version?.short, mode);
  if (broken) {
    const which = breakageFor(status.version, mode) ? "daemon" : "cli";
    const e = knownBrokenError(
      (which === "daemon" ? status.version : install.version?.short) ?? "",
      broken,
      install.variant,
      which,
    );
    return {
      tailscale: {
        name: "tailscale",
        ok: false,
        summary: `Tailscale ${broken.first}–${broken.last} breaks Funnel (${broken.symptom})`,
        details: { ...base, state: status.backendState, dnsName: status.dnsName },
        problem: { message: e.message, fix: e.fix },
      },
      funnel: funnelUnknown(`not usable on this Tailscale version (${broken.symptom})`),
    };
  }
  const details = {
    ...base,
    state: status.backendState,
    dnsName: status.dnsName,
    tailnet: status.tailnetName,
    funnelAllowed: status.funnelAllowed,
    // Before Funnel is allowed the policy grants no port yet (connect assumes all three).
    funnelPorts: status.funnelAllowed ? allowedFunnelPorts(status).join(", ") : "none yet",
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
    config = await reads.serveConfig();
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
  const again = mode === "private" ? "ecto connect --private" : "ecto connect";
  if (!route) {
    return {
      tailscale,
      node,
      funnel: {
        name: mode === "private" ? "serve" : "funnel",
        ok: false,
        summary: "no ecto route",
        details: { mode, ...funnelDetails },
        problem: {
          message: `ecto's ${mode === "private" ? "Serve" : "Funnel"} route is not there.`,
          fix: again,
        },
      },
    };
  }
  const url = funnelUrl(status.dnsName, route.port).replace(/\/$/, "");
  if (mode === "private") {
    // Private: the route must be there with Funnel OFF; Funnel on would make it public.
    return {
      tailscale,
      node,
      route: { port: route.port, url },
      funnel: {
        name: "serve",
        ok: !route.funnel,
        summary: `${url} → ${target} (ours, ${
          route.funnel ? "Funnel ON: public, not private" : "tailnet only, Funnel off"
        })`,
        details: { mode, port: route.port, ...funnelDetails },
        ...(route.funnel
          ? {
            problem: {
              message: "ecto's route is public (Funnel on) but this machine is in private mode.",
              fix: again,
            },
          }
          : {}),
      },
    };
  }
  const funnelOn = route.funnel;
  return {
    tailscale,
    node,
    route: { port: route.port, url },
    funnel: {
      name: "funnel",
      ok: funnelOn,
      summary: `${url} → ${target} (ours${funnelOn ? ", Funnel on" : ", Funnel OFF"})`,
      details: { mode, port: route.port, ...funnelDetails },
      ...(funnelOn ? {} : {
        problem: {
          message: "ecto's route is there but Funnel is off for its port.",
          fix: "ecto connect",
        },
      }),
    },
  };
}
