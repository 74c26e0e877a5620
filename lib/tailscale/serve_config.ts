/**
 * `tailscale funnel status --json` (the stored Serve/Funnel config) and the
 * pure decisions ecto makes on it: which Funnel ports are free, which route
 * is ecto's own, which port to use.
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import { portInRanges, type TailscaleStatus } from "./status.ts";
import { FUNNEL_PORTS } from "../core/addresses.ts";

/** One handler at a mount point. Exactly one of the fields is normally set. */
export interface ServeHandler {
  /** Reverse-proxy target, e.g. `http://127.0.0.1:18795`. */
  proxy?: string;
  /** File or directory served. */
  path?: string;
  /** Static text served. */
  text?: string;
  /** Redirect target. */
  redirect?: string;
}

/** A listener entry in `TCP`, keyed by port. */
export interface ServeTcpEntry {
  /** An HTTPS web listener. */
  https?: boolean;
  /** A plain HTTP web listener. */
  http?: boolean;
  /** A raw TCP forwarder target. */
  tcpForward?: string;
  /** SNI name when the TCP forwarder terminates TLS. */
  terminateTls?: string;
}

/** A Serve config (background, or one foreground session). */
export interface ServeConfig {
  /** Listeners by port number (as in the JSON, port strings become numbers). */
  tcp: Map<number, ServeTcpEntry>;
  /** Web handlers: `host:port` → mount → handler. */
  web: Map<string, Map<string, ServeHandler>>;
  /** `host:port` entries with Funnel on. */
  allowFunnel: Set<string>;
  /** Foreground sessions by session id (empty for a nested config). */
  foreground: Map<string, ServeConfig>;
  /** Whether a `Services` key is present (Tailscale Services, never touched by ecto). */
  hasServices: boolean;
}

function obj(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function optStr(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function fromObject(o: Record<string, unknown>, nested: boolean): ServeConfig {
  const tcp = new Map<number, ServeTcpEntry>();
  for (const [port, raw] of Object.entries(obj(o.TCP))) {
    const n = Number(port);
    if (!Number.isInteger(n)) continue;
    const e = obj(raw);
    const entry: ServeTcpEntry = {};
    if (e.HTTPS === true) entry.https = true;
    if (e.HTTP === true) entry.http = true;
    const fwd = optStr(e.TCPForward);
    if (fwd) entry.tcpForward = fwd;
    const term = optStr(e.TerminateTLS);
    if (term) entry.terminateTls = term;
    tcp.set(n, entry);
  }
  const web = new Map<string, Map<string, ServeHandler>>();
  for (const [hostPort, raw] of Object.entries(obj(o.Web))) {
    const mounts = new Map<string, ServeHandler>();
    for (const [mount, h] of Object.entries(obj(obj(raw).Handlers))) {
      const ho = obj(h);
      const handler: ServeHandler = {};
      const proxy = optStr(ho.Proxy);
      if (proxy !== undefined) handler.proxy = proxy;
      const path = optStr(ho.Path);
      if (path !== undefined) handler.path = path;
      const text = optStr(ho.Text);
      if (text !== undefined) handler.text = text;
      const redirect = optStr(ho.Redirect);
      if (redirect !== undefined) handler.redirect = redirect;
      mounts.set(mount, handler);
    }
    web.set(hostPort, mounts);
  }
  const allowFunnel = new Set<string>();
  for (const [hostPort, on] of Object.entries(obj(o.AllowFunnel))) {
    if (on === true) allowFunnel.add(hostPort);
  }
  const foreground = new Map<string, ServeConfig>();
  if (!nested) {
    for (const [id, raw] of Object.entries(obj(o.Foreground))) {
      foreground.set(id, fromObject(obj(raw), true));
    }
  }
  return {
    tcp,
    web,
    allowFunnel,
    foreground,
    hasServices: Object.keys(obj(o.Services)).length > 0,
  };
}

/** Parses `tailscale funnel status --json` / `serve status --json` (`{}` when empty). */
export function parseServeConfig(text: string): ServeConfig {
  const trimmed = text.trim();
  const data: unknown = trimmed === "" ? {} : JSON.parse(trimmed);
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error("serve config JSON is not an object");
  }
  return fromObject(data as Record<string, unknown>, false);
}

export { FUNNEL_PORTS };

/** `host:port` as the serve config keys it. */
export function hostPort(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Ports that carry any listener: top-level `TCP` or any foreground session's `TCP`. Sorted. */
export function busyPorts(config: ServeConfig): number[] {
  const ports = new Set<number>(config.tcp.keys());
  for (const fg of config.foreground.values()) for (const p of fg.tcp.keys()) ports.add(p);
  return [...ports].sort((a, b) => a - b);
}

/**
 * The Funnel ports ecto may consider: 443/8443/10000 filtered by the node's
 * funnel-ports capability. Before Funnel is enabled there is no capability
 * yet, so all three are assumed (the CLI's enable flow comes first).
 */
export function allowedFunnelPorts(status: TailscaleStatus): number[] {
  if (status.funnelPortsKnown) {
    return FUNNEL_PORTS.filter((p) => portInRanges(status.funnelPorts, p));
  }
  return status.funnelAllowed ? [] : [...FUNNEL_PORTS];
}

/** Allowed Funnel ports that carry no listener at all (background or foreground). */
export function freeFunnelPorts(config: ServeConfig, status: TailscaleStatus): number[] {
  const busy = new Set(busyPorts(config));
  return allowedFunnelPorts(status).filter((p) => !busy.has(p));
}

/** ecto's own route in the serve config. */
export interface EctoRoute {
  /** The node's DNS name. */
  host: string;
  /** The HTTPS port (443, 8443 or 10000). */
  port: number;
  /** The config key, `host:port`. */
  hostPort: string;
  /** The proxy target (ecto's edge address). */
  target: string;
  /** Whether Funnel is on for that `host:port`. */
  funnel: boolean;
  /** The public URL, `https://host/` or `https://host:8443/`. */
  url: string;
}

/** The public URL for a Funnel on `host` and `port`. */
export function funnelUrl(host: string, port: number): string {
  return port === 443 ? `https://${host}/` : `https://${host}:${port}/`;
}

/**
 * ecto's routes: background web handlers at mount `/` whose `Proxy` is
 * exactly `edgeTarget`, on `host` (any host when `host` is undefined).
 * Foreground sessions are never ecto's (ecto only uses `--bg`).
 */
export function findEctoRoutes(
  config: ServeConfig,
  host: string | undefined,
  edgeTarget: string,
): EctoRoute[] {
  const routes: EctoRoute[] = [];
  for (const [key, mounts] of config.web) {
    const i = key.lastIndexOf(":");
    if (i < 0) continue;
    const h = key.slice(0, i);
    const port = Number(key.slice(i + 1));
    if (!Number.isInteger(port)) continue;
    if (host !== undefined && h !== host) continue;
    if (mounts.get("/")?.proxy !== edgeTarget) continue;
    routes.push({
      host: h,
      port,
      hostPort: key,
      target: edgeTarget,
      funnel: config.allowFunnel.has(key),
      url: funnelUrl(h, port),
    });
  }
  return routes.sort((a, b) => FUNNEL_PORTS.indexOf(a.port) - FUNNEL_PORTS.indexOf(b.port));
}

/** ecto's route on `host` (the first by 443, 8443, 10000 order), if any. */
export function findEctoRoute(
  config: ServeConfig,
  host: string | undefined,
  edgeTarget: string,
): EctoRoute | undefined {
  return findEctoRoutes(config, host, edgeTarget)[0];
}

/**
 * True when `port` carries a listener that is not exactly ecto's route: any
 * foreground session, a TCP forwarder, another host, or any web mount other
 * than ecto's `/` handler.
 */
export function portHasForeignHandler(
  config: ServeConfig,
  host: string,
  port: number,
  edgeTarget: string,
): boolean {
  for (const fg of config.foreground.values()) if (fg.tcp.has(port)) return true;
  for (const [key, mounts] of config.web) {
    if (!key.endsWith(`:${port}`)) continue;
    if (key !== hostPort(host, port)) return true;
    for (const [mount, handler] of mounts) {
      if (mount !== "/" || handler.proxy !== edgeTarget) return true;
    }
  }
  const tcp = config.tcp.get(port);
  if (tcp && !tcp.https) return true;
  if (tcp && !config.web.has(hostPort(host, port))) return true;
  return false;
}

/** The port {@link choosePort} picked. */
export interface PortChoice {
  /** The chosen port. */
  port: number;
  /** ecto already has its route on this port (re-use it; maybe only Funnel is missing). */
  existing: boolean;
}

function list(ports: readonly number[]): string {
  return ports.length <= 1
    ? ports.join("")
    : `${ports.slice(0, -1).join(", ")} and ${ports[ports.length - 1]}`;
}

/**
 * Chooses the Funnel port for ecto's edge: ecto's existing port if it already
 * has a route, else `preferred` (must be allowed and free), else the first
 * free allowed port of 443, 8443, 10000.
 *
 * Throws {@link ActionRequiredError}: `funnel_ports_busy` naming the occupied
 * ports, `funnel_port_busy` when `preferred` carries a foreign handler,
 * `funnel_port_not_allowed` when the node's funnel-ports capability rules
 * the port out (or omits 443, which the CLI always checks).
 */
export function choosePort(
  config: ServeConfig,
  status: TailscaleStatus,
  edgeTarget: string,
  preferred?: number,
): PortChoice {
  const host = status.dnsName;
  const ours = findEctoRoutes(config, host, edgeTarget);
  const allowed = allowedFunnelPorts(status);
  if (status.funnelPortsKnown && !portInRanges(status.funnelPorts, 443)) {
    throw new ActionRequiredError(
      "funnel_port_not_allowed",
      "This node's Funnel policy does not allow port 443, and the tailscale CLI refuses every Funnel port without it.",
      {
        fix: "add 443 to the funnel-ports node attribute in the tailnet policy",
        url: "https://login.tailscale.com/admin/acls/file",
      },
    );
  }
  if (preferred !== undefined) {
    if (ours.some((r) => r.port === preferred)) return { port: preferred, existing: true };
    if (!allowed.includes(preferred)) {
      throw new ActionRequiredError(
        "funnel_port_not_allowed",
        `Funnel cannot use port ${preferred}; allowed ports here are ${list(allowed) || "none"}.`,
        { fix: `choose one of ${list(allowed) || "443, 8443 and 10000"}` },
      );
    }
    if (
      host !== undefined && portHasForeignHandler(config, host, preferred, edgeTarget) ||
      busyPorts(config).includes(preferred)
    ) {
      throw new ActionRequiredError(
        "funnel_port_busy",
        `Port ${preferred} already carries another Serve or Funnel route; ecto will not replace it.`,
        { fix: `tailscale funnel status (then pick another port, or remove that route yourself)` },
      );
    }
    return { port: preferred, existing: false };
  }
  // ecto's route, unless the policy rules its port out (a private route on 10000, say).
  const usable = ours.filter((r) => !status.funnelPortsKnown || allowed.includes(r.port));
  if (usable.length > 0) return { port: usable[0].port, existing: true };
  const free = freeFunnelPorts(config, status);
  if (free.length > 0) return { port: free[0], existing: false };
  const occupied = allowed.filter((p) => busyPorts(config).includes(p));
  throw new ActionRequiredError(
    "funnel_ports_busy",
    occupied.length > 0
      ? `Every Funnel port is taken by other Serve or Funnel routes (${
        list(occupied)
      }); ecto will not replace them.`
      : "This node's Funnel policy allows none of the ports 443, 8443 and 10000.",
    { fix: "tailscale funnel status (then free one of those ports yourself)" },
  );
}

/**
 * The loopback port a Serve target points at, in every form Tailscale
 * accepts (`18789`, `localhost:18789`, `127.0.0.1:18789`, `[::1]:18789`,
 * `http://…`, `https://…`, `https+insecure://…`, with or without a path);
 * `undefined` for a non-loopback host, a unix socket, text or a file path.
 */
export function loopbackTargetPort(target: string): number | undefined {
  const t = target.trim();
  if (/^\d{1,5}$/.test(t)) return Number(t);
  const rest = /^(?:https?|https\+insecure|tcp):\/\//i.test(t) ? t.replace(/^[^:]+:\/\//, "") : t;
  const m = /^(\[[^\]]+\]|[^:/\[]+):(\d{1,5})(?:\/.*)?$/.exec(rest);
  if (!m) return undefined;
  const host = m[1].replace(/^\[|\]$/g, "").toLowerCase();
  const loopback = host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
  const port = Number(m[2]);
  return loopback && port >= 1 && port <= 65535 ? port : undefined;
}

// Defined with the layer contracts (one types file, no import cycles); exported here too.
