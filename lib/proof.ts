/**
 * Proof that the public URL works, and which path was proven.
 *
 * A check from the host itself would normally go through the tailnet (the
 * system resolver is MagicDNS), not the internet. So the public check resolves
 * the node's DNS name with public DNS servers (1.1.1.1, then 8.8.8.8, then
 * 9.9.9.9), connects to that address, and speaks TLS for the real name (SNI and
 * certificate verification for the DNS name). On that connection:
 *
 * 1. `GET /v1/models` without a key must get 401 with ecto's edge error
 *    (`{"error":{"code":"invalid_api_key",...}}`), so a 401 from something
 *    else does not count;
 * 2. only then, `GET /v1/models` with the client key must get 200 and an
 *    OpenAI list.
 *
 * While public DNS has not caught up (no record, connection refused, TLS
 * failure, 502–504) the check is retried within a bound, reported through
 * progress events; then it falls back to the tailnet path (the node's
 * Tailscale IPs, then the name through the system resolver) and says plainly
 * that only the tailnet path was proven.
 *
 * Sandbox and test contract: `ECTO_CONNECT_TO=HOST:PORT:ADDR:PORT[,…]` (curl's
 * `--connect-to`: connect to ADDR:PORT instead of what DNS says, keeping the
 * TLS name; a matching entry replaces the DNS step and counts as the public
 * path) and `ECTO_CA_FILE=PEM` (an extra trusted CA).
 *
 * Why not `fetch` with `Deno.createHttpClient({ proxy: { transport: "tcp" } })`:
 * in Deno 2.9.6 that transport sends plain-text HTTP (absolute-form request
 * line) to the socket and never starts TLS, so it cannot verify the name. The
 * checks use `Deno.connect` + `Deno.startTls({ hostname })` and a minimal
 * HTTP/1.1 client instead ({@link httpsGet}).
 *
 * @module
 */
import { EctoError } from "./errors.ts";
import { type EventSink, ignoreEvents } from "./events.ts";
import type { EnvLookup } from "./paths.ts";

/** The public base URL: `https://HOST` on 443, `https://HOST:PORT` otherwise. */
export function baseUrl(dnsName: string, port: number): string {
  const host = dnsName.replace(/\.$/, "");
  return port === 443 ? `https://${host}` : `https://${host}:${port}`;
}

// ---------------------------------------------------------------------------
// ECTO_CONNECT_TO

/** One `HOST:PORT:ADDR:PORT` entry; an empty HOST/PORT matches any, an empty ADDR/PORT keeps the original. */
export interface ConnectToRule {
  /** Host to match (lower case, no trailing dot); `""` matches any host. */
  host: string;
  /** Port to match; `undefined` matches any port. */
  port?: number;
  /** Where to connect instead (IP or name, without brackets); `""` keeps the host. */
  toHost: string;
  /** Port to connect to instead; `undefined` keeps the port. */
  toPort?: number;
}

function invalidConnectTo(entry: string, why: string): EctoError {
  return new EctoError(
    "invalid_connect_to",
    `ECTO_CONNECT_TO entry "${entry}" is not HOST:PORT:ADDR:PORT (${why}).`,
    { fix: "Set ECTO_CONNECT_TO like edge.tail1234.ts.net:443:127.0.0.1:8443, or unset it." },
  );
}

/**
 * Parses curl `--connect-to` syntax, entries separated by commas. IPv6
 * addresses go in brackets (`name:443:[::1]:8443`). Throws
 * {@link EctoError} `invalid_connect_to` on bad input.
 */
export function parseConnectTo(spec: string): ConnectToRule[] {
  const rules: ConnectToRule[] = [];
  for (const raw of spec.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    let i = 0;
    const readHost = (): string => {
      if (entry[i] === "[") {
        const end = entry.indexOf("]", i);
        if (end < 0) throw invalidConnectTo(entry, "unclosed [");
        const host = entry.slice(i + 1, end);
        if (!host.includes(":")) throw invalidConnectTo(entry, "brackets are for IPv6 addresses");
        i = end + 1;
        return host;
      }
      const end = entry.indexOf(":", i);
      const host = entry.slice(i, end < 0 ? entry.length : end);
      i += host.length;
      return host;
    };
    const readPort = (last: boolean): number | undefined => {
      const end = last ? entry.length : entry.indexOf(":", i);
      if (end < 0) throw invalidConnectTo(entry, "expected four fields");
      const text = entry.slice(i, end);
      i = end;
      if (text === "") return undefined;
      if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
        throw invalidConnectTo(entry, `bad port "${text}"`);
      }
      return Number(text);
    };
    const expectColon = () => {
      if (entry[i] !== ":") throw invalidConnectTo(entry, "expected four fields");
      i++;
    };
    const host = readHost();
    expectColon();
    const port = readPort(false);
    expectColon();
    const toHost = readHost();
    expectColon();
    const toPort = readPort(true);
    if (/[\s/@]/.test(host) || /[\s/@]/.test(toHost)) {
      throw invalidConnectTo(entry, "hosts cannot contain spaces, / or @");
    }
    if (toHost === "" && toPort === undefined) {
      throw invalidConnectTo(entry, "it redirects nowhere");
    }
    const rule: ConnectToRule = { host: host.toLowerCase().replace(/\.$/, ""), toHost };
    if (port !== undefined) rule.port = port;
    if (toPort !== undefined) rule.toPort = toPort;
    rules.push(rule);
  }
  return rules;
}

/** The first rule matching `host:port`, applied: where to connect instead, or `undefined`. */
export function matchConnectTo(
  rules: readonly ConnectToRule[],
  host: string,
  port: number,
): { hostname: string; port: number } | undefined {
  const name = host.toLowerCase().replace(/\.$/, "");
  for (const rule of rules) {
    if (
      (rule.host === "" || rule.host === name) && (rule.port === undefined || rule.port === port)
    ) {
      return { hostname: rule.toHost === "" ? host : rule.toHost, port: rule.toPort ?? port };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// HTTPS GET over a chosen address

/** One GET over TLS to a chosen address, verifying the certificate for `serverName`. */
export interface HttpsGetRequest {
  /** Where to connect: an IP address, or a name the system resolver resolves. */
  address: string;
  /** TCP port to connect to. */
  port: number;
  /** TLS server name: sent as SNI and required in the certificate. */
  serverName: string;
  /** `Host` header, e.g. `build-box.tail1234.ts.net` or `…:8443`. */
  hostHeader: string;
  /** Request target, e.g. `/v1/models`. */
  path: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Extra trusted CA certificates (PEM), on top of the system's. */
  caCerts?: string[];
  /** Whole-exchange timeout. */
  timeoutMs: number;
}

/** A response read to the end. */
export interface HttpsGetResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The body, decoded as UTF-8 (at most 1 MiB). */
  body: string;
}

/** The connector the proof uses; {@link httpsGet} by default. */
export type HttpsGet = (request: HttpsGetRequest) => Promise<HttpsGetResponse>;

const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * `GET` over `Deno.connect` + `Deno.startTls` with a minimal HTTP/1.1 client
 * (`Connection: close`, `Content-Length`, chunked, or read to EOF). Connection
 * errors are Deno's (`ConnectionRefused`, `InvalidData` for certificates,
 * `TimedOut` when `timeoutMs` passes); they never contain the headers.
 */
export async function httpsGet(request: HttpsGetRequest): Promise<HttpsGetResponse> {
  const lines = [
    `GET ${request.path} HTTP/1.1`,
    `Host: ${request.hostHeader}`,
    "User-Agent: ecto-proof",
    "Accept: application/json",
    "Connection: close",
  ];
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (/[\r\n]/.test(name + value)) throw new TypeError(`header ${name} contains a line break`);
    lines.push(`${name}: ${value}`);
  }
  const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");

  const controller = new AbortController();
  let conn: Deno.Conn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
    try {
      conn?.close();
    } catch { /* already closed */ }
  }, request.timeoutMs);
  try {
    const tcp = await Deno.connect({
      hostname: request.address,
      port: request.port,
      signal: controller.signal,
    });
    conn = tcp;
    const tls = await Deno.startTls(tcp, {
      hostname: request.serverName,
      caCerts: request.caCerts ?? [],
      alpnProtocols: ["http/1.1"],
    });
    conn = tls;
    await tls.handshake();
    for (let written = 0; written < head.length;) {
      written += await tls.write(head.subarray(written));
    }
    return await readResponse(tls);
  } catch (error) {
    if (timedOut) {
      throw new Deno.errors.TimedOut(
        `no answer from ${request.address}:${request.port} within ${request.timeoutMs} ms`,
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
}

function indexOfSequence(haystack: Uint8Array, needle: number[], from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const CRLF = [13, 10];
const CRLFCRLF = [13, 10, 13, 10];

/** Reads one HTTP/1.1 response from `conn` (which the server may close at the end). */
async function readResponse(conn: Deno.Conn): Promise<HttpsGetResponse> {
  let buffer = new Uint8Array(0);
  let eof = false;
  const chunk = new Uint8Array(16 * 1024);
  const more = async (): Promise<void> => {
    let n: number | null;
    try {
      n = await conn.read(chunk);
    } catch (error) {
      // Servers that close without close_notify: treat as end of stream.
      if (error instanceof Deno.errors.UnexpectedEof) n = null;
      else throw error;
    }
    if (n === null) {
      eof = true;
      return;
    }
    const next = new Uint8Array(buffer.length + n);
    next.set(buffer);
    next.set(chunk.subarray(0, n), buffer.length);
    buffer = next;
    if (buffer.length > MAX_RESPONSE_BYTES) throw new Error("response larger than 1 MiB");
  };
  const decoder = new TextDecoder();

  for (;;) {
    let headEnd: number;
    while ((headEnd = indexOfSequence(buffer, CRLFCRLF)) < 0) {
      if (eof) throw new Error("connection closed before the response headers ended");
      await more();
    }
    const headText = decoder.decode(buffer.subarray(0, headEnd));
    const [statusLine = "", ...headerLines] = headText.split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!match) {
      throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(statusLine.slice(0, 40))}`);
    }
    const status = Number(match[1]);
    const headers = new Headers();
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      try {
        headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      } catch { /* invalid header: ignore */ }
    }
    buffer = buffer.subarray(headEnd + 4);
    if (status >= 100 && status < 200) continue; // interim response

    if (status === 204 || status === 304) return { status, headers, body: "" };
    if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) {
      const parts: Uint8Array[] = [];
      for (;;) {
        let lineEnd: number;
        while ((lineEnd = indexOfSequence(buffer, CRLF)) < 0) {
          if (eof) throw new Error("connection closed inside a chunked body");
          await more();
        }
        const size = parseInt(decoder.decode(buffer.subarray(0, lineEnd)).split(";")[0]!, 16);
        if (!Number.isFinite(size) || size < 0) throw new Error("bad chunk size");
        buffer = buffer.subarray(lineEnd + 2);
        if (size === 0) break;
        while (buffer.length < size + 2) {
          if (eof) throw new Error("connection closed inside a chunk");
          await more();
        }
        parts.push(buffer.slice(0, size));
        buffer = buffer.subarray(size + 2);
      }
      const total = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let offset = 0;
      for (const p of parts) {
        total.set(p, offset);
        offset += p.length;
      }
      return { status, headers, body: decoder.decode(total) };
    }
    const lengthHeader = headers.get("content-length");
    if (lengthHeader !== null) {
      const length = Number(lengthHeader);
      if (!Number.isInteger(length) || length < 0) throw new Error("bad Content-Length");
      while (buffer.length < length) {
        if (eof) throw new Error("connection closed before the body ended");
        await more();
      }
      return { status, headers, body: decoder.decode(buffer.subarray(0, length)) };
    }
    while (!eof) await more();
    return { status, headers, body: decoder.decode(buffer) };
  }
}

// ---------------------------------------------------------------------------
// What counts as proof

/** `true` when a response is ecto's edge refusing a request without a key. */
export function isEdgeUnauthorized(status: number, body: string): boolean {
  if (status !== 401) return false;
  try {
    const value = JSON.parse(body) as { error?: { code?: unknown } };
    return value?.error?.code === "invalid_api_key";
  } catch {
    return false;
  }
}

/** The model ids of an OpenAI list response (`{"object":"list","data":[…]}`), else `undefined`. */
export function parseModelList(status: number, body: string): string[] | undefined {
  if (status !== 200) return undefined;
  try {
    const value = JSON.parse(body) as { object?: unknown; data?: unknown };
    if (value?.object !== "list" || !Array.isArray(value.data)) return undefined;
    return value.data
      .map((m: unknown) => (m as { id?: unknown })?.id)
      .filter((id): id is string => typeof id === "string");
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// The proof

/** A DNS server to ask. */
export interface NameServer {
  /** The server's IP address, e.g. `1.1.1.1`. */
  ipAddr: string;
  /** Usually 53. */
  port: number;
}

/** The public resolvers, in the order they are asked. */
export const PUBLIC_NAME_SERVERS: readonly NameServer[] = [
  { ipAddr: "1.1.1.1", port: 53 },
  { ipAddr: "8.8.8.8", port: 53 },
  { ipAddr: "9.9.9.9", port: 53 },
];

/** Resolves `name` to addresses of `type` by asking `nameServer` directly. */
export type PublicResolver = (
  name: string,
  type: "A" | "AAAA",
  nameServer: NameServer,
  signal: AbortSignal,
) => Promise<string[]>;

/** The effects the proof uses; every one has a real default. */
export interface ProofDeps {
  /** Default: `Deno.resolveDns(name, type, { nameServer, signal })`. */
  resolveDns: PublicResolver;
  /** Default: {@link httpsGet}. */
  httpsGet: HttpsGet;
  /** Milliseconds clock. Default: `Date.now`. */
  now: () => number;
  /** Default: a `setTimeout` promise. */
  sleep: (ms: number) => Promise<void>;
  /** Reads `ECTO_CA_FILE`. Default: `Deno.readTextFile`. */
  readTextFile: (path: string) => Promise<string>;
}

/** Options for {@link provePublicUrl}. */
export interface ProveOptions {
  /** The node's DNS name, e.g. `build-box.tail1234.ts.net` (a trailing dot is fine). */
  dnsName: string;
  /** The public Funnel port: 443, 8443 or 10000. */
  port: number;
  /** A client key the edge accepts. Sent only after the edge has been recognised. */
  clientKey: string;
  /** The node's Tailscale IPs (100.x, fd7a:…), tried first on the tailnet path. */
  tailnetAddresses?: string[];
  /** Environment for `ECTO_CONNECT_TO` and `ECTO_CA_FILE`. Default: `Deno.env.get`. */
  env?: EnvLookup;
  /** How long to wait for public DNS / the public path (default 60 000 ms). */
  waitMs?: number;
  /** Pause between public attempts (default 3 000 ms). */
  retryIntervalMs?: number;
  /** Timeout of one HTTPS exchange (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Timeout of one DNS query (default 3 000 ms). */
  dnsTimeoutMs?: number;
  /** Public resolvers to ask (default {@link PUBLIC_NAME_SERVERS}). */
  nameServers?: readonly NameServer[];
  /** Progress while waiting, a note on fallback. */
  events?: EventSink;
  /** Effects, for tests. */
  deps?: Partial<ProofDeps>;
}

/** Which path both checks passed on. */
export type ProofPath = "public" | "tailnet" | "none";

/** What public DNS (or `ECTO_CONNECT_TO`) said, on the last attempt. */
export interface PublicDnsResult {
  /** `connect-to` when an `ECTO_CONNECT_TO` entry replaced the DNS step. */
  source: "public-dns" | "connect-to";
  /** The resolver that gave the addresses, e.g. `1.1.1.1`. */
  nameServer?: string;
  /** Addresses found (A first, then AAAA); empty when none. */
  addresses: string[];
  /** Why there were no addresses. */
  error?: string;
}

/** One check's outcome. `status` is `null` when there was no HTTP answer. */
export interface CheckResult {
  /** The HTTP status, or `null` when nothing answered (or the check was not attempted). */
  status: number | null;
  /** Whether the check passed. */
  ok: boolean;
  /** What went wrong, in words, when not ok. */
  error?: string;
}

/** The authenticated check, with the model ids the list held. */
export interface AuthCheckResult extends CheckResult {
  /** Model ids from the list (empty unless `ok`). */
  models: string[];
}

/** Everything the proof found. Claims no more than was proven. */
export interface ProofResult {
  /** The path both checks passed on; `none` when neither path passed. */
  path: ProofPath;
  /** The public base URL that was checked. */
  url: string;
  /** Public DNS on the last public attempt. */
  publicDns: PublicDnsResult;
  /** Why the public path is not proven (absent when `path` is `public`). */
  publicError?: string;
  /** Which path `unauthenticated`/`authenticated` describe (`null`: nothing answered). */
  checkedVia: "public" | "tailnet" | null;
  /** The `ADDR:PORT` the reported checks went to. */
  target?: string;
  /** `GET /v1/models` without a key: must be 401 from ecto's edge. */
  unauthenticated: CheckResult;
  /** `GET /v1/models` with the client key: must be 200 with an OpenAI list. */
  authenticated: AuthCheckResult;
  /** Public attempts made. */
  attempts: number;
  /** Time the whole proof took, by the injected clock. */
  durationMs: number;
  /** One or two sentences for people. */
  detail: string;
}

interface Target {
  address: string;
  port: number;
}

type TargetOutcome =
  | { kind: "unreachable"; error: string }
  | {
    kind: "answered";
    unauthenticated: CheckResult;
    authenticated: AuthCheckResult;
    /** The edge or something in front of it is not ready (502–504): worth retrying. */
    transient: boolean;
  };

/** A short, secret-free description of a connection or DNS failure. */
export function describeFailure(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.TimedOut) return "timed out";
  if (error instanceof DOMException && error.name === "AbortError") return "timed out";
  if (error instanceof Deno.errors.NotFound) return "no such name";
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Deno.errors.InvalidData || /certificate|tls|alert/i.test(message)) {
    return `TLS failed: ${message}`;
  }
  return message;
}

const NOT_ATTEMPTED_AUTH = (why: string): AuthCheckResult => ({
  status: null,
  ok: false,
  error: `not attempted: ${why}`,
  models: [],
});

/**
 * Proves that `baseUrl(dnsName, port)` serves ecto's edge from the internet,
 * or failing that over the tailnet, and says which. Never throws for a failed
 * check (the result says what failed); throws {@link EctoError} only for bad
 * `ECTO_CONNECT_TO` / `ECTO_CA_FILE` settings.
 */
export async function provePublicUrl(options: ProveOptions): Promise<ProofResult> {
  const deps: ProofDeps = {
    resolveDns: (name, type, nameServer, signal) =>
      Deno.resolveDns(name, type, { nameServer, signal }),
    httpsGet,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    readTextFile: (path) => Deno.readTextFile(path),
    ...options.deps,
  };
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const events = options.events ?? ignoreEvents;
  const waitMs = options.waitMs ?? 60_000;
  const retryMs = options.retryIntervalMs ?? 3_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const dnsTimeoutMs = options.dnsTimeoutMs ?? 3_000;
  const nameServers = options.nameServers ?? PUBLIC_NAME_SERVERS;
  const dnsName = options.dnsName.replace(/\.$/, "");
  const port = options.port;
  const url = baseUrl(dnsName, port);
  const hostHeader = port === 443 ? dnsName : `${dnsName}:${port}`;

  const connectToSpec = env("ECTO_CONNECT_TO");
  const redirect = connectToSpec
    ? matchConnectTo(parseConnectTo(connectToSpec), dnsName, port)
    : undefined;
  const caFile = env("ECTO_CA_FILE");
  const caCerts: string[] = [];
  if (caFile) {
    try {
      caCerts.push(await deps.readTextFile(caFile));
    } catch (error) {
      throw new EctoError(
        "ca_file_unreadable",
        `ECTO_CA_FILE points to ${caFile}, which cannot be read.`,
        {
          fix: "Point ECTO_CA_FILE at a PEM certificate file, or unset it.",
          cause: error,
        },
      );
    }
  }

  const start = deps.now();
  const elapsed = () => deps.now() - start;

  const check = async (target: Target): Promise<TargetOutcome> => {
    const request = {
      address: target.address,
      port: target.port,
      serverName: dnsName,
      hostHeader,
      path: "/v1/models",
      caCerts,
      timeoutMs: requestTimeoutMs,
    };
    let first: HttpsGetResponse;
    try {
      first = await deps.httpsGet(request);
    } catch (error) {
      return { kind: "unreachable", error: describeFailure(error) };
    }
    const transient = first.status >= 502 && first.status <= 504;
    if (!isEdgeUnauthorized(first.status, first.body)) {
      const error = first.status === 401
        ? "answered 401 without a key, but not with ecto's edge error: something else answers here"
        : first.status === 200
        ? "answered 200 without a key: the URL is open to anyone"
        : `answered ${first.status} without a key (expected 401 from ecto's edge)`;
      return {
        kind: "answered",
        transient,
        unauthenticated: { status: first.status, ok: false, error },
        authenticated: NOT_ATTEMPTED_AUTH("the edge was not recognised"),
      };
    }
    const unauthenticated: CheckResult = { status: 401, ok: true };
    let second: HttpsGetResponse;
    try {
      second = await deps.httpsGet({
        ...request,
        headers: { Authorization: `Bearer ${options.clientKey}` },
      });
    } catch (error) {
      return {
        kind: "answered",
        transient: true,
        unauthenticated,
        authenticated: {
          status: null,
          ok: false,
          error: `no answer with the key: ${describeFailure(error)}`,
          models: [],
        },
      };
    }
    const models = parseModelList(second.status, second.body);
    if (models) {
      return {
        kind: "answered",
        transient: false,
        unauthenticated,
        authenticated: { status: 200, ok: true, models },
      };
    }
    const error = second.status === 200
      ? "answered 200 with the key, but not with an OpenAI model list"
      : second.status === 401
      ? "the edge rejected the client key (401)"
      : `answered ${second.status} with the client key (expected 200 from the gateway)`;
    return {
      kind: "answered",
      transient: second.status >= 502 && second.status <= 504,
      unauthenticated,
      authenticated: { status: second.status, ok: false, error, models: [] },
    };
  };

  const resolvePublic = async (): Promise<PublicDnsResult> => {
    if (redirect) {
      return { source: "connect-to", addresses: [redirect.hostname] };
    }
    const problems: string[] = [];
    for (const server of nameServers) {
      const answers = await Promise.all((["A", "AAAA"] as const).map(async (type) => {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), dnsTimeoutMs);
        try {
          return {
            type,
            addresses: await deps.resolveDns(dnsName, type, server, controller.signal),
          };
        } catch (error) {
          return { type, addresses: [] as string[], error };
        } finally {
          clearTimeout(timer);
        }
      }));
      const addresses = answers.flatMap((a) => a.addresses);
      if (addresses.length > 0) {
        return { source: "public-dns", nameServer: server.ipAddr, addresses };
      }
      const failures = answers.filter((a) =>
        a.error !== undefined && !(a.error instanceof Deno.errors.NotFound)
      );
      problems.push(
        failures.length === 0
          ? `${server.ipAddr}: no A/AAAA record`
          : `${server.ipAddr}: ${describeFailure(failures[0]!.error)}`,
      );
    }
    return {
      source: "public-dns",
      addresses: [],
      error: `${dnsName} not in public DNS (${problems.join("; ")})`,
    };
  };

  // 1. The public path, retried within the bound.
  let attempts = 0;
  let publicDns: PublicDnsResult = {
    source: redirect ? "connect-to" : "public-dns",
    addresses: [],
  };
  let publicAnswer:
    | { target: string; outcome: Extract<TargetOutcome, { kind: "answered" }> }
    | undefined;
  let publicError = "";
  for (;;) {
    attempts++;
    publicDns = await resolvePublic();
    publicAnswer = undefined;
    if (publicDns.addresses.length === 0) {
      publicError = publicDns.error ?? "no address";
    } else {
      const failures: string[] = [];
      const targetPort = redirect?.port ?? port;
      for (const address of publicDns.addresses) {
        const outcome = await check({ address, port: targetPort });
        const where = `${formatHostPort(address, targetPort)}`;
        if (outcome.kind === "answered") {
          publicAnswer = { target: where, outcome };
          break;
        }
        failures.push(`${where}: ${outcome.error}`);
      }
      if (!publicAnswer) publicError = `no answer from ${failures.join("; ")}`;
    }
    if (publicAnswer && !publicAnswer.outcome.transient) break;
    if (publicAnswer) publicError = describeOutcome(publicAnswer.outcome);
    if (elapsed() + retryMs > waitMs) break;
    events({
      kind: "progress",
      step: "proof.public",
      message: `Waiting for ${url} to answer from the internet: ${publicError}`,
      elapsedMs: elapsed(),
      limitMs: waitMs,
    });
    await deps.sleep(retryMs);
  }

  const via = redirect
    ? `ECTO_CONNECT_TO target ${publicAnswer?.target ?? ""}`
    : `public DNS address ${publicAnswer?.target ?? ""}`;
  if (publicAnswer && passed(publicAnswer.outcome)) {
    const { unauthenticated, authenticated } = publicAnswer.outcome;
    return {
      path: "public",
      url,
      publicDns,
      checkedVia: "public",
      target: publicAnswer.target,
      unauthenticated,
      authenticated,
      attempts,
      durationMs: elapsed(),
      detail:
        `Proven from the internet via ${via}: ${url}/v1/models refused a request without a key ` +
        `(401 from ecto's edge) and listed ${
          modelCount(authenticated.models)
        } with the client key.`,
    };
  }
  if (publicAnswer) publicError = `${publicAnswer.target} ${describeOutcome(publicAnswer.outcome)}`;

  // 2. The tailnet path: the node's Tailscale IPs, then the name through the system resolver.
  events({
    kind: "note",
    step: "proof.public",
    level: "warn",
    message: `The public path is not proven (${publicError}); checking the tailnet path instead.`,
  });
  const tailnetTargets: Target[] = [
    ...(options.tailnetAddresses ?? []).map((address) => ({ address, port })),
    { address: dnsName, port },
  ];
  const tailnetFailures: string[] = [];
  let tailnetAnswer:
    | { target: string; outcome: Extract<TargetOutcome, { kind: "answered" }> }
    | undefined;
  for (const target of tailnetTargets) {
    const outcome = await check(target);
    const where = formatHostPort(target.address, target.port);
    if (outcome.kind === "answered") {
      tailnetAnswer = { target: where, outcome };
      if (passed(outcome)) break;
      tailnetFailures.push(`${where} ${describeOutcome(outcome)}`);
    } else {
      tailnetFailures.push(`${where}: ${outcome.error}`);
    }
  }
  if (tailnetAnswer && passed(tailnetAnswer.outcome)) {
    const { unauthenticated, authenticated } = tailnetAnswer.outcome;
    return {
      path: "tailnet",
      url,
      publicDns,
      publicError,
      checkedVia: "tailnet",
      target: tailnetAnswer.target,
      unauthenticated,
      authenticated,
      attempts,
      durationMs: elapsed(),
      detail:
        `Only the tailnet path was proven (via ${tailnetAnswer.target}): the edge refused a ` +
        `request without a key and listed ${
          modelCount(authenticated.models)
        } with the client key. ` +
        `The public path is not proven: ${publicError}. Devices outside your tailnet may not reach ` +
        `${url} until public DNS has the name.`,
    };
  }

  // 3. Neither: report the checks of whichever path answered at all.
  const shown = publicAnswer
    ? { via: "public" as const, ...publicAnswer }
    : tailnetAnswer
    ? { via: "tailnet" as const, ...tailnetAnswer }
    : undefined;
  const result: ProofResult = {
    path: "none",
    url,
    publicDns,
    publicError,
    checkedVia: shown?.via ?? null,
    unauthenticated: shown?.outcome.unauthenticated ??
      { status: null, ok: false, error: "nothing answered" },
    authenticated: shown?.outcome.authenticated ?? NOT_ATTEMPTED_AUTH("nothing answered"),
    attempts,
    durationMs: elapsed(),
    detail: `Not proven on any path. Public: ${publicError}. Tailnet: ${
      tailnetFailures.join("; ")
    }.`,
  };
  if (shown) result.target = shown.target;
  return result;
}

function passed(outcome: Extract<TargetOutcome, { kind: "answered" }>): boolean {
  return outcome.unauthenticated.ok && outcome.authenticated.ok;
}

function describeOutcome(outcome: Extract<TargetOutcome, { kind: "answered" }>): string {
  return outcome.unauthenticated.ok
    ? (outcome.authenticated.error ?? "failed the authenticated check")
    : (outcome.unauthenticated.error ?? "failed the unauthenticated check");
}

function modelCount(models: string[]): string {
  return models.length === 1 ? "1 model" : `${models.length} models`;
}

function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
