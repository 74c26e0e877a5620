/**
 * The Serve/Funnel reverse proxy of the double, as a request handler
 * (`serveWebHandler` + `reverseProxy` in `ipn/ipnlocal/serve.go`, with Go's
 * `httputil.ReverseProxy` Rewrite-mode header rules): mount lookup and
 * stripping, Host kept, `X-Forwarded-*` replaced, identity and hop-by-hop
 * headers dropped, `Tailscale-Funnel-Request: ?1` (1.72+), bodies streamed
 * both ways, 502 with an empty body when the backend is down.
 *
 * @module
 */

import type { HttpHandler, ServeConfig } from "./serve_config.ts";
import { cleanPath } from "./serve_config.ts";
import type { DoubleState } from "./state.ts";
import { daemonVersion } from "./status_json.ts";
import { forward as defaultForward } from "./upstream_http.ts";
import { atLeast } from "./version_info.ts";

/** Where a request came from, as the relay reports it. */
export interface FunnelSource {
  /** The public (funnel) port the client connected to. */
  publicPort: number;
  /** The client's IP address. */
  clientIp: string;
  /** `tailnet`: a tailnet peer on the node's Tailscale IP (Serve); default `funnel`. */
  via?: "funnel" | "tailnet";
}

/** Dependencies of {@link createFunnelHandler}. */
export interface FunnelHandlerOptions {
  readState: () => Promise<DoubleState>;
  /** The backend transport (default: node:http, see `upstream_http.ts`). */
  forward?: typeof defaultForward;
  log?: (line: string) => void;
}

const HOP_BY_HOP = [
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** Whether the internet can reach `host:port` through Funnel right now. */
export function funnelAllows(state: DoubleState, port: number): boolean {
  const o = state.options;
  if (!o.daemonRunning || !o.publicDnsReady || o.backendState !== "Running") return false;
  if (!o.https || !o.funnelAttr || !o.funnelPorts.includes(port)) return false;
  const hp = `${o.dnsName}:${port}`;
  return allConfigs(state.serve).some((c) =>
    c.AllowFunnel?.[hp] === true && !!c.Web?.[hp] && c.TCP?.[String(port)]?.HTTPS === true
  );
}

/**
 * Whether a tailnet peer reaches `host:port`: the node runs and serves web
 * there over HTTPS (background or foreground), Funnel or not. Serve needs the
 * HTTPS certificate capability, not the funnel attribute or public DNS.
 */
export function tailnetAllows(state: DoubleState, port: number): boolean {
  const o = state.options;
  if (!o.daemonRunning || o.backendState !== "Running" || !o.https) return false;
  const hp = `${o.dnsName}:${port}`;
  return allConfigs(state.serve).some((c) =>
    !!c.Web?.[hp] && c.TCP?.[String(port)]?.HTTPS === true
  );
}

/** The peer identity tailscaled adds for a user-owned tailnet peer (never for Funnel). */
export const TAILNET_PEER = {
  login: "alice@example.com",
  name: "Alice Example",
  profilePic: "https://example.com/alice.png",
};

function allConfigs(sc: ServeConfig): ServeConfig[] {
  return [sc, ...Object.values(sc.Foreground ?? {})];
}

/** `getServeHandler`: exact mount, then parent directories (with and without slash). */
export function findHandler(
  handlers: Record<string, HttpHandler>,
  urlPath: string,
): { handler: HttpHandler; mount: string } | undefined {
  if (handlers[urlPath]) return { handler: handlers[urlPath], mount: urlPath };
  let p = cleanPath(urlPath);
  while (true) {
    if (handlers[p + "/"]) return { handler: handlers[p + "/"], mount: p + "/" };
    if (handlers[p]) return { handler: handlers[p], mount: p };
    if (p === "/") return undefined;
    p = p.slice(0, p.lastIndexOf("/")) || "/";
  }
}

function singleJoiningSlash(a: string, b: string): string {
  const aslash = a.endsWith("/");
  const bslash = b.startsWith("/");
  if (aslash && bslash) return a + b.slice(1);
  if (!aslash && !bslash) return a + "/" + b;
  return a + b;
}

/** The backend URL for `reqUrl` under `mount` (mount stripped, target path prefixed). */
export function backendUrl(target: string, mount: string, reqUrl: URL): URL {
  const t = new URL(target.replace(/^https\+insecure:/, "https:"));
  let path = reqUrl.pathname;
  if (path !== "/") {
    const prefix = mount.replace(/\/$/, "");
    path = path.startsWith(prefix) ? path.slice(prefix.length) : path;
  }
  const base = t.pathname === "/" ? "" : t.pathname;
  const out = new URL(t.origin);
  out.pathname = path === "" && base !== "" ? base : singleJoiningSlash(base, path);
  const q = [t.search.slice(1), reqUrl.search.slice(1)].filter(Boolean).join("&");
  out.search = q;
  return out;
}

/** Outbound request headers per ReverseProxy Rewrite + tailscaled. */
export function outboundHeaders(
  incoming: Headers,
  host: string,
  clientIp: string,
  version: string,
  via: "funnel" | "tailnet" = "funnel",
): Headers {
  const h = new Headers(incoming);
  const listed = (incoming.get("connection") ?? "").split(",").map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  // Go's ReverseProxy notes the upgrade type before dropping hop-by-hop headers, then puts
  // `Connection: Upgrade` and `Upgrade: <type>` back (WebSocket and friends).
  const upgrade = listed.includes("upgrade") ? incoming.get("upgrade") : null;
  for (const name of [...HOP_BY_HOP, ...listed]) h.delete(name);
  if (upgrade) {
    h.set("connection", "Upgrade");
    h.set("upgrade", upgrade);
  }
  for (
    const name of [
      "forwarded",
      "x-forwarded-for",
      "x-forwarded-host",
      "x-forwarded-proto",
      "tailscale-user-login",
      "tailscale-user-name",
      "tailscale-user-profile-pic",
      "tailscale-funnel-request",
      "tailscale-headers-info",
    ]
  ) h.delete(name);
  if (atLeast(version, "1.92")) h.delete("tailscale-app-capabilities");
  h.set("host", host);
  h.set("x-forwarded-host", host);
  h.set("x-forwarded-proto", "https");
  h.set("x-forwarded-for", clientIp);
  if (via === "tailnet") {
    h.set("tailscale-user-login", TAILNET_PEER.login);
    h.set("tailscale-user-name", TAILNET_PEER.name);
    h.set("tailscale-user-profile-pic", TAILNET_PEER.profilePic);
    h.set("tailscale-headers-info", "https://tailscale.com/s/serve-headers");
  } else if (atLeast(version, "1.72")) h.set("tailscale-funnel-request", "?1");
  return h;
}

function responseHeaders(upstream: Headers): Headers {
  const h = new Headers(upstream);
  const listed = (upstream.get("connection") ?? "").split(",").map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const name of [...HOP_BY_HOP, ...listed]) h.delete(name);
  return h;
}

const notFound = () =>
  new Response("404 page not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
  });

/** Creates the handler the data plane's TLS server runs for funnel traffic. */
export function createFunnelHandler(
  options: FunnelHandlerOptions,
): (request: Request, source: FunnelSource) => Promise<Response> {
  const forward = options.forward ?? defaultForward;
  const log = options.log ?? (() => {});
  return async (request, source) => {
    const state = await options.readState();
    const tailnet = source.via === "tailnet";
    const allowed = tailnet
      ? tailnetAllows(state, source.publicPort)
      : funnelAllows(state, source.publicPort);
    if (!allowed) return notFound();
    const hp = `${state.options.dnsName}:${source.publicPort}`;
    const web = allConfigs(state.serve).find((c) => (tailnet || c.AllowFunnel?.[hp]) && c.Web?.[hp])
      ?.Web?.[hp];
    const url = new URL(request.url);
    const found = web ? findHandler(web.Handlers, url.pathname) : undefined;
    if (!found) return notFound();
    const { handler, mount } = found;
    if (handler.Text) {
      return new Response(handler.Text, {
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    if (handler.Path) return await serveFile(handler.Path, mount, url.pathname);
    if (!handler.Proxy) return new Response("empty handler\n", { status: 500 });
    const host = request.headers.get("host") ?? url.host;
    const target = backendUrl(handler.Proxy, mount, url);
    const headers = outboundHeaders(
      request.headers,
      host,
      source.clientIp,
      daemonVersion(state),
      source.via ?? "funnel",
    );
    let upstream: Response;
    try {
      upstream = await forward(
        target,
        request.method,
        headers,
        request.body,
        request.signal,
        handler.Proxy.startsWith("https+insecure:"),
      );
    } catch (e) {
      log(`http: proxy error: ${(e as Error).message}`);
      return new Response(null, { status: 502 });
    }
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: responseHeaders(upstream.headers),
    });
  };
}

async function serveFile(root: string, mount: string, urlPath: string): Promise<Response> {
  const rel = urlPath.startsWith(mount) ? urlPath.slice(mount.length) : "";
  const file = rel ? `${root}/${cleanPath("/" + rel).slice(1)}` : root;
  try {
    const info = await Deno.stat(file);
    if (!info.isFile) return notFound();
    return new Response((await Deno.open(file)).readable);
  } catch {
    return notFound();
  }
}
