/**
 * ecto's route in its two modes, as pure decisions on the serve config:
 * `public` (Funnel: the handler plus `AllowFunnel` for its `host:port`) and
 * `private` (Serve: the same handler, no `AllowFunnel`, reachable only from
 * the tailnet). Which of ecto's routes are in which mode, which port a
 * private route takes, and the switch plan: the one port to write and the
 * routes to remove so that exactly one ecto route is left, in the mode asked.
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import type { PublishMode } from "../core/layer_types.ts";
import {
  busyPorts,
  choosePort,
  type EctoRoute,
  findEctoRoutes,
  FUNNEL_PORTS,
  portHasForeignHandler,
  type ServeConfig,
} from "./serve_config.ts";
import type { TailscaleStatus } from "./status.ts";

export type { PublishMode };

/** The ports a private (Serve) route tries, in order: Funnel's, so a switch can keep the URL. */
export const SERVE_PORTS: readonly number[] = FUNNEL_PORTS;

/** The mode an ecto route is in: `public` when Funnel is on for its `host:port`. */
export function routeMode(route: EctoRoute): PublishMode {
  return route.funnel ? "public" : "private";
}

/** ecto's routes on `host`, split by mode (each list in 443, 8443, 10000 order). */
export function ectoRoutesByMode(
  config: ServeConfig,
  host: string | undefined,
  edgeTarget: string,
): Record<PublishMode, EctoRoute[]> {
  const routes = findEctoRoutes(config, host, edgeTarget);
  return {
    public: routes.filter((r) => routeMode(r) === "public"),
    private: routes.filter((r) => routeMode(r) === "private"),
  };
}

/**
 * The port for ecto's private route: `preferred` when given (ecto's own
 * route there, or free), else the port ecto's route is already on, else the
 * first of 443, 8443, 10000 with no listener at all. The funnel-ports policy
 * does not apply: Serve is not Funnel. Never a port with someone else's
 * handler: throws `serve_port_busy` / `serve_ports_busy` instead.
 */
export function chooseServePort(
  config: ServeConfig,
  host: string,
  edgeTarget: string,
  preferred?: number,
): { port: number; existing: boolean } {
  const ours = findEctoRoutes(config, host, edgeTarget);
  const busy = busyPorts(config);
  if (preferred !== undefined) {
    if (ours.some((r) => r.port === preferred)) return { port: preferred, existing: true };
    if (portHasForeignHandler(config, host, preferred, edgeTarget) || busy.includes(preferred)) {
      throw new ActionRequiredError(
        "serve_port_busy",
        `Port ${preferred} already carries another Serve or Funnel route; ecto will not replace it.`,
        { fix: "tailscale serve status (then pick another port, or remove that route yourself)" },
      );
    }
    return { port: preferred, existing: false };
  }
  if (ours.length > 0) return { port: ours[0].port, existing: true };
  const free = SERVE_PORTS.filter((p) => !busy.includes(p));
  if (free.length > 0) return { port: free[0], existing: false };
  throw new ActionRequiredError(
    "serve_ports_busy",
    `Ports ${
      SERVE_PORTS.join(", ")
    } all carry other Serve or Funnel routes; ecto will not replace them.`,
    { fix: "tailscale serve status (then free one of those ports yourself)" },
  );
}

/** What publishing in a mode will do, decided before anything is written. */
export interface PublishPlan {
  /** The mode asked for. */
  mode: PublishMode;
  /** The port ecto's route will be on. */
  port: number;
  /** ecto's route is already on `port` in `mode`: nothing to write there. */
  inPlace: boolean;
  /** ecto's route on `port` is in the other mode: the one write switches it in place. */
  switches: boolean;
  /** ecto's routes on other ports (either mode): removed once the write reads back. */
  remove: EctoRoute[];
}

/**
 * The switch plan. Public: the port {@link choosePort} gives (ecto's route,
 * if on a port the funnel-ports policy allows, else `preferred` or the first
 * free allowed port). Private: {@link chooseServePort}. Either way every
 * other route of ecto's is to be removed, and nobody else's is touched.
 */
export function planPublish(
  config: ServeConfig,
  status: TailscaleStatus,
  edgeTarget: string,
  options: { mode: PublishMode; preferred?: number | undefined },
): PublishPlan {
  const host = status.dnsName ?? "";
  const port = options.mode === "public"
    ? choosePort(config, status, edgeTarget, options.preferred).port
    : chooseServePort(config, host, edgeTarget, options.preferred).port;
  const ours = findEctoRoutes(config, host, edgeTarget);
  const here = ours.find((r) => r.port === port);
  return {
    mode: options.mode,
    port,
    inPlace: here !== undefined && routeMode(here) === options.mode,
    switches: here !== undefined && routeMode(here) !== options.mode,
    remove: ours.filter((r) => r.port !== port),
  };
}
