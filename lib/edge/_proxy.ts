/**
 * An admitted request's way to the gateway and back: the body read and
 * scoped to the key's agent and sessions, the gateway's token and agent
 * header added, the answer relayed (small answers whole, streams chunk by
 * chunk with the upstream read deadline renewed per chunk), usage read as
 * it passes, and one audit record and usage count when the answer ends.
 *
 * @module
 */
import type { Deadline } from "./_deadlines.ts";
import { joinChunks, readLimited, readRequestBody } from "./_body.ts";
import {
  ClientGone,
  record,
  type Refusal,
  refuse,
  type RequestContext,
  type Slot,
  UpstreamTimeout,
} from "./_request.ts";
import { filterModelList, scopeBody } from "./binding.ts";
import type { KeyRecord } from "./keys.ts";
import { errorResponse, forwardResponseHeaders, type HeaderPairs, type Route } from "./routes.ts";
import type { UpstreamResponse } from "./upstream.ts";
import { SseUsageScanner, type TokenUsage, usageFromJson } from "../usage/parse.ts";

/** Responses of known length up to this size are read whole instead of relayed chunk by chunk. */
export const BUFFER_LIMIT = 1024 * 1024;

/** What admission decided for a request: its route, its key, the headers to forward, its slot. */
export interface Admitted {
  /** The matched route. */
  route: Route;
  /** The accepted, agent-bound key. */
  key: KeyRecord & { agent: string };
  /** The client's headers that go on (the gateway's own are added here). */
  headers: HeaderPairs;
  /** The rate-limit grant and usage ticket; released exactly once. */
  slot: Slot;
}

/** How a proxied request ended, for its audit record and usage count. */
interface End {
  bytes?: number;
  streamed?: boolean;
  outcome?: string;
}

/** Forwards an admitted request to the gateway and relays its answer. */
export async function proxy(ctx: RequestContext, admitted: Admitted): Promise<Response> {
  const { edge, request, method } = ctx;
  const { route, key, slot } = admitted;
  const release = slot.release;
  const agent = key.agent;
  let body: Uint8Array<ArrayBuffer> | undefined;
  let stripUsage = false;
  let tokens: TokenUsage | undefined;
  const refused = (refusal: Refusal) => {
    release();
    return refuse(ctx, refusal);
  };
  if (method === "POST") {
    const declared = request.headers.get("content-length");
    if (declared !== null && !(Number(declared) <= edge.limits.maxBodyBytes)) {
      return refused(tooLarge(ctx));
    }
    const result = await readRequestBody(ctx);
    if (typeof result === "string") {
      if (result === "too_large") return refused(tooLarge(ctx));
      if (result === "timeout") {
        return refused({
          status: 408,
          code: "request_timeout",
          message: "The request body did not arrive in time.",
          headers: { connection: "close" },
        });
      }
      return refused({ status: 400, code: "client_aborted", message: "Request aborted." });
    }
    body = result;
    // The body picks the agent and the session: keep both inside the key's.
    const scoped = scopeBody(body, {
      agent,
      keyId: key.id,
      namespaceUser: key.role !== "owner",
      // Usage is counted from the stream's usage chunk, which the gateway sends only when asked.
      askUsage: edge.usage !== undefined && route.kind === "chat",
    });
    if (!scoped.ok) {
      return refused({ status: scoped.status, code: scoped.code, message: scoped.message });
    }
    if (scoped.body !== undefined) body = scoped.body;
    stripUsage = scoped.usageAdded === true;
  }

  const token = await edge.tokenSource();
  if (!token) {
    return refused({
      status: 502,
      code: "gateway_token_missing",
      message: "The edge has no token for the OpenClaw gateway.",
    });
  }
  const forwardHeaders = admitted.headers;
  forwardHeaders.push(
    ["authorization", `Bearer ${token}`],
    ["accept-encoding", "identity"],
    // Beats any `model` in the body: the key's agent, whatever the client sent.
    ["x-openclaw-agent-id", agent],
  );

  const ac = new AbortController();
  edge.begin(ac);
  let finished = false;
  const deadline: Deadline = {
    deadline: edge.now() + edge.upstreamTimeoutMs,
    expire: () => ac.abort(new UpstreamTimeout()),
  };
  edge.deadlines.watch(deadline);
  // A client that disconnects while we wait for the gateway's headers cancels the run.
  // (Only for POST: a model list is quick, and touching request.signal has a cost.)
  const onClientGone = () => ac.abort(new ClientGone());
  const clientSignal = method === "POST" ? request.signal : undefined;
  clientSignal?.addEventListener("abort", onClientGone);

  const finish = (status: number, end: End = {}) => {
    if (finished) return;
    finished = true;
    edge.deadlines.unwatch(deadline);
    const bytes = end.bytes ?? 0;
    const bytesIn = body?.byteLength ?? 0;
    try {
      slot.ticket?.finish({
        status,
        bytesIn,
        bytesOut: bytes,
        usage: tokens,
        failed: end.outcome !== undefined,
      });
    } catch { /* counting must never break a request */ }
    release();
    edge.end(ac);
    record(ctx, {
      status,
      keyId: key.id,
      keyName: key.name,
      bytesIn,
      bytes,
      streamed: end.streamed ?? false,
      ...(end.outcome ? { outcome: end.outcome } : {}),
      ...(tokens
        ? {
          promptTokens: tokens.prompt,
          completionTokens: tokens.completion,
          tokens: tokens.prompt + tokens.completion,
        }
        : {}),
    });
  };

  let response: UpstreamResponse;
  try {
    response = await edge.upstream.request({
      method,
      path: route.upstreamPath,
      headers: forwardHeaders,
      ...(body !== undefined ? { body } : {}),
      signal: ac.signal,
    });
  } catch {
    const reason = ac.signal.aborted ? ac.signal.reason : undefined;
    if (reason instanceof ClientGone) {
      finish(499, { outcome: "client_aborted" });
      return errorResponse(499, "client_aborted", "Client went away.");
    }
    if (reason instanceof UpstreamTimeout) {
      finish(504, { outcome: "upstream_timeout" });
      return errorResponse(504, "upstream_timeout", "The OpenClaw gateway did not answer in time.");
    }
    finish(502, { outcome: "gateway_unavailable" });
    return errorResponse(502, "gateway_unavailable", "The OpenClaw gateway is not reachable.");
  } finally {
    clientSignal?.removeEventListener("abort", onClientGone);
  }
  const upstreamBody = response.body;

  if (response.status === 401) {
    // Our token was refused: the client's key was fine, so this is a gateway-side problem.
    if (upstreamBody instanceof ReadableStream) await upstreamBody.cancel().catch(() => {});
    finish(502, { outcome: "gateway_auth_failed" });
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
    finish(response.status, { streamed });
    return new Response(null, { status: response.status, headers });
  }
  const counted = slot.ticket !== undefined;
  if (!(upstreamBody instanceof ReadableStream)) {
    // Read whole by the client (small, known length): no chunk-by-chunk relaying.
    if (counted) tokens = usageFromJson(upstreamBody);
    finish(response.status, { bytes: upstreamBody.byteLength });
    return new Response(upstreamBody, { status: response.status, headers });
  }

  const reader = upstreamBody.getReader();
  const renew = () => void (deadline.deadline = edge.now() + edge.upstreamTimeoutMs);
  let bytes = 0;
  renew();
  // Usage is read as the stream passes (SSE events; a JSON answer's copy up to 1 MiB).
  const scanner = counted && streamed ? new SseUsageScanner({ strip: stripUsage }) : undefined;
  let jsonCopy: Uint8Array<ArrayBuffer>[] | undefined = counted && !streamed ? [] : undefined;
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
          renew();
          chunk = await reader.read();
        }
      } catch (error) {
        tokens = scanner?.usage;
        const reason = ac.signal.aborted ? ac.signal.reason : undefined;
        finish(response.status, {
          bytes,
          streamed,
          outcome: reason instanceof UpstreamTimeout ? "upstream_timeout" : "upstream_error",
        });
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
        finish(response.status, { bytes, streamed });
        controller.close();
        return;
      }
      if (jsonCopy) {
        jsonBytes += chunk.value.byteLength;
        if (jsonBytes <= BUFFER_LIMIT) jsonCopy.push(chunk.value as Uint8Array<ArrayBuffer>);
        else jsonCopy = undefined;
      }
      bytes += chunk.value.byteLength;
      renew();
      controller.enqueue(chunk.value);
    },
    cancel() {
      tokens = scanner?.usage;
      finish(response.status, { bytes, streamed, outcome: "client_aborted" });
      ac.abort(new ClientGone());
      reader.cancel().catch(() => {});
    },
  }, { highWaterMark: 0 });
  return new Response(out, { status: response.status, headers });
}

/** The gateway's model list with only the key's agent in it. */
async function listForKey(
  response: UpstreamResponse,
  agent: string,
  finish: (status: number, end?: End) => void,
): Promise<Response> {
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
    finish(502, { outcome: "gateway_bad_answer" });
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
  finish(200, { bytes: bytes.byteLength });
  return new Response(bytes, { status: 200, headers });
}

/** The refusal of a body over the limit. */
export function tooLarge(ctx: RequestContext): Refusal {
  return {
    status: 413,
    code: "request_too_large",
    message: `The request body is larger than ${ctx.edge.limits.maxBodyBytes} bytes.`,
  };
}
