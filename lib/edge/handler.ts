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
import { createHealth } from "./_health.ts";
import { Deadlines } from "./_deadlines.ts";
import { type Admitted, BUFFER_LIMIT, proxy } from "./_proxy.ts";
import {
  ClientGone,
  type EdgeRuntime,
  record,
  type Refusal,
  refuse,
  type RequestContext,
  retryAfter,
} from "./_request.ts";
import { auditPath, type AuditSink, ignoreAudit } from "./audit.ts";
import { modelAllowed } from "./binding.ts";
import { isExpired, type KeyRole, type KeyVerifier } from "./keys.ts";
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
  matchRoute,
  rawTarget,
  type Route,
} from "./routes.ts";
import type { TokenSource } from "./token_source.ts";
import type { UsageMeter } from "../usage/meter.ts";
import { createHttp1Upstream } from "./http1_upstream.ts";
import { type FetchLike, fetchUpstream, type UpstreamClient } from "./upstream.ts";

export type { GatewayState } from "./_health.ts";

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

/** Creates the edge's request handler; see the module documentation. */
export function createEdgeHandler(options: EdgeHandlerOptions): EdgeHandler {
  const upstream = new URL(options.upstream).href.replace(/\/+$/, "");
  const now = options.now ?? Date.now;
  const keys = options.keys;
  const enableResponses = options.enableResponses ?? false;
  const limits: RequestLimits = { ...DEFAULT_REQUEST_LIMITS, ...options.requestLimits };
  const roleDefaults: Record<KeyRole, ResolvedKeyLimits> = {
    owner: { ...DEFAULT_KEY_LIMITS.owner, ...options.keyLimits?.owner },
    client: { ...DEFAULT_KEY_LIMITS.client, ...options.keyLimits?.client },
  };
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
  let lastPrune = now();
  const deadlines = new Deadlines({
    now,
    intervalMs: options.sweepIntervalMs ?? 1000,
    onSweep: (t) => {
      if (t - lastPrune > 60_000) {
        lastPrune = t;
        keyLimiter.prune(t);
      }
      options.onSweep?.();
    },
  });
  const health = createHealth(upstreamClient, {
    now,
    timeoutMs: options.healthTimeoutMs ?? 1500,
    cacheMs: options.healthCacheMs ?? 1500,
  });

  const edge: EdgeRuntime = {
    now,
    audit: options.audit ?? ignoreAudit,
    usage: options.usage,
    limits,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 600_000,
    upstream: upstreamClient,
    tokenSource: options.tokenSource,
    deadlines,
    begin(ac) {
      inFlight++;
      aborters.add(ac);
    },
    end(ac) {
      aborters.delete(ac);
      inFlight--;
      if (inFlight === 0 && idleWaiters.length > 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    },
  };

  /** Everything before the gateway: route, limits, key, binding, budgets; a refusal or the slot. */
  const admit = async (ctx: RequestContext, route: Route): Promise<Admitted | Refusal> => {
    const { request, start } = ctx;
    const headers = request.headers;
    const lockedOut = (ms: number): Refusal => ({
      status: 429,
      code: "too_many_failed_attempts",
      message: "Too many failed authentication attempts. Please try again later.",
      headers: { "retry-after": retryAfter(ms) },
    });
    if (closing) {
      return {
        status: 503,
        code: "shutting_down",
        message: "The edge is stopping.",
        headers: { "retry-after": "5", connection: "close" },
      };
    }

    const forwarded = forwardRequestHeaders(headers);
    if (forwarded.count > limits.maxHeaderCount || forwarded.bytes > limits.maxHeaderBytes) {
      return {
        status: 431,
        code: "headers_too_large",
        message: "Too many or too large request headers.",
      };
    }

    const declaredLength = headers.get("content-length");
    if (declaredLength !== null && !/^\d{1,15}$/.test(declaredLength)) {
      // Repeated Content-Length fields arrive joined ("5, 5"); conflicting ones are smuggling.
      return {
        status: 400,
        code: "invalid_content_length",
        message: "The request has a repeated, conflicting or malformed Content-Length header.",
        headers: { connection: "close" },
      };
    }

    const limitKey = limiterKey(ctx.client);
    const locked = failedAuth.check(limitKey, start);
    if (locked > 0) return lockedOut(locked);

    const presented = bearer(headers.get("authorization"));
    if (presented === undefined) {
      return {
        status: 401,
        code: "invalid_api_key",
        message: "Missing API key. Send it as `Authorization: Bearer <key>`.",
      };
    }
    const key = await keys.verify(presented);
    if (key === undefined) {
      const lockout = failedAuth.fail(limitKey, now());
      if (lockout > 0) return lockedOut(lockout);
      return { status: 401, code: "invalid_api_key", message: "Invalid API key." };
    }
    // From here on every refusal is counted against this key.
    ctx.key = key;
    // A good key does not clear the failures counted for this address (a guesser
    // holding one key would otherwise reset its own count).
    if (isExpired(key, now())) {
      return {
        status: 401,
        code: "key_expired",
        message: `This key expired at ${key.expires}. Ask its owner for a new one (ecto keys add).`,
      };
    }
    const agent = key.agent;
    if (agent === undefined) {
      return {
        status: 403,
        code: "key_not_bound",
        message:
          "This key is not bound to an agent. Its owner must bind it: `ecto keys edit <id> --agent <agent>` (the owner key: `ecto connect`).",
      };
    }
    if (route.kind === "responses" && key.role !== "owner") {
      // previous_response_id is shared by every caller of the gateway's token.
      return {
        status: 403,
        code: "endpoint_not_allowed",
        message: "/v1/responses is only open to the owner key; use /v1/chat/completions.",
      };
    }
    if (route.kind === "model" && !modelAllowed(route.modelId, agent)) {
      return { status: 404, code: "model_not_found", message: "No such model for this key." };
    }

    // Budgets first (a key over its day's budget spends no rate tokens); synchronous
    // from the check to the count, so parallel requests cannot slip past a budget.
    // Only the routes that run the agent are metered: a model list costs nothing.
    const metered = route.kind === "chat" || route.kind === "responses";
    const admitted = metered ? edge.usage?.admit(key, start) : undefined;
    if (admitted !== undefined && !admitted.ok) {
      return {
        status: 429,
        code: "budget_exceeded",
        message:
          `This key has used its daily budget of ${admitted.limit} ${admitted.budget}; it resets at 00:00 UTC.`,
        headers: { "retry-after": retryAfter(admitted.retryAfterMs) },
      };
    }
    const ticket = admitted?.ticket;
    const grant = keyLimiter.acquire(
      key.id,
      resolveKeyLimits(key.role, key.limits, roleDefaults),
      start,
    );
    if (!grant.ok) {
      ticket?.cancel();
      return {
        status: 429,
        code: "rate_limit_exceeded",
        message: grant.reason === "rate"
          ? "Rate limit reached for this key. Please slow down."
          : "Too many concurrent requests for this key.",
        headers: { "retry-after": retryAfter(grant.retryAfterMs) },
      };
    }
    return {
      route,
      key: key as typeof key & { agent: string },
      headers: forwarded.headers,
      slot: {
        release: () => {
          grant.release();
          ticket?.cancel(); // a no-op once the request was counted
        },
        ticket,
      },
    };
  };

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
      const path = target === undefined ? "(invalid target)" : auditPath(target);
      return refuse(
        { edge, request, start, client, method, path },
        { status: 404, code: "not_found", message: "Not found." },
      );
    }
    if (route.kind === "health") return await health.answer(closing);
    const ctx: RequestContext = { edge, request, start, client, method, path: route.logPath };
    const admitted = await admit(ctx, route);
    if (!("slot" in admitted)) return refuse(ctx, admitted);
    try {
      return await proxy(ctx, admitted);
    } catch {
      admitted.slot.release();
      record(ctx, {
        status: 500,
        keyId: admitted.key.id,
        keyName: admitted.key.name,
        outcome: "edge_error",
      });
      return errorResponse(500, "edge_error", "The edge failed to handle the request.");
    }
  };

  const handler = handle as EdgeHandler;
  Object.defineProperty(handler, "inFlight", { get: () => inFlight });
  Object.defineProperty(handler, "handled", { get: () => handled });
  Object.assign(handler, {
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
      deadlines.close();
      await health.settled();
      upstreamClient.close();
    },
  });
  return handler;
}

/** The key of an `Authorization: Bearer <key>` header, or `undefined`. */
export function bearer(authorization: string | null): string | undefined {
  if (authorization === null || authorization.length < 8) return undefined;
  const scheme = authorization.slice(0, 7);
  if (scheme !== "Bearer " && scheme.toLowerCase() !== "bearer ") return undefined;
  const key = authorization.slice(7).trim();
  return key === "" ? undefined : key;
}
