/**
 * Pure request-shape decisions of the edge: which raw request target reached
 * us, whether it is one of the few routes we publish, and which headers may
 * go on to the gateway or back to the client.
 *
 * `Deno.serve` does not normalise the request target: `request.url` is
 * `http://` + the `Host` header + the raw target, byte for byte. So
 * `/v1/../tools/invoke`, `%2e%2e` and `//v1/...` arrive as sent, and an
 * absolute-form target (`GET http://other/v1/models`) arrives as that URL,
 * which does not start with `http://<Host>/`. {@link rawTarget} recovers
 * the target and refuses anything ambiguous; {@link matchRoute} only accepts
 * exact, literal paths. The upstream path is always rebuilt from the route,
 * never copied from the request, so the gateway (which does normalise
 * `..` and `%2e`) never sees a client-chosen path.
 *
 * @module
 */

/** A published route. */
export interface Route {
  /** `chat`: POST /v1/chat/completions; `responses`: POST /v1/responses; `models`/`model`: GET. */
  kind: "chat" | "responses" | "models" | "model" | "health";
  /** The path sent to the gateway (canonical, rebuilt). */
  upstreamPath: string;
  /** The path as logged. */
  logPath: string;
  /** For `model`: the decoded model id asked for. */
  modelId?: string;
}

/** The edge's unauthenticated health path. */
export const HEALTH_PATH = "/.well-known/ecto/health";

const HOST_RE = /^[A-Za-z0-9.\-_:\[\]]{1,255}$/;
/** RFC 3986 path characters (pchar and "/"). */
const PATH_RE = /^\/[A-Za-z0-9\-._~%!$&'()*+,;=:@\/]*$/;
/** A model id after one percent-decoding: OpenClaw ids look like `openclaw/main`, `agent:x`. */
const MODEL_ID_RE = /^[A-Za-z0-9._:@\-\/]{1,200}$/;

/**
 * The origin-form request target of a request `Deno.serve` produced, or
 * `undefined` when there is no usable `Host`, the host is malformed, or the
 * target was not origin-form (absolute-form, authority-form, `*`).
 */
export function rawTarget(url: string, host: string | null): string | undefined {
  if (host === null || !HOST_RE.test(host)) return undefined;
  // "http://" + host, then the target must start with "/".
  const start = 7 + host.length;
  if (url.length <= start || url.charCodeAt(start) !== 47) return undefined;
  if (!url.startsWith("http://") || url.slice(7, start) !== host) return undefined;
  return url.slice(start);
}

/**
 * The route for `method` + raw `target`, or `undefined` (404). Only exact
 * literal paths match: no dot segments, no doubled slashes, no
 * percent-encoding except inside a model id, where the id is decoded once,
 * checked, and re-encoded. A query string is accepted and dropped; a
 * fragment is refused.
 */
export function matchRoute(
  method: string,
  target: string,
  enableResponses: boolean,
): Route | undefined {
  if (target.includes("#")) return undefined;
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  switch (path) {
    case "/v1/chat/completions":
      return method === "POST" ? CHAT : undefined;
    case "/v1/models":
      return method === "GET" ? MODELS : undefined;
    case "/v1/responses":
      return method === "POST" && enableResponses ? RESPONSES : undefined;
    case HEALTH_PATH:
      return method === "GET" ? HEALTH : undefined;
  }
  if (method !== "GET" || !path.startsWith("/v1/models/") || !PATH_RE.test(path)) {
    return undefined;
  }
  const id = modelId(path.slice(11));
  if (id === undefined) return undefined;
  const encoded = encodeURIComponent(id);
  return {
    kind: "model",
    upstreamPath: `/v1/models/${encoded}`,
    logPath: `/v1/models/${encoded}`,
    modelId: id,
  };
}

const CHAT: Route = Object.freeze({
  kind: "chat",
  upstreamPath: "/v1/chat/completions",
  logPath: "/v1/chat/completions",
});
const MODELS: Route = Object.freeze({
  kind: "models",
  upstreamPath: "/v1/models",
  logPath: "/v1/models",
});
const RESPONSES: Route = Object.freeze({
  kind: "responses",
  upstreamPath: "/v1/responses",
  logPath: "/v1/responses",
});
const HEALTH: Route = Object.freeze({
  kind: "health",
  upstreamPath: "/readyz",
  logPath: HEALTH_PATH,
});

/** A model id from its (possibly percent-encoded) path segment(s), or `undefined` when unsafe. */
function modelId(encoded: string): string | undefined {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  if (!MODEL_ID_RE.test(id)) return undefined;
  for (const segment of id.split("/")) {
    if (segment === "" || segment === "." || segment === "..") return undefined;
  }
  return id;
}

/** Request headers never forwarded (lower-case). */
const DROP_REQUEST = new Set([
  // hop-by-hop (RFC 9110 §7.6.1) and framing: the upstream hop gets its own
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "expect",
  "host",
  // the client's credential: replaced by the gateway token; alternative key headers dropped too
  "authorization",
  "x-api-key",
  "api-key",
  // attribution: the gateway 403s loopback requests that carry any of these
  "forwarded",
  "x-real-ip",
  "x-client-ip",
  "true-client-ip",
  "cf-connecting-ip",
  "via",
  // browser context: not an API client's business; the gateway's Control UI reads cookies
  // (plugin-tab auth) and browser-origin policy reads Origin
  "cookie",
  "origin",
  "referer",
  // the edge asks for identity encoding itself (fetch would otherwise decode behind our back)
  "accept-encoding",
]);

/** Prefixes of request headers never forwarded. */
const DROP_REQUEST_PREFIXES = ["x-openclaw-", "x-forwarded-", "tailscale-", "proxy-", "sec-"];

/** Response headers never passed back (hop-by-hop, and cookies: the edge is a public origin). */
const DROP_RESPONSE = new Set([
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-connection",
  "set-cookie",
]);

/** A header list as name/value pairs (cheaper to build than a `Headers` object). */
export type HeaderPairs = [string, string][];

/** Result of {@link forwardRequestHeaders}. */
export interface ForwardedHeaders {
  /** What may go upstream; the caller adds `Authorization`. */
  headers: HeaderPairs;
  /** Header fields seen. */
  count: number;
  /** Total bytes of names and values. */
  bytes: number;
}

/**
 * The headers to send upstream: everything except hop-by-hop headers (and
 * any named in `Connection`), the client's credentials, `x-openclaw-*`,
 * forwarding/attribution headers (`X-Forwarded-*`, `Forwarded`,
 * `X-Real-IP`, `Tailscale-*`, `Via`), `Cookie`, `Origin`, `Referer`,
 * `Sec-*` and anything else mentioning `openclaw`. No forwarding header is
 * added: the edge calls the gateway as a plain local client. Also counts the
 * fields and their size for the header limits.
 */
export function forwardRequestHeaders(source: Headers): ForwardedHeaders {
  const out: HeaderPairs = [];
  const connection = source.get("connection");
  const named = connection === null ? undefined : new Set(
    connection.toLowerCase().split(",").map((s) => s.trim()).filter((s) => s !== ""),
  );
  let count = 0;
  let bytes = 0;
  for (const [name, value] of source) {
    count++;
    bytes += name.length + value.length;
    if (DROP_REQUEST.has(name) || named?.has(name)) continue;
    if (name.includes("openclaw")) continue;
    let dropped = false;
    for (const prefix of DROP_REQUEST_PREFIXES) {
      if (name.startsWith(prefix)) {
        dropped = true;
        break;
      }
    }
    if (!dropped) out.push([name, value]);
  }
  return { headers: out, count, bytes };
}

/** The upstream response headers (lower-case names) fit to return to the client. */
export function forwardResponseHeaders(source: HeaderPairs): HeaderPairs {
  const out: HeaderPairs = [];
  let connection: string | null = null;
  for (const [name, value] of source) if (name === "connection") connection = value;
  const named = connection === null ? undefined : new Set(
    connection.toLowerCase().split(",").map((s) => s.trim()).filter((s) => s !== ""),
  );
  for (const [name, value] of source) {
    if (DROP_RESPONSE.has(name) || named?.has(name)) continue;
    out.push([name, value]);
  }
  return out;
}

/** OpenAI's error body. */
export interface OpenAiError {
  /** `message`: one sentence; `type`: OpenAI's error class; `code`: a stable id. */
  error: { message: string; type: string; code: string };
}

/** A JSON error response in OpenAI's shape `{"error":{"message","type","code"}}`. */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  type: string = errorType(status),
  extraHeaders?: Record<string, string>,
): Response {
  const body: OpenAiError = { error: { message, type, code } };
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      ...extraHeaders,
    },
  });
}

function errorType(status: number): string {
  if (status === 401) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}
