/**
 * Pure decisions that keep a key inside its agent and its own sessions.
 *
 * OpenClaw picks the agent from `x-openclaw-agent-id` (which beats the body)
 * or from the body's `model` (`openclaw`, `openclaw/default`,
 * `openclaw/<id>`, `openclaw:<id>`, `agent:<id>`), and the session from the
 * body's `user` (`agent:<id>:openai-user:<user>`). The edge always sets the
 * header to the key's agent, refuses a `model` that names any other agent,
 * and prefixes a client key's `user` with the key id, so two keys sending the
 * same `user` never share a conversation.
 *
 * @module
 */

/** Why a body was refused. */
export type BodyRefusal =
  | { ok: false; status: 400; code: "invalid_request_body"; message: string }
  | { ok: false; status: 403; code: "agent_not_allowed"; message: string };

/**
 * A body fit to forward: the bytes to send (`undefined`: unchanged);
 * `usageAdded`: ecto set `stream_options.include_usage` itself, so the usage
 * chunk must be stripped from the stream before the client sees it.
 */
export type BodyDecision =
  | { ok: true; body: Uint8Array<ArrayBuffer> | undefined; usageAdded?: boolean }
  | BodyRefusal;

const AGENT_MODEL = /^(?:openclaw[:/]|agent:)([a-z0-9][a-z0-9_-]{0,63})$/i;

/**
 * The agent a body `model` names: `"default"` for `openclaw` /
 * `openclaw/default` / no model, the (lower-cased) id for
 * `openclaw/<id>`, `openclaw:<id>`, `agent:<id>`, or `undefined` for anything
 * else (the gateway refuses those itself). Mirrors OpenClaw 2026.9.6's
 * `resolveAgentIdFromModel` (trim, case-insensitive).
 */
export function modelAgent(model: unknown): string | undefined {
  if (model === undefined || model === null) return "default";
  if (typeof model !== "string") return undefined;
  const raw = model.trim();
  if (raw === "") return "default";
  const lowered = raw.toLowerCase();
  if (lowered === "openclaw" || lowered === "openclaw/default") return "default";
  const m = AGENT_MODEL.exec(raw);
  return m ? m[1].toLowerCase() : undefined;
}

/** The model ids a key bound to `agent` may name (what `/v1/models` shows it). */
export function allowedModelIds(agent: string): string[] {
  return ["openclaw", "openclaw/default", `openclaw/${agent}`];
}

/** Whether `id` (a `/v1/models/{id}` id or a body `model`) reaches only `agent`. */
export function modelAllowed(id: unknown, agent: string): boolean {
  const named = modelAgent(id);
  return named === "default" || named === agent;
}

const USER_PREFIX = "ecto:";

/** The session namespace of a key: what its `user` values are prefixed with. */
export function userNamespace(keyId: string): string {
  return `${USER_PREFIX}${keyId}:`;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Checks (and for client keys rewrites) a chat or responses body.
 *
 * - not a JSON object → 400 (the edge must see what the gateway will see);
 * - `model` naming another agent → 403 `agent_not_allowed`;
 * - `namespaceUser`: a string `user` becomes `ecto:<keyId>:<user>`;
 *   otherwise (the owner key) a `user` in that namespace is refused, so no key
 *   reaches another key's sessions; a non-string `user` → 400;
 * - `askUsage`: a streamed chat request that does not ask for usage gets
 *   `stream_options.include_usage: true` (the gateway sends the usage chunk
 *   only then; the edge strips it again: `usageAdded`).
 */
export function scopeBody(
  bytes: Uint8Array<ArrayBuffer>,
  scope: { agent: string; keyId: string; namespaceUser: boolean; askUsage?: boolean },
): BodyDecision {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    return invalid("The request body is not valid JSON.");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return invalid("The request body must be a JSON object.");
  }
  const body = parsed as Record<string, unknown>;
  if (!modelAllowed(body.model, scope.agent)) {
    const named = modelAgent(body.model);
    if (named !== undefined) {
      return {
        ok: false,
        status: 403,
        code: "agent_not_allowed",
        message:
          `This key may only use the agent "${scope.agent}" (model "openclaw/${scope.agent}" or "openclaw/default").`,
      };
    }
  }
  let changed = false;
  if (body.user !== undefined) {
    if (typeof body.user !== "string") return invalid("`user` must be a string.");
    if (!scope.namespaceUser) {
      // The owner's own sessions are not namespaced; the client keys' namespace stays theirs.
      if (body.user.trim().startsWith(USER_PREFIX)) {
        return invalid(
          `\`user\` values starting with "${USER_PREFIX}" are reserved for ecto's keys.`,
        );
      }
    } else {
      body.user = userNamespace(scope.keyId) + body.user;
      changed = true;
    }
  }
  const usageAdded = scope.askUsage === true && askUsage(body);
  if (!changed && !usageAdded) return { ok: true, body: undefined };
  return {
    ok: true,
    body: encoder.encode(JSON.stringify(body)),
    ...(usageAdded ? { usageAdded } : {}),
  };
}

/** Sets `stream_options.include_usage` on a streamed request that lacks it; whether it did. */
function askUsage(body: Record<string, unknown>): boolean {
  if (body.stream !== true) return false;
  const options = body.stream_options;
  if (
    options !== undefined && options !== null &&
    (typeof options !== "object" || Array.isArray(options))
  ) {
    return false; // the gateway refuses it; not ours to mend
  }
  const current = (options ?? {}) as Record<string, unknown>;
  if (current.include_usage === true) return false;
  body.stream_options = { ...current, include_usage: true };
  return true;
}

function invalid(message: string): BodyRefusal {
  return { ok: false, status: 400, code: "invalid_request_body", message };
}

/**
 * A `/v1/models` answer cut down to the ids a key bound to `agent` may use,
 * or `undefined` when the text is not a model list (the caller then refuses
 * to pass it on).
 */
export function filterModelList(text: string, agent: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const list = parsed as { data?: unknown };
  if (!Array.isArray(list.data)) return undefined;
  const allowed = new Set(allowedModelIds(agent));
  const data = list.data.filter((m) =>
    typeof m === "object" && m !== null && allowed.has((m as { id?: unknown }).id as string)
  );
  return JSON.stringify({ ...list, data });
}
