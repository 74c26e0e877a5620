/**
 * Which layer failed, in one sentence with its fix: the connection (DNS,
 * TLS, nothing listening, a timeout) or the answer (the edge's 401/403/429,
 * the gateway's 4xx/5xx, a 200 that is not a chat completion). Pure.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import { describeFailure } from "../proof/verdicts.ts";
import { ExchangeTimeout } from "./https_post.ts";

/** The layer `ecto test` blames. */
export type FailedLayer = "dns" | "tls" | "connection" | "timeout" | "edge" | "gateway";

/** `ecto test` failed: which layer, the status when there was one, and the fix. Exit 1. */
export class LiveTestError extends EctoError {
  /** The layer that failed. */
  readonly layer: FailedLayer;
  /** The HTTP status, when something answered. */
  readonly status?: number;
  /** Makes the error; `code` is `test_<layer>` unless a more exact one is given. */
  constructor(
    layer: FailedLayer,
    message: string,
    options: { fix?: string; status?: number; code?: string; cause?: unknown } = {},
  ) {
    super(options.code ?? `test_${layer}`, message, {
      ...(options.fix === undefined ? {} : { fix: options.fix }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.name = "LiveTestError";
    this.layer = layer;
    if (options.status !== undefined) this.status = options.status;
  }
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|HOSTNAME_)/;

/** The layer a transport failure (no HTTP answer) belongs to. */
export function transportLayer(error: unknown): FailedLayer {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Deno.errors.TimedOut || code === "ETIMEDOUT") return "timeout";
  if (error instanceof Deno.errors.NotFound || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return "dns";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (
    error instanceof Deno.errors.InvalidData ||
    (typeof code === "string" && TLS_CODES.test(code)) ||
    /certificate|tls|ssl|alert/i.test(message)
  ) {
    return "tls";
  }
  return "connection";
}

/** Every path failed before an HTTP answer: the most telling failure wins. */
export function noAnswerError(
  url: string,
  failures: ReadonlyArray<{ where: string; error: unknown }>,
  publicDnsError?: string,
): LiveTestError {
  const layers = failures.map((f) => transportLayer(f.error));
  const pick = (["tls", "timeout", "connection", "dns"] as const).find((l) => layers.includes(l)) ??
    "dns";
  const tried = failures.map((f) => `${f.where}: ${describeFailure(f.error)}`);
  if (publicDnsError) tried.unshift(publicDnsError);
  const detail = tried.join("; ") || "no address to try";
  const timeout = failures.find((f) => f.error instanceof ExchangeTimeout)?.error as
    | ExchangeTimeout
    | undefined;
  switch (pick) {
    case "dns":
      return new LiveTestError("dns", `DNS: ${url} has no address on any path (${detail}).`, {
        fix:
          "A new Funnel name can take a few minutes to reach public DNS; run ecto status, and try again later.",
      });
    case "tls":
      return new LiveTestError("tls", `TLS: the connection to ${url} failed (${detail}).`, {
        fix:
          "Run ecto status: Funnel's certificate may not be issued yet (HTTPS must be on for the tailnet).",
      });
    case "timeout":
      return new LiveTestError(
        "timeout",
        timeout?.afterHeaders
          ? `Timeout: the answer from ${url} did not finish in time (${detail}).`
          : `Timeout: ${url} did not answer in time (${detail}).`,
        {
          fix:
            "The gateway or its model may be slow or down: run ecto status, then try again with a longer --timeout.",
        },
      );
    default:
      return new LiveTestError(
        "connection",
        `Connection: nothing answered at ${url} (${detail}).`,
        {
          fix:
            "Run ecto status to see which layer is down; ecto connect --restart restarts the edge.",
        },
      );
  }
}

function bodyError(body: string): { code?: string; message?: string } {
  try {
    const error =
      (JSON.parse(body) as { error?: { code?: unknown; type?: unknown; message?: unknown } })
        ?.error;
    const code = typeof error?.code === "string"
      ? error.code
      : typeof error?.type === "string"
      ? error.type
      : undefined;
    const message = typeof error?.message === "string" ? error.message.slice(0, 200) : undefined;
    return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
  } catch {
    return {};
  }
}

/** A non-200 answer as the layer that gave it. */
export function statusError(
  answer: { status: number; body: string; retryAfter?: string | null },
  model: string,
): LiveTestError {
  const { status } = answer;
  const { code, message } = bodyError(answer.body);
  const said = [code, message].filter(Boolean).join(": ");
  const what = `${status}${said ? ` ${said}` : ""}`;
  if (status === 401) {
    return new LiveTestError("edge", `Edge: the owner key was refused (${what}).`, {
      status,
      code: "test_edge_unauthorized",
      fix:
        "Run ecto connect: it checks the owner key and rewrites ~/.openclaw/ecto-credentials.json.",
    });
  }
  if (status === 403) {
    return new LiveTestError("edge", `Edge: the key may not do this (${what}).`, {
      status,
      code: "test_edge_forbidden",
      fix: `Check the key's agent with ecto keys list; the model sent was ${model}.`,
    });
  }
  if (status === 429) {
    const wait = answer.retryAfter ? ` (retry after ${answer.retryAfter} s)` : "";
    return new LiveTestError("edge", `Edge: the key is over its limit${wait} (${what}).`, {
      status,
      code: "test_edge_rate_limited",
      fix: "Wait and try again, or raise the key's limits (ecto keys list shows them).",
    });
  }
  if (status >= 500 || status === 408) {
    return new LiveTestError("gateway", `Gateway: the request failed upstream (${what}).`, {
      status,
      code: "test_gateway_error",
      fix:
        "Run ecto status; if the gateway is down, ecto connect --restart; a 408/504 means its model did not answer.",
    });
  }
  if (status === 404 && !code) {
    return new LiveTestError("edge", `Edge: ${answer.body ? "not found" : "no route"} (${what}).`, {
      status,
      code: "test_not_found",
      fix: "Run ecto status: the Funnel route may point elsewhere, or the chat endpoint is off.",
    });
  }
  return new LiveTestError("gateway", `Gateway: the request was refused (${what}).`, {
    status,
    code: "test_gateway_refused",
    fix: `Run ecto status; the model sent was ${model} (ecto connect prints the model to use).`,
  });
}
