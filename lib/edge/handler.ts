/**
 * The edge's request handler: the only thing ecto publishes through Funnel.
 *
 * For each request, in this order: exact route allowlist (anything else is a
 * 404 that never touches the gateway), header limits, one `Content-Length`,
 * failed-auth lockout of the client address, the client key (hashed,
 * constant-time; a wrong one is counted and checked in one synchronous step,
 * a good one never clears the count), its expiry, its agent binding (routes
 * the key may not use are refused here), the key's rate and concurrency
 * limits, the body (size-limited, deadline-bound, buffered so a stale pooled
 * connection can be retried; its `model` must not name another agent, and a
 * client key's `user` is namespaced by key id), then the gateway with its own
 * token, `x-openclaw-agent-id` set to the key's agent, a rebuilt path and
 * filtered headers. `/v1/models` answers are cut down to the key's agent.
 * Responses stream back unbuffered; a client that goes away aborts the
 * gateway request.
 *
 * All effects are injected (`fetch`, `now`, audit sink, key verifier, token
 * source) so tests drive it with `new Request(...)`.
 *
 * @example
 * ```ts
 * const handler = createEdgeHandler({
 *   upstream: "http://127.0.0.1:18789",
 *   keys: await KeyStore.open(paths.keysFile),
 *   tokenSource: createConfigTokenSource(configPath),
 * });
 * Deno.serve({ hostname: "127.0.0.1", port: 18795 }, handler);
 * ```
 *
 * @module
 */
import { auditPath, type AuditRecord, type AuditSink, ignoreAudit, redactRecord } from "./audit.ts";
import { filterModelList, modelAllowed, scopeBody } from "./binding.ts";
import { isExpired, type KeyRecord, type KeyRole, type KeyVerifier } from "./keys.ts";
import {
  DEFAULT_KEY_LIMITS,
  DEFAULT_REQUEST_LIMITS,
  FailedAuthLimiter,
  type FailedAuthOptions,
  forwardedClient,
  KeyLimiter,
  type KeyLimits,
  limiterKey,
  type RequestLimits,
  type ResolvedKeyLimits,
  resolveKeyLimits,
} from "./limits.ts";
import {
  errorResponse,
  forwardRequestHeaders,
  forwardResponseHeaders,
  type HeaderPairs,
  matchRoute,
  rawTarget,
  type Route,
} from "./routes.ts";
import type { TokenSource } from "./token_source.ts";
import type { UsageMeter, UsageTicket } from "../usage/meter.ts";
import { SseUsageScanner, type TokenUsage, usageFromJson } from "../usage/parse.ts";
import {
  createHttp1Upstream,
  type FetchLike,
  fetchUpstream,
  type UpstreamClient,
  type UpstreamResponse,
} from "./upstream.ts";

/** A `fetch` to call the gateway with instead of the built-in HTTP/1.1 client (tests inject one). */
export type EdgeFetch = FetchLike;

/** Options of {@link createEdgeHandler}. */
export interface EdgeHandlerOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:18789`. */
  upstream: string;
  /** Checks client keys (a {@link KeyStore} in production). */
  keys: KeyVerifier;
  /** The gateway token (re-read when OpenClaw's config changes). */
  tokenSource: TokenSource;
  /**
   * Call the gateway through this `fetch` instead of the built-in HTTP/1.1 client
   * (tests inject a fake). Without it: the HTTP/1.1 client for `http://` upstreams,
   * Deno's `fetch` with a dedicated `Deno.HttpClient` for `https://`.
   */
  fetch?: EdgeFetch;
  /** Use this gateway client (overrides `fetch`). */
  upstreamClient?: UpstreamClient;
  /** Clock in epoch ms (limits, deadlines, durations, audit times). Default `Date.now`. */
  now?: () => number;
  /** Audit record per request. Default: dropped. */
  audit?: AuditSink;
  /**
   * Counts usage per key and day and enforces daily budgets (`limits.maxRequestsPerDay`,
   * `limits.maxTokensPerDay`) on the routes that run the agent (chat completions,
   * responses; model lists are neither counted nor budgeted). Default: nothing
   * counted, no budgets.
   */
  usage?: Pick<UsageMeter, "admit" | "refused">;
  /** Publish `POST /v1/responses` too. Default `false`. */
  enableResponses?: boolean;
  /**
   * Upstream read timeout, ms: the longest wait for response headers and
   * between two body chunks. Default 600 000 (10 min; agent runs can be silent for minutes).
   */
  upstreamTimeoutMs?: number;
  /** Body and header limits. */
  requestLimits?: Partial<RequestLimits>;
  /** Per-role default key limits (a key's own `limits` override these). */
  keyLimits?: Partial<Record<KeyRole, KeyLimits>>;
  /** Failed-auth lockout settings. */
  failedAuth?: Partial<FailedAuthOptions>;
  /** Bound of the health probe to `/readyz`, ms. Default 1500. */
  healthTimeoutMs?: number;
  /** How long a health answer is reused, ms. Default 1500. */
  healthCacheMs?: number;
  /** Pool idle timeout of the gateway client, ms; must stay under the gateway's 5 s. Default 2500. */
  poolIdleTimeoutMs?: number;
  /** How often deadlines (body read, upstream read) are checked, ms. Default 1000. */
  sweepIntervalMs?: number;
  /** Called after each deadline sweep (tests wait on it instead of a sleep). */
  onSweep?: () => void;
}

/** The handler returned by {@link createEdgeHandler}: a `Deno.serve` handler plus lifecycle controls. */
export interface EdgeHandler {
  /** Handles one request. */
  (request: Request, info: Deno.ServeHandlerInfo): Promise<Response>;
  /** Proxied requests in flight, open streams included. */
  readonly inFlight: number;
  /** Requests handled so far (any outcome). */
  readonly handled: number;
  /** From now on, answer new proxied requests with 503 (health and in-flight streams continue). */
  beginShutdown(): void;
  /** Aborts every in-flight gateway request (their client responses end with an error). */
  abortAll(): void;
  /** Resolves once nothing is in flight. */
  idle(): Promise<void>;
  /** Releases the HTTP client and timers. Call after the server has stopped. */
  close(): Promise<void>;
}

/** Gateway states reported by the health endpoint. */
export type GatewayState = "ready" | "not_ready" | "down" | "error";

/** An admitted request's slot: its rate-limit grant and its usage ticket. */
interface Slot {
  release(): void;
  ticket: UsageTicket | undefined;
}

interface Flight {
  deadline: number;
  expire(): void;
}

class UpstreamTimeout extends Error {
  constructor() {
    super("upstream read timeout");
    this.name = "UpstreamTimeout";
  }
}

class ClientGone extends Error {
  constructor() {
    super("client went away");
    this.name = "ClientGone";
  }
}

const EMPTY: Uint8Array<ArrayBuffer> = new Uint8Array(0);
/** Responses of known length up to this size are read whole instead of relayed chunk by chunk. */
const BUFFER_LIMIT = 1024 * 1024;

/** Creates the edge's request handler; see the module documentation. */
export function createEdgeHandler(options: EdgeHandlerOptions): EdgeHandler {
  const upstream = new URL(options.upstream).href.replace(/\/+$/, "");
  const now = options.now ?? Date.now;
  const audit = options.audit ?? ignoreAudit;
  const usage = options.usage;
  const keys = options.keys;
  const tokenSource = options.tokenSource;
  const enableResponses = options.enableResponses ?? false;
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 600_000;
  const limits: RequestLimits = { ...DEFAULT_REQUEST_LIMITS, ...options.requestLimits };
  const roleDefaults: Record<KeyRole, ResolvedKeyLimits> = {
    owner: { ...DEFAULT_KEY_LIMITS.owner, ...options.keyLimits?.owner },
    client: { ...DEFAULT_KEY_LIMITS.client, ...options.keyLimits?.client },
  };
  const healthTimeoutMs = options.healthTimeoutMs ?? 1500;
  const healthCacheMs = options.healthCacheMs ?? 1500;
  const sweepIntervalMs = options.sweepIntervalMs ?? 1000;

  const poolIdleTimeoutMs = options.poolIdleTimeoutMs ?? 2500;
  const upstreamClient: UpstreamClient = options.upstreamClient ??
    (options.fetch
      ? fetchUpstream(upstream, options.fetch, { bufferLimit: BUFFER_LIMIT })
      : upstream.startsWith("http://")
      ? createHttp1Upstream(upstream, {
        poolIdleTimeoutMs,
        bufferLimit: BUFFER_LIMIT,
        // an injected clock also drives the pool's idle accounting (tests move it)
        ...(options.now ? { now: options.now } : {}),
      })
      : fetchUpstream(upstream, undefined, { bufferLimit: BUFFER_LIMIT, poolIdleTimeoutMs }));

  const failedAuth = new FailedAuthLimiter(options.failedAuth);
  const keyLimiter = new KeyLimiter();
  let closing = false;
  let inFlight = 0;
  let handled = 0;
  let idleWaiters: Array<() => void> = [];
  const aborters = new Set<AbortController>();

  // One coarse timer checks every deadline (body reads, upstream reads), instead of a
  // timer per request; it runs only while something is being watched.
  const flights = new Set<Flight>();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let lastPrune = now();
  const sweep = () => {
    const t = now();
    for (const f of flights) {
      if (f.deadline <= t) {
        flights.delete(f);
        f.expire();
      }
    }
    if (t - lastPrune > 60_000) {
      lastPrune = t;
      keyLimiter.prune(t);
    }
    options.onSweep?.();
    // Stopped after a tick with nothing to watch (not per request: creating timers costs).
    if (flights.size === 0 && sweeper !== undefined) {
      if (++idleTicks >= 2) {
        clearInterval(sweeper);
        sweeper = undefined;
      }
    } else idleTicks = 0;
  };
  let idleTicks = 0;
  const watch = (flight: Flight): void => {
    flights.add(flight);
    if (sweeper === undefined) {
      // unref'd: the server (or an upstream fetch) is what keeps the process alive.
      const timer = setInterval(sweep, sweepIntervalMs);
      Deno.unrefTimer(timer);
      sweeper = timer;
    }
  };
  const unwatch = (flight: Flight): void => {
    flights.delete(flight);
  };

  const begin = (ac: AbortController): void => {
    inFlight++;
    aborters.add(ac);
  };
  const end = (ac: AbortController): void => {
    aborters.delete(ac);
    inFlight--;
    if (inFlight === 0 && idleWaiters.length > 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  // --- health -------------------------------------------------------------
  let healthAt = -Infinity;
  let healthValue: Promise<GatewayState> | undefined;
  const probeGateway = async (): Promise<GatewayState> => {
    try {
      const res = await upstreamClient.request({
        method: "GET",
        path: "/readyz",
        headers: [],
        signal: AbortSignal.timeout(healthTimeoutMs),
      });
      if (res.body instanceof ReadableStream) await res.body.cancel().catch(() => {});
      if (res.status === 200) return "ready";
      if (res.status === 503) return "not_ready";
      return "error";
    } catch {
      return "down";
    }
  };
  const health = async (): Promise<Response> => {
    const t = now();
    if (healthValue === undefined || t - healthAt >= healthCacheMs) {
      healthAt = t;
      healthValue = probeGateway();
    }
    const gateway = await healthValue;
    const ok = gateway === "ready";
    return new Response(JSON.stringify({ ok, edge: closing ? "stopping" : "up", gateway }), {
      status: ok ? 200 : 503,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    });
  };

  // --- audit helpers ------------------------------------------------------
  const record = (
    start: number,
    client: string,
    method: string,
    path: string,
    status: number,
    extra: Partial<AuditRecord>,
  ): void => {
    try {
      audit(redactRecord({
        time: new Date(start).toISOString(),
        client,
        method: method.length > 16 ? method.slice(0, 16) : method,
        path,
        status,
        bytesIn: 0,
        bytes: 0,
        durationMs: Math.max(0, now() - start),
        streamed: false,
        ...extra,
      }));
    } catch {
      // an audit sink must never break a request
    }
  };

  const refuse = (
    start: number,
    client: string,
    method: string,
    path: string,
    key: KeyRecord | undefined,
    status: number,
    code: string,
    message: string,
    headers?: Record<string, string>,
  ): Response => {
    const response = errorResponse(status, code, message, undefined, headers);
    if (key && usage) {
      try {
        usage.refused(key, start);
      } catch { /* counting must never break a request */ }
    }
    record(start, client, method, path, status, {
      outcome: code,
      ...(key ? { keyId: key.id, keyName: key.name } : {}),
    });
    return response;
  };

  // --- body ---------------------------------------------------------------
  type BodyResult = Uint8Array<ArrayBuffer> | "too_large" | "timeout" | "aborted";
  const readBody = async (request: Request): Promise<BodyResult> => {
    const stream = request.body;
    if (stream === null) return EMPTY;
    const reader = (stream as ReadableStream<Uint8Array<ArrayBuffer>>).getReader();
    let timedOut = false;
    const flight: Flight = {
      deadline: now() + limits.bodyTimeoutMs,
      expire: () => {
        timedOut = true;
        reader.cancel(new UpstreamTimeout()).catch(() => {});
      },
    };
    watch(flight);
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let total = 0;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > limits.maxBodyBytes) {
          reader.cancel().catch(() => {});
          return "too_large";
        }
        chunks.push(value);
      }
    } catch {
      return timedOut ? "timeout" : "aborted";
    } finally {
      unwatch(flight);
    }
    if (timedOut) return "timeout";
    if (chunks.length === 1) return chunks[0];
    if (chunks.length === 0) return EMPTY;
    const body = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      body.set(c, offset);
      offset += c.byteLength;
    }
    return body;
  };

  // --- upstream -----------------------------------------------------------
  const proxy = async (
    request: Request,
    route: Route,
    forwardHeaders: HeaderPairs,
    key: KeyRecord,
    slot: Slot,
    start: number,
    client: string,
  ): Promise<Response> => {
    const release = slot.release;
    const method = request.method;
    const path = route.logPath;
    const ids = { keyId: key.id, keyName: key.name };

    const agent = key.agent!;
    let body: Uint8Array<ArrayBuffer> | undefined;
    let stripUsage = false;
    let tokens: TokenUsage | undefined;
    if (method === "POST") {
      const declared = request.headers.get("content-length");
      if (declared !== null && !(Number(declared) <= limits.maxBodyBytes)) {
        release();
        return refuse(start, client, method, path, key, 413, "request_too_large", tooLarge());
      }
      const result = await readBody(request);
      if (typeof result === "string") {
        release();
        if (result === "too_large") {
          return refuse(start, client, method, path, key, 413, "request_too_large", tooLarge());
        }
        if (result === "timeout") {
          return refuse(
            start,
            client,
            method,
            path,
            key,
            408,
            "request_timeout",
            "The request body did not arrive in time.",
            { connection: "close" },
          );
        }
        return refuse(start, client, method, path, key, 400, "client_aborted", "Request aborted.");
      }
      body = result;
      // The body picks the agent and the session: keep both inside the key's.
      const scoped = scopeBody(body, {
        agent,
        keyId: key.id,
        namespaceUser: key.role !== "owner",
        // Usage is counted from the stream's usage chunk, which the gateway sends only when asked.
        askUsage: usage !== undefined && route.kind === "chat",
      });
      if (!scoped.ok) {
        release();
        return refuse(start, client, method, path, key, scoped.status, scoped.code, scoped.message);
      }
      if (scoped.body !== undefined) body = scoped.body;
      stripUsage = scoped.usageAdded === true;
    }

    const token = await tokenSource();
    if (!token) {
      release();
      return refuse(
        start,
        client,
        method,
        path,
        key,
        502,
        "gateway_token_missing",
        "The edge has no token for the OpenClaw gateway.",
      );
    }
    forwardHeaders.push(
      ["authorization", `Bearer ${token}`],
      ["accept-encoding", "identity"],
      // Beats any `model` in the body: the key's agent, whatever the client sent.
      ["x-openclaw-agent-id", agent],
    );

    const ac = new AbortController();
    begin(ac);
    let finished = false;
    const flight: Flight = {
      deadline: now() + upstreamTimeoutMs,
      expire: () => ac.abort(new UpstreamTimeout()),
    };
    watch(flight);
    // A client that disconnects while we wait for the gateway's headers cancels the run.
    // (Only for POST: a model list is quick, and touching request.signal has a cost.)
    const onClientGone = () => ac.abort(new ClientGone());
    const clientSignal = method === "POST" ? request.signal : undefined;
    clientSignal?.addEventListener("abort", onClientGone);

    const finish = (status: number, bytes: number, streamed: boolean, outcome?: string) => {
      if (finished) return;
      finished = true;
      unwatch(flight);
      try {
        slot.ticket?.finish({
          status,
          bytesIn: body?.byteLength ?? 0,
          bytesOut: bytes,
          usage: tokens,
          failed: outcome !== undefined,
        });
      } catch { /* counting must never break a request */ }
      release();
      end(ac);
      record(start, client, method, path, status, {
        ...ids,
        bytesIn: body?.byteLength ?? 0,
        bytes,
        streamed,
        ...(outcome ? { outcome } : {}),
        ...(tokens
          ? {
            promptTokens: tokens.prompt,
            completionTokens: tokens.completion,
            tokens: tokens.prompt + tokens.completion,
          }
          : {}),
      });
    };

    const failed = (error: unknown): Response => {
      const reason = ac.signal.aborted ? ac.signal.reason : undefined;
      if (reason instanceof ClientGone) {
        finish(499, 0, false, "client_aborted");
        return errorResponse(499, "client_aborted", "Client went away.");
      }
      if (reason instanceof UpstreamTimeout) {
        finish(504, 0, false, "upstream_timeout");
        return errorResponse(
          504,
          "upstream_timeout",
          "The OpenClaw gateway did not answer in time.",
        );
      }
      finish(502, 0, false, "gateway_unavailable");
      void error;
      return errorResponse(502, "gateway_unavailable", "The OpenClaw gateway is not reachable.");
    };

    let response: UpstreamResponse;
    try {
      response = await upstreamClient.request({
        method,
        path: route.upstreamPath,
        headers: forwardHeaders,
        ...(body !== undefined ? { body } : {}),
        signal: ac.signal,
      });
    } catch (error) {
      return failed(error);
    } finally {
      clientSignal?.removeEventListener("abort", onClientGone);
    }
    const upstreamBody = response.body;

    if (response.status === 401) {
      // Our token was refused: the client's key was fine, so this is a gateway-side problem.
      if (upstreamBody instanceof ReadableStream) await upstreamBody.cancel().catch(() => {});
      finish(502, 0, false, "gateway_auth_failed");
      return errorResponse(
        502,
        "gateway_auth_failed",
        "The OpenClaw gateway refused the edge's token.",
      );
    }

    if (route.kind === "models" && response.status === 200) {
      return await listForKey(response, agent, finish);
    }

    const headers = forwardResponseHeaders(response.headers);
    let streamed = false;
    for (const [name, value] of response.headers) {
      if (name === "content-type") {
        streamed = value.startsWith("text/event-stream");
        break;
      }
    }
    if (upstreamBody === null) {
      finish(response.status, 0, streamed);
      return new Response(null, { status: response.status, headers });
    }
    const counted = slot.ticket !== undefined;
    if (!(upstreamBody instanceof ReadableStream)) {
      // Read whole by the client (small, known length): no chunk-by-chunk relaying.
      if (counted) tokens = usageFromJson(upstreamBody);
      finish(response.status, upstreamBody.byteLength, false);
      return new Response(upstreamBody, { status: response.status, headers });
    }

    const reader = upstreamBody.getReader();
    let bytes = 0;
    flight.deadline = now() + upstreamTimeoutMs;
    // Usage is read as the stream passes (SSE events; a JSON answer's copy up to 1 MiB).
    const scanner = counted && streamed ? new SseUsageScanner({ strip: stripUsage }) : undefined;
    let jsonCopy: Uint8Array[] | undefined = counted && !streamed ? [] : undefined;
    let jsonBytes = 0;
    const out = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
          // A chunk that held only the stripped usage event leaves nothing to pass: read on.
          while (scanner && !chunk.done) {
            const passed = scanner.push(chunk.value);
            if (passed.byteLength > 0) {
              chunk = { done: false, value: passed };
              break;
            }
            flight.deadline = now() + upstreamTimeoutMs;
            chunk = await reader.read();
          }
        } catch (error) {
          tokens = scanner?.usage;
          const reason = ac.signal.aborted ? ac.signal.reason : undefined;
          finish(
            response.status,
            bytes,
            streamed,
            reason instanceof UpstreamTimeout ? "upstream_timeout" : "upstream_error",
          );
          controller.error(error);
          return;
        }
        if (chunk.done) {
          if (scanner) {
            const rest = scanner.end();
            if (rest.byteLength > 0) {
              bytes += rest.byteLength;
              controller.enqueue(rest);
            }
            tokens = scanner.usage;
          } else if (jsonCopy) tokens = usageFromJson(joinChunks(jsonCopy, jsonBytes));
          finish(response.status, bytes, streamed);
          controller.close();
          return;
        }
        if (jsonCopy) {
          jsonBytes += chunk.value.byteLength;
          if (jsonBytes <= BUFFER_LIMIT) jsonCopy.push(chunk.value);
          else jsonCopy = undefined;
        }
        bytes += chunk.value.byteLength;
        flight.deadline = now() + upstreamTimeoutMs;
        controller.enqueue(chunk.value);
      },
      cancel() {
        tokens = scanner?.usage;
        finish(response.status, bytes, streamed, "client_aborted");
        ac.abort(new ClientGone());
        reader.cancel().catch(() => {});
      },
    }, { highWaterMark: 0 });
    return new Response(out, { status: response.status, headers });
  };

  /** The gateway's model list with only the key's agent in it. */
  const listForKey = async (
    response: UpstreamResponse,
    agent: string,
    finish: (status: number, bytes: number, streamed: boolean, outcome?: string) => void,
  ): Promise<Response> => {
    let text: string | undefined;
    try {
      text = response.body === null
        ? ""
        : response.body instanceof ReadableStream
        ? await readLimited(response.body, BUFFER_LIMIT)
        : new TextDecoder().decode(response.body);
    } catch {
      text = undefined;
    }
    const filtered = text === undefined ? undefined : filterModelList(text, agent);
    if (filtered === undefined) {
      finish(502, 0, false, "gateway_bad_answer");
      return errorResponse(
        502,
        "gateway_bad_answer",
        "The OpenClaw gateway's model list was not valid.",
      );
    }
    const headers = forwardResponseHeaders(response.headers).filter(([name]) =>
      name !== "content-length" && name !== "content-type"
    );
    headers.push(["content-type", "application/json"]);
    const bytes = new TextEncoder().encode(filtered);
    finish(200, bytes.byteLength, false);
    return new Response(bytes, { status: 200, headers });
  };

  const tooLarge = () => `The request body is larger than ${limits.maxBodyBytes} bytes.`;

  // --- the handler --------------------------------------------------------
  const handle = async (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    handled++;
    const start = now();
    const method = request.method;
    const headers = request.headers;
    // Funnel always sends X-Forwarded-For; the peer (always loopback) is the fallback.
    const client = forwardedClient(headers.get("x-forwarded-for")) ??
      ((info.remoteAddr as Deno.NetAddr).hostname ?? "unknown");
    const target = rawTarget(request.url, headers.get("host"));
    const route = target === undefined || headers.has("upgrade")
      ? undefined
      : matchRoute(method, target, enableResponses);
    if (route === undefined) {
      return refuse(
        start,
        client,
        method,
        target === undefined ? "(invalid target)" : auditPath(target),
        undefined,
        404,
        "not_found",
        "Not found.",
      );
    }
    if (route.kind === "health") return await health();
    const path = route.logPath;
    // Every refusal from here on is for this client, method and path.
    const deny = (
      status: number,
      code: string,
      message: string,
      extraHeaders?: Record<string, string>,
      key?: KeyRecord,
    ) => refuse(start, client, method, path, key, status, code, message, extraHeaders);
    const lockedOut = (ms: number) =>
      deny(
        429,
        "too_many_failed_attempts",
        "Too many failed authentication attempts. Please try again later.",
        { "retry-after": retryAfter(ms) },
      );
    if (closing) {
      return deny(503, "shutting_down", "The edge is stopping.", {
        "retry-after": "5",
        connection: "close",
      });
    }

    const forwarded = forwardRequestHeaders(headers);
    if (forwarded.count > limits.maxHeaderCount || forwarded.bytes > limits.maxHeaderBytes) {
      return deny(431, "headers_too_large", "Too many or too large request headers.");
    }

    const declaredLength = headers.get("content-length");
    if (declaredLength !== null && !/^\d{1,15}$/.test(declaredLength)) {
      // Repeated Content-Length fields arrive joined ("5, 5"); conflicting ones are smuggling.
      return deny(
        400,
        "invalid_content_length",
        "The request has a repeated, conflicting or malformed Content-Length header.",
        { connection: "close" },
      );
    }

    const limitKey = limiterKey(client);
    const locked = failedAuth.check(limitKey, start);
    if (locked > 0) {
      return lockedOut(locked);
    }

    const presented = bearer(headers.get("authorization"));
    if (presented === undefined) {
      return deny(
        401,
        "invalid_api_key",
        "Missing API key. Send it as `Authorization: Bearer <key>`.",
      );
    }
    const key = await keys.verify(presented);
    if (key === undefined) {
      const lockout = failedAuth.fail(limitKey, now());
      if (lockout > 0) {
        return lockedOut(lockout);
      }
      return deny(401, "invalid_api_key", "Invalid API key.");
    }
    // A good key does not clear the failures counted for this address (a guesser
    // holding one key would otherwise reset its own count).
    if (isExpired(key, now())) {
      return deny(
        401,
        "key_expired",
        `This key expired at ${key.expires}. Ask its owner for a new one (ecto keys add).`,
        undefined,
        key,
      );
    }
    const agent = key.agent;
    if (agent === undefined) {
      return deny(
        403,
        "key_not_bound",
        "This key is not bound to an agent. Its owner must bind it: `ecto keys edit <id> --agent <agent>` (the owner key: `ecto connect`).",
        undefined,
        key,
      );
    }
    if (route.kind === "responses" && key.role !== "owner") {
      // previous_response_id is shared by every caller of the gateway's token.
      return deny(
        403,
        "endpoint_not_allowed",
        "/v1/responses is only open to the owner key; use /v1/chat/completions.",
        undefined,
        key,
      );
    }
    if (route.kind === "model" && !modelAllowed(route.modelId, agent)) {
      return deny(404, "model_not_found", "No such model for this key.", undefined, key);
    }

    // Budgets first (a key over its day's budget spends no rate tokens); synchronous
    // from the check to the count, so parallel requests cannot slip past a budget.
    // Only the routes that run the agent are metered: a model list costs nothing.
    const metered = route.kind === "chat" || route.kind === "responses";
    const admitted = metered ? usage?.admit(key, start) : undefined;
    if (admitted !== undefined && !admitted.ok) {
      return deny(
        429,
        "budget_exceeded",
        `This key has used its daily budget of ${admitted.limit} ${admitted.budget}; it resets at 00:00 UTC.`,
        { "retry-after": retryAfter(admitted.retryAfterMs) },
        key,
      );
    }
    const ticket = admitted?.ticket;
    const grant = keyLimiter.acquire(
      key.id,
      resolveKeyLimits(key.role, key.limits, roleDefaults),
      start,
    );
    if (!grant.ok) {
      ticket?.cancel();
      return deny(
        429,
        "rate_limit_exceeded",
        grant.reason === "rate"
          ? "Rate limit reached for this key. Please slow down."
          : "Too many concurrent requests for this key.",
        { "retry-after": retryAfter(grant.retryAfterMs) },
        key,
      );
    }
    const slot: Slot = {
      release: () => {
        grant.release();
        ticket?.cancel(); // a no-op once the request was counted
      },
      ticket,
    };
    try {
      return await proxy(request, route, forwarded.headers, key, slot, start, client);
    } catch (error) {
      slot.release();
      record(start, client, method, path, 500, {
        keyId: key.id,
        keyName: key.name,
        outcome: "edge_error",
      });
      void error;
      return errorResponse(500, "edge_error", "The edge failed to handle the request.");
    }
  };

  const edge = handle as EdgeHandler;
  Object.defineProperty(edge, "inFlight", { get: () => inFlight });
  Object.defineProperty(edge, "handled", { get: () => handled });
  Object.assign(edge, {
    beginShutdown(): void {
      closing = true;
    },
    abortAll(): void {
      for (const ac of aborters) ac.abort(new ClientGone());
    },
    idle(): Promise<void> {
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    async close(): Promise<void> {
      closing = true;
      for (const ac of aborters) ac.abort(new ClientGone());
      if (sweeper !== undefined) clearInterval(sweeper);
      sweeper = undefined;
      flights.clear();
      await healthValue?.catch(() => {});
      upstreamClient.close();
    },
  });
  return edge;
}

/** The key of an `Authorization: Bearer <key>` header, or `undefined`. */
export function bearer(authorization: string | null): string | undefined {
  if (authorization === null || authorization.length < 8) return undefined;
  const scheme = authorization.slice(0, 7);
  if (scheme !== "Bearer " && scheme.toLowerCase() !== "bearer ") return undefined;
  const key = authorization.slice(7).trim();
  return key === "" ? undefined : key;
}

function joinChunks(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}

async function readLimited(stream: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new Error("model list too large");
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

function retryAfter(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
