/**
 * What one request carries through the handler: a {@link RequestContext}
 * (who asked for what, when, with which key) pointing at the handler's
 * shared {@link EdgeRuntime}. Every step takes the context instead of a row
 * of positional arguments; refusals and audit records are built from it.
 *
 * @module
 */
import { type AuditRecord, type AuditSink, redactRecord } from "./audit.ts";
import type { Deadlines } from "./_deadlines.ts";
import type { KeyRecord } from "./keys.ts";
import type { RequestLimits } from "./limits.ts";
import { errorResponse } from "./routes.ts";
import type { TokenSource } from "./token_source.ts";
import type { UpstreamClient } from "./upstream.ts";
import type { UsageMeter, UsageTicket } from "../usage/meter.ts";

/** What every request of one handler shares. */
export interface EdgeRuntime {
  /** Clock, epoch ms. */
  now: () => number;
  /** Where audit records go. */
  audit: AuditSink;
  /** Usage counting and budgets, when enabled. */
  usage: Pick<UsageMeter, "admit" | "refused"> | undefined;
  /** Body and header limits. */
  limits: RequestLimits;
  /** Longest wait for the gateway's headers and between two body chunks, ms. */
  upstreamTimeoutMs: number;
  /** The gateway client. */
  upstream: UpstreamClient;
  /** The gateway token. */
  tokenSource: TokenSource;
  /** Body-read and upstream-read deadlines. */
  deadlines: Deadlines;
  /** Counts a gateway request in flight (abortable on shutdown) until `end`. */
  begin(ac: AbortController): void;
  /** Ends what `begin` started. */
  end(ac: AbortController): void;
}

/** One request on its way through the handler. */
export interface RequestContext {
  /** The handler's shared state. */
  readonly edge: EdgeRuntime;
  /** The client's request. */
  readonly request: Request;
  /** Arrival time, epoch ms. */
  readonly start: number;
  /** The client's address (Funnel's `X-Forwarded-For`, else the peer). */
  readonly client: string;
  /** `request.method`, read once. */
  readonly method: string;
  /** The path as audited. */
  path: string;
  /** The accepted key, once there is one. */
  key?: KeyRecord;
}

/** An admitted request's slot: its rate-limit grant and its usage ticket. */
export interface Slot {
  /** Gives the rate-limit grant back (and cancels an unused ticket). */
  release(): void;
  /** The usage ticket, for metered routes. */
  ticket: UsageTicket | undefined;
}

/** The edge's own answer to a request. */
export interface Refusal {
  /** HTTP status. */
  status: number;
  /** OpenAI-style error code, also the audit outcome. */
  code: string;
  /** The sentence the client sees. */
  message: string;
  /** Extra response headers (`retry-after`, `connection`). */
  headers?: Record<string, string>;
}

/** The gateway's run was cut short by the edge's read deadline. */
export class UpstreamTimeout extends Error {
  /** A fixed message. */
  constructor() {
    super("upstream read timeout");
    this.name = "UpstreamTimeout";
  }
}

/** The client went away (or the edge is stopping). */
export class ClientGone extends Error {
  /** A fixed message. */
  constructor() {
    super("client went away");
    this.name = "ClientGone";
  }
}

/** The audit fields of a request's end (the context fills time, client, method and path). */
export type Outcome = Partial<AuditRecord> & { status: number };

/** Writes the request's audit record; a failing sink never breaks a request. */
export function record(ctx: RequestContext, outcome: Outcome): void {
  try {
    const { status, ...rest } = outcome;
    const method = ctx.method;
    ctx.edge.audit(redactRecord({
      time: new Date(ctx.start).toISOString(),
      client: ctx.client,
      method: method.length > 16 ? method.slice(0, 16) : method,
      path: ctx.path,
      status,
      bytesIn: 0,
      bytes: 0,
      durationMs: Math.max(0, ctx.edge.now() - ctx.start),
      streamed: false,
      ...rest,
    }));
  } catch {
    // an audit sink must never break a request
  }
}

/** Answers the request with an error of the edge's own, counted and audited. */
export function refuse(ctx: RequestContext, refusal: Refusal): Response {
  const { status, code, message, headers } = refusal;
  const response = errorResponse(status, code, message, undefined, headers);
  const key = ctx.key;
  if (key && ctx.edge.usage) {
    try {
      ctx.edge.usage.refused(key, ctx.start);
    } catch { /* counting must never break a request */ }
  }
  record(ctx, {
    status,
    outcome: code,
    ...(key ? { keyId: key.id, keyName: key.name } : {}),
  });
  return response;
}

/** `Retry-After` seconds for a wait of `ms`. */
export function retryAfter(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
