/**
 * The Tailscale layer bound for connect, status and disconnect: finds the CLI
 * once per run, shares one probe's reads across the steps, and turns the
 * layer's results into step results. The route's write and removal are in
 * `publish.ts`, the mode's prerequisites in `readiness.ts`, status in
 * `report.ts`.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { ActionRequiredError, EctoError, MissingPrerequisiteError } from "../core/errors.ts";
import type {
  GatewayRoutes,
  StepResult,
  TailscaleFound,
  TailscaleLayer,
  TailscaleNode,
} from "../core/layer_types.ts";
import { edgeTarget } from "../core/addresses.ts";
import { removeGatewayExposures } from "./gateway_routes.ts";
import { installTailscale, startTailscaleDaemon } from "./install.ts";
import { assertNotKnownBroken } from "./known_broken.ts";
import { cliFromInstall, type TailscaleInstall } from "./locate.ts";
import { login } from "./login.ts";
import { type TailscaleProbe, tailscaleProbe } from "./probe.ts";
import { publishRoute, unpublishRoute } from "./publish.ts";
import { checkRouteReady } from "./readiness.ts";
import { tailscaleReport } from "./report.ts";
import type { TailscaleCli } from "./runner.ts";
import { allowedFunnelPorts } from "./serve_config.ts";
import { describeExposure, findGatewayExposures, foregroundLoopbackPorts } from "./exposures.ts";
import type { TailscaleStatus } from "./status.ts";
import { assertSupportedVersion } from "./version.ts";

export { ADMIN_DNS_URL, ADMIN_POLICY_URL } from "./prerequisites.ts";

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
      const result = await checkRouteReady(
        ctx,
        async () => cli(ctx, await located(ctx)),
        status,
        options?.mode,
      );
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
      return publishRoute(ctx, cli(ctx, await located(ctx)), probe(ctx), options);
    },

    async unpublish(ctx, options): Promise<StepResult> {
      const install = await locate(ctx);
      if (!install) return { detail: "Tailscale is not installed: no route to remove." };
      return unpublishRoute(ctx, cli(ctx, install), probe(ctx), {
        target: options.target ?? edgeTarget(ctx),
        port: options.port,
      });
    },

    report: (ctx, record) => tailscaleReport(ctx, record, probe(ctx)),

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
