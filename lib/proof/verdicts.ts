/**
 * What counts as proof on one address: `GET /v1/models` without a key must
 * get 401 with ecto's edge error (so a 401 from something else does not
 * count), and only then the same request with the client key must get 200 and
 * an OpenAI list. Pure verdicts plus the one check that runs both requests.
 *
 * @module
 */
import type { HttpsGet, HttpsGetRequest, HttpsGetResponse } from "./https_get.ts";
import type { AuthCheckResult, CheckResult } from "../core/layer_types.ts";

/** Both checks on an address that answered. */
export interface Answered {
  kind: "answered";
  unauthenticated: CheckResult;
  authenticated: AuthCheckResult;
  /** The edge or something in front of it is not ready (502–504): worth retrying. */
  transient: boolean;
}

/** What one address gave: no HTTP answer at all, or both checks. */
export type TargetOutcome = { kind: "unreachable"; error: string } | Answered;

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

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|HOSTNAME_)/;

/** A short, secret-free description of a connection or DNS failure. */
export function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Deno.errors.ConnectionRefused || code === "ECONNREFUSED") {
    return "connection refused";
  }
  if (error instanceof Deno.errors.TimedOut || code === "ETIMEDOUT") return "timed out";
  if (error instanceof DOMException && error.name === "AbortError") return "timed out";
  if (error instanceof Deno.errors.NotFound || code === "ENOTFOUND") return "no such name";
  if (code === "ECONNRESET") return "the connection was closed without an answer";
  const message = error instanceof Error ? error.message : String(error);
  if (
    error instanceof Deno.errors.InvalidData ||
    (typeof code === "string" && TLS_CODES.test(code)) ||
    /certificate|tls|alert/i.test(message)
  ) {
    return `TLS failed: ${message}`;
  }
  return message;
}

/**
 * Whether an error means the permission set forbids the address. Such an
 * error is a bug (a test or sandbox dialling off the machine), never a
 * verdict, so it is thrown instead of reported.
 */
export function isPermissionError(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

/** The auth check when it was not run. */
export function notAttempted(why: string): AuthCheckResult {
  return { status: null, ok: false, error: `not attempted: ${why}`, models: [] };
}

/** What {@link checkTarget} sends and with which effect. */
export interface CheckRequest {
  /** Connector. */
  httpsGet: HttpsGet;
  /** The request without a key; the address and port are the target's. */
  request: HttpsGetRequest;
  /** Sent (as a bearer token) only after the edge has been recognised. */
  clientKey: string;
}

type Got = { response: HttpsGetResponse } | { failure: string };

async function get(check: CheckRequest, headers?: Record<string, string>): Promise<Got> {
  try {
    return {
      response: await check.httpsGet(headers ? { ...check.request, headers } : check.request),
    };
  } catch (error) {
    if (isPermissionError(error)) throw error;
    return { failure: describeFailure(error) };
  }
}

function unauthenticatedError(status: number): string {
  return status === 401
    ? "answered 401 without a key, but not with ecto's edge error: something else answers here"
    : status === 200
    ? "answered 200 without a key: the URL is open to anyone"
    : `answered ${status} without a key (expected 401 from ecto's edge)`;
}

function authenticatedError(status: number): string {
  return status === 200
    ? "answered 200 with the key, but not with an OpenAI model list"
    : status === 401
    ? "the edge rejected the client key (401)"
    : `answered ${status} with the client key (expected 200 from the gateway)`;
}

const isTransient = (status: number) => status >= 502 && status <= 504;

/** Runs both checks against one address. Throws only for a permission error. */
export async function checkTarget(check: CheckRequest): Promise<TargetOutcome> {
  const got = await get(check);
  if ("failure" in got) return { kind: "unreachable", error: got.failure };
  const first = got.response;
  if (!isEdgeUnauthorized(first.status, first.body)) {
    return {
      kind: "answered",
      transient: isTransient(first.status),
      unauthenticated: {
        status: first.status,
        ok: false,
        error: unauthenticatedError(first.status),
      },
      authenticated: notAttempted("the edge was not recognised"),
    };
  }
  const unauthenticated: CheckResult = { status: 401, ok: true };
  const gotSecond = await get(check, { Authorization: `Bearer ${check.clientKey}` });
  if ("failure" in gotSecond) {
    return {
      kind: "answered",
      transient: true,
      unauthenticated,
      authenticated: {
        status: null,
        ok: false,
        error: `no answer with the key: ${gotSecond.failure}`,
        models: [],
      },
    };
  }
  const second = gotSecond.response;
  const models = parseModelList(second.status, second.body);
  return models
    ? {
      kind: "answered",
      transient: false,
      unauthenticated,
      authenticated: { status: 200, ok: true, models },
    }
    : {
      kind: "answered",
      transient: isTransient(second.status),
      unauthenticated,
      authenticated: {
        status: second.status,
        ok: false,
        error: authenticatedError(second.status),
        models: [],
      },
    };
}

/** Whether both checks passed. */
export function passed(outcome: Answered): boolean {
  return outcome.unauthenticated.ok && outcome.authenticated.ok;
}

/** The first failed check, in words. */
export function describeOutcome(outcome: Answered): string {
  return outcome.unauthenticated.ok
    ? (outcome.authenticated.error ?? "failed the authenticated check")
    : (outcome.unauthenticated.error ?? "failed the unauthenticated check");
}

// Defined with the layer contracts (one types file, no import cycles); exported here too.
export type { AuthCheckResult, CheckResult };
