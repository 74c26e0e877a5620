/**
 * The gateway's own exposures in the serve config: every Serve or Funnel route (any port, any
 * session) that reaches the OpenClaw gateway directly rather than through ecto's edge, as the old
 * skill and `tailscale.mode` leave them; the arguments that turn one off, and how to name it.
 *
 * @module
 */
import { loopbackTargetPort, type ServeConfig } from "./serve_config.ts";
import type { GatewayExposure } from "../core/layer_types.ts";
import { FUNNEL_PORTS } from "../core/addresses.ts";

function exposuresIn(
  config: ServeConfig,
  ports: ReadonlySet<number>,
  session: string | undefined,
): GatewayExposure[] {
  const out: GatewayExposure[] = [];
  const fg = session === undefined ? {} : { session };
  for (const [port, entry] of config.tcp) {
    if (entry.tcpForward === undefined) continue;
    const targetPort = loopbackTargetPort(entry.tcpForward);
    if (targetPort === undefined || !ports.has(targetPort)) continue;
    const funnel = [...config.allowFunnel].some((k) => k.endsWith(`:${port}`));
    out.push({
      port,
      kind: "tcp",
      target: entry.tcpForward,
      targetPort,
      funnel,
      https: false,
      foreground: session !== undefined,
      ...fg,
    });
  }
  for (const [key, mounts] of config.web) {
    const i = key.lastIndexOf(":");
    const port = Number(key.slice(i + 1));
    if (i < 0 || !Number.isInteger(port)) continue;
    for (const [mount, handler] of mounts) {
      if (handler.proxy === undefined) continue;
      const targetPort = loopbackTargetPort(handler.proxy);
      if (targetPort === undefined || !ports.has(targetPort)) continue;
      out.push({
        port,
        kind: "web",
        hostPort: key,
        mount,
        target: handler.proxy,
        targetPort,
        funnel: config.allowFunnel.has(key),
        https: config.tcp.get(port)?.http !== true,
        foreground: session !== undefined,
        ...fg,
      });
    }
  }
  return out;
}

/**
 * Every handler, background or foreground, whose target is one of
 * `gatewayPorts` (the gateway's port, plus any private listener known to be
 * the gateway's, such as the one OpenClaw's own Tailscale claim points at).
 * Sorted: public first, then by port (443, 8443, 10000, others). Pure.
 */
export function findGatewayExposures(
  config: ServeConfig,
  gatewayPorts: readonly number[],
): GatewayExposure[] {
  const ports = new Set(gatewayPorts);
  const found = exposuresIn(config, ports, undefined);
  for (const [id, fg] of config.foreground) found.push(...exposuresIn(fg, ports, id));
  const rank = (p: number) => FUNNEL_PORTS.includes(p) ? FUNNEL_PORTS.indexOf(p) : 3 + p;
  return found.sort((a, b) =>
    Number(b.funnel) - Number(a.funnel) || rank(a.port) - rank(b.port) ||
    (a.mount ?? "").localeCompare(b.mount ?? "")
  );
}

/** Loopback ports that foreground sessions proxy to (candidates for OpenClaw's own claim). */
export function foregroundLoopbackPorts(config: ServeConfig): number[] {
  const ports = new Set<number>();
  for (const fg of config.foreground.values()) {
    for (const mounts of fg.web.values()) {
      for (const handler of mounts.values()) {
        const p = handler.proxy === undefined ? undefined : loopbackTargetPort(handler.proxy);
        if (p !== undefined) ports.add(p);
      }
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** The `tailscale serve … off` argv that removes one background exposure (never `reset`). */
export function exposureOffArgs(exposure: GatewayExposure): string[] {
  if (exposure.kind === "tcp") return ["serve", `--tcp=${exposure.port}`, "off"];
  const flag = exposure.https ? "--https" : "--http";
  return ["serve", "--yes", `${flag}=${exposure.port}`, `--set-path=${exposure.mount}`, "off"];
}

/** A short, secret-free description of an exposure for messages. */
export function describeExposure(e: GatewayExposure): string {
  const where = e.kind === "tcp"
    ? `TCP port ${e.port}`
    : `https://${e.hostPort?.replace(/:443$/, "")}${e.mount === "/" ? "" : e.mount}`;
  return `${where} → ${e.target} (${e.funnel ? "public Funnel" : "tailnet-only Serve"}${
    e.foreground ? `, foreground session ${e.session}` : ""
  })`;
}

export type { GatewayExposure };
