/**
 * What `ecto status` shows for Tailscale and ecto's route, from one command's
 * reads: the install, the daemon and login, a known-broken version, and
 * ecto's Funnel (public) or Serve (private) route, each with its fix.
 *
 * @module
 */
import type { ConnectionRecord } from "../core/connection_record.ts";
import type { EctoContext } from "../core/context.ts";
import { EctoError } from "../core/errors.ts";
import type {
  LayerStatus,
  PublishMode,
  TailscaleNode,
  TailscaleReport,
} from "../core/layer_types.ts";
import { edgeTarget } from "../core/addresses.ts";
import { breakageFor, knownBrokenError } from "./known_broken.ts";
import type { TailscaleProbe } from "./probe.ts";
import { allowedFunnelPorts, findEctoRoute, funnelUrl } from "./serve_config.ts";
import type { TailscaleStatus } from "./status.ts";

/** The Tailscale and route lines of `ecto status`; changes nothing. */
export async function tailscaleReport(
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
