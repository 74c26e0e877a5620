/**
 * The ServeConfig model of the double and its pure operations, ported from
 * `ipn/serve.go` and `cmd/tailscale/cli/serve_v2.go` (v1.90.8; version
 * differences noted where they matter).
 *
 * @module
 */

/** One TCP port's handler (`ipn.TCPPortHandler`). */
export interface TcpPortHandler {
  HTTPS?: boolean;
  HTTP?: boolean;
  TCPForward?: string;
  TerminateTLS?: string;
}

/** One mount's handler (`ipn.HTTPHandler`). */
export interface HttpHandler {
  Path?: string;
  Proxy?: string;
  Text?: string;
}

/** The serve config as `tailscale serve status --json` shows it. */
export interface ServeConfig {
  TCP?: Record<string, TcpPortHandler>;
  Web?: Record<string, { Handlers: Record<string, HttpHandler> }>;
  AllowFunnel?: Record<string, boolean>;
  Foreground?: Record<string, ServeConfig>;
}

/** Serve types in the order of `serve_v2.go`. */
export type ServeType = "https" | "http" | "tcp" | "tls-terminated-tcp";

function sortedEntries<V>(record: Record<string, V> | undefined): [string, V][] {
  // Go's encoding/json sorts map keys as strings (so "10000" < "443").
  return Object.entries(record ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The config with Go's field order, sorted map keys and empty maps omitted. */
export function canonical(sc: ServeConfig): ServeConfig {
  const out: ServeConfig = {};
  const tcp = sortedEntries(sc.TCP);
  if (tcp.length) {
    out.TCP = {};
    for (const [port, h] of tcp) {
      const c: TcpPortHandler = {};
      if (h.HTTPS) c.HTTPS = true;
      if (h.HTTP) c.HTTP = true;
      if (h.TCPForward) c.TCPForward = h.TCPForward;
      if (h.TerminateTLS) c.TerminateTLS = h.TerminateTLS;
      out.TCP[port] = c;
    }
  }
  const web = sortedEntries(sc.Web);
  if (web.length) {
    out.Web = {};
    for (const [hp, w] of web) {
      const handlers: Record<string, HttpHandler> = {};
      for (const [mount, h] of sortedEntries(w.Handlers)) {
        const c: HttpHandler = {};
        if (h.Path) c.Path = h.Path;
        if (h.Proxy) c.Proxy = h.Proxy;
        if (h.Text) c.Text = h.Text;
        handlers[mount] = c;
      }
      out.Web[hp] = { Handlers: handlers };
    }
  }
  const funnel = sortedEntries(sc.AllowFunnel);
  if (funnel.length) out.AllowFunnel = Object.fromEntries(funnel);
  const fg = sortedEntries(sc.Foreground);
  if (fg.length) out.Foreground = Object.fromEntries(fg.map(([id, c]) => [id, canonical(c)]));
  return out;
}

/** `host:port` key. */
export function hostPort(host: string, port: number): string {
  return `${host}:${port}`;
}

/** `ServeConfig.FindConfig`: the (sub)config holding TCP `port`, and whether it is foreground. */
export function findConfig(
  sc: ServeConfig,
  port: number,
): { config: ServeConfig; foreground: boolean } | undefined {
  if (sc.TCP?.[String(port)]) return { config: sc, foreground: false };
  for (const fg of Object.values(sc.Foreground ?? {})) {
    if (fg.TCP?.[String(port)]) return { config: fg, foreground: true };
  }
  return undefined;
}

/** The serve type a TCP handler stands for (`serveFromPortHandler`). */
export function serveTypeOf(h: TcpPortHandler | undefined): ServeType | "unknownServeType" {
  if (h?.HTTP) return "http";
  if (h?.HTTPS) return "https";
  if (h?.TerminateTLS) return "tls-terminated-tcp";
  if (h?.TCPForward) return "tcp";
  return "unknownServeType";
}

/** `ServeConfig.SetWebHandler` for the node (not a Service). */
export function setWebHandler(
  sc: ServeConfig,
  handler: HttpHandler,
  host: string,
  port: number,
  mount: string,
  useTLS: boolean,
): void {
  sc.TCP ??= {};
  sc.TCP[String(port)] = useTLS ? { HTTPS: true } : { HTTP: true };
  const hp = hostPort(host, port);
  sc.Web ??= {};
  sc.Web[hp] ??= { Handlers: {} };
  const handlers = sc.Web[hp].Handlers ??= {};
  handlers[mount] = handler;
  for (const k of Object.keys(handlers)) {
    if (k === mount) continue;
    // "/foo/" replaces "/foo" and the other way round.
    if (k.replace(/\/$/, "") === mount.replace(/\/$/, "")) delete handlers[k];
  }
}

/** `ServeConfig.SetTCPForwarding`. */
export function setTcpForwarding(
  sc: ServeConfig,
  port: number,
  fwdAddr: string,
  terminateTLS: boolean,
  host: string,
): void {
  sc.TCP ??= {};
  sc.TCP[String(port)] = terminateTLS
    ? { TCPForward: fwdAddr, TerminateTLS: host }
    : { TCPForward: fwdAddr };
}

/** `ServeConfig.SetFunnel`. */
export function setFunnel(sc: ServeConfig, host: string, port: number, on: boolean): void {
  const hp = hostPort(host, port);
  if (on) {
    sc.AllowFunnel ??= {};
    sc.AllowFunnel[hp] = true;
  } else if (sc.AllowFunnel && hp in sc.AllowFunnel) {
    delete sc.AllowFunnel[hp];
    if (Object.keys(sc.AllowFunnel).length === 0) delete sc.AllowFunnel;
  }
}

/** `ServeConfig.RemoveWebHandler` with funnel clean-up. */
export function removeWebHandler(
  sc: ServeConfig,
  host: string,
  port: number,
  mounts: string[],
): void {
  const hp = hostPort(host, port);
  const web = sc.Web?.[hp];
  for (const m of mounts) if (web) delete web.Handlers[m];
  if (!web || Object.keys(web.Handlers).length === 0) {
    if (sc.Web) delete sc.Web[hp];
    if (sc.TCP) delete sc.TCP[String(port)];
    if (sc.AllowFunnel) delete sc.AllowFunnel[hp];
  }
  if (sc.Web && Object.keys(sc.Web).length === 0) delete sc.Web;
  if (sc.TCP && Object.keys(sc.TCP).length === 0) delete sc.TCP;
  if (sc.AllowFunnel && Object.keys(sc.AllowFunnel).length === 0) delete sc.AllowFunnel;
}

/** `IsTCPForwardingOnPort` for the node. */
export function isTcpForwardingOnPort(sc: ServeConfig, port: number): boolean {
  const h = sc.TCP?.[String(port)];
  return !!h && !h.HTTP && !h.HTTPS;
}

/** `IsServingWeb` for the node. */
export function isServingWeb(sc: ServeConfig, port: number): boolean {
  const h = sc.TCP?.[String(port)];
  return !!h && (!!h.HTTP || !!h.HTTPS);
}

/** `IsFunnelOn`: any funnel flag, background or foreground. */
export function isFunnelOn(sc: ServeConfig): boolean {
  if (Object.values(sc.AllowFunnel ?? {}).some(Boolean)) return true;
  return Object.values(sc.Foreground ?? {}).some(isFunnelOn);
}

/** `cleanURLPath`: the mount for `--set-path`. */
export function cleanUrlPath(urlPath: string): string {
  if (urlPath === "") return "/";
  if (!urlPath.startsWith("/")) urlPath = "/" + urlPath;
  const c = cleanPath(urlPath);
  if (urlPath === c || urlPath === c + "/") return urlPath;
  throw new Error(`failed to clean the mount point: invalid mount point "${urlPath}"`);
}

/** Go's `path.Clean`. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = (rooted ? "/" : "") + out.join("/");
  return joined === "" ? (rooted ? "/" : ".") : joined;
}

/**
 * `ipn.ExpandProxyTargetValue` for web targets. Before 1.92 only localhost
 * and 127.0.0.1 are accepted; from 1.92 remote hosts need a scheme.
 */
export function expandProxyTarget(
  target: string,
  schemes: string[],
  defaultScheme: string,
  remoteAllowed: boolean,
): string {
  if (remoteAllowed && target === "") throw new Error("empty target");
  if (/^\d+$/.test(target) && Number(target) <= 65535) {
    return `${defaultScheme}://127.0.0.1:${Number(target)}`;
  }
  let hasScheme = true;
  if (!target.includes("://")) {
    target = `${defaultScheme}://${target}`;
    hasScheme = false;
  }
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(target);
  if (!m) throw new Error(`invalid URL parse "${target}": invalid URI for request`);
  const [, scheme, authority, rest] = m;
  if (!schemes.includes(scheme)) {
    throw new Error(
      `must be a URL starting with one of the supported schemes: [${schemes.join(" ")}]`,
    );
  }
  const hm = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority)!;
  const hostname = hm[1].replace(/^\[|\]$/g, "");
  const port = hm[2] ?? "";
  const local = hostname === "localhost" || hostname === "127.0.0.1" ||
    (remoteAllowed && hostname === "::1");
  if (!remoteAllowed && !local) {
    throw new Error("only localhost or 127.0.0.1 proxies are currently supported");
  }
  if (remoteAllowed) {
    if (local && port === "") throw new Error(`port required for localhost target "${target}"`);
    if (!local && !hasScheme) {
      throw new Error(`non-localhost target "${target}" must include a scheme`);
    }
    if (!local && port === "") return `${scheme}://${authority}${rest}`;
  }
  const n = /^\d+$/.test(port) ? Number(port) : NaN;
  if (!(n > 0 && n <= 65535)) throw new Error(`invalid port "${port}"`);
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${scheme}://${host}:${n}${rest}`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 3) + "...";
}

/** `(type, description)` of a handler for the status/success texts. */
export function handlerTypeAndDesc(h: HttpHandler): [string, string] {
  if (h.Path) return ["path", h.Path];
  if (h.Proxy) return ["proxy", h.Proxy];
  if (h.Text) return ["text", `"${truncate(h.Text, 20)}"`];
  return ["", ""];
}

/** Mounts shortest first (Go's unstable sort by length; ties by name here). */
export function mountsByLength(handlers: Record<string, HttpHandler>): string[] {
  return Object.keys(handlers).sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
}

/** Go's `%-5s`. */
export function pad(s: string, width: number): string {
  return s.length >= width ? s : s + " ".repeat(width - s.length);
}
