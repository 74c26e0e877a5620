/**
 * The gateway's WebSocket protocol (v4) as pure functions: parsing frames,
 * building the `connect` request and the device-auth payload it signs,
 * classifying error answers, and working out `replacePaths` for a merge patch.
 * Tested on frames recorded from the real gateway (`tests/fixtures/openclaw/ws-*.json`).
 *
 * Sources (openclaw 2026.9.6): `docs/gateway/protocol/{transport,handshake,auth,versioning}.md`,
 * `docs/gateway/configuration/config-rpc.md`, and where those are unclear `dist/`:
 * `device-auth-*.mjs` (`buildDeviceAuthPayloadV3`), `client-*.mjs` (which token is signed),
 * `client-info-*.mjs` (the closed sets of client ids and modes).
 *
 * @module
 */

/** The protocol version ecto speaks (`docs/gateway/protocol/versioning.md`). */
export const PROTOCOL_VERSION = 4;

/**
 * ecto's client identity. Client ids and modes are closed sets (`GATEWAY_CLIENT_IDS`,
 * `GATEWAY_CLIENT_MODES` in `client-info-*.mjs`) with no entry for third-party tools; `cli`/`cli`
 * is what OpenClaw's own operator CLI sends and what `handshake.md`'s example uses as the id (its
 * `mode: "operator"` is not in the mode set and fails validation). `gateway-client`/`backend` is
 * reserved for OpenClaw's internal RPCs, so ecto never uses it.
 */
export const CLIENT_ID = "cli";
/** See {@link CLIENT_ID}. */
export const CLIENT_MODE = "cli";
/** Shown in `openclaw devices list`; also the "client cluster" silent re-pairing cleans up. */
export const CLIENT_DISPLAY_NAME = "ecto";
/** `config.*` resolves to `operator.admin` (`handshake.md`, "Roles and scopes"). */
export const OPERATOR_SCOPES: readonly string[] = ["operator.admin", "operator.read"];

/** An error answer (`transport.md`: `{ code, message, details?, retryable?, retryAfterMs? }`). */
export interface GatewayErrorShape {
  /** E.g. `INVALID_REQUEST`, `UNAVAILABLE`, `FORBIDDEN`. */
  code: string;
  /** Human-readable; may change between releases. */
  message: string;
  /** Structured details (`details.code`, `details.reason`, ...). */
  details?: Record<string, unknown>;
  /** The gateway says a retry may succeed. */
  retryable?: boolean;
  /** How long to wait before that retry. */
  retryAfterMs?: number;
}

/** One frame from the gateway. */
export type GatewayFrame =
  | { type: "event"; event: string; payload: unknown; seq?: number }
  | { type: "res"; id: string; ok: true; payload: unknown }
  | { type: "res"; id: string; ok: false; error: GatewayErrorShape }
  | { type: "unknown"; raw: unknown };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseError(value: unknown): GatewayErrorShape {
  if (!isRecord(value)) {
    return { code: "UNKNOWN", message: "the gateway sent an error without details" };
  }
  return {
    code: typeof value.code === "string" ? value.code : "UNKNOWN",
    message: typeof value.message === "string" ? value.message : "",
    ...(isRecord(value.details) ? { details: value.details } : {}),
    ...(typeof value.retryable === "boolean" ? { retryable: value.retryable } : {}),
    ...(typeof value.retryAfterMs === "number" ? { retryAfterMs: value.retryAfterMs } : {}),
  };
}

/** Parses one text frame. Never throws: what it does not recognise is `unknown`. */
export function parseFrame(text: string): GatewayFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { type: "unknown", raw: text };
  }
  if (!isRecord(raw)) return { type: "unknown", raw };
  if (raw.type === "event" && typeof raw.event === "string") {
    return {
      type: "event",
      event: raw.event,
      payload: raw.payload,
      ...(typeof raw.seq === "number" ? { seq: raw.seq } : {}),
    };
  }
  if (raw.type === "res" && typeof raw.id === "string" && typeof raw.ok === "boolean") {
    return raw.ok
      ? { type: "res", id: raw.id, ok: true, payload: raw.payload }
      : { type: "res", id: raw.id, ok: false, error: parseError(raw.error) };
  }
  return { type: "unknown", raw };
}

/** The pre-connect challenge. */
export interface ConnectChallenge {
  /** Signed into the device proof and echoed as `device.nonce`. */
  nonce: string;
  /** Gateway time, ms; the device proof's `signedAt`. */
  ts: number;
}

/**
 * The `connect.challenge` payload, or `undefined` for any other frame. A challenge
 * without a non-negative integer `ts` is invalid (`handshake.md`) and also `undefined`.
 */
export function parseChallenge(frame: GatewayFrame): ConnectChallenge | undefined {
  if (frame.type !== "event" || frame.event !== "connect.challenge") return undefined;
  const payload = frame.payload;
  if (!isRecord(payload) || typeof payload.nonce !== "string" || payload.nonce === "") {
    return undefined;
  }
  const ts = payload.ts;
  if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0) return undefined;
  return { nonce: payload.nonce, ts };
}

/** What `hello-ok` says ecto got. */
export interface HelloOk {
  /** Negotiated protocol. */
  protocol: number;
  /** Gateway version, e.g. `2026.9.6`. */
  serverVersion: string;
  /** The role granted. */
  role: string;
  /** The scopes this socket holds (`auth.scopes`: its live authority). */
  scopes: string[];
  /** Methods the gateway offers. */
  methods: string[];
  /** Largest frame the gateway accepts after the handshake. */
  maxPayload?: number;
}

/** Parses a `hello-ok` payload; `undefined` when it is not one. */
export function parseHelloOk(payload: unknown): HelloOk | undefined {
  if (!isRecord(payload) || payload.type !== "hello-ok") return undefined;
  const server = isRecord(payload.server) ? payload.server : {};
  const auth = isRecord(payload.auth) ? payload.auth : {};
  const features = isRecord(payload.features) ? payload.features : {};
  const policy = isRecord(payload.policy) ? payload.policy : {};
  const strings = (v: unknown) =>
    Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
  return {
    protocol: typeof payload.protocol === "number" ? payload.protocol : 0,
    serverVersion: typeof server.version === "string" ? server.version : "",
    role: typeof auth.role === "string" ? auth.role : "",
    scopes: strings(auth.scopes),
    methods: strings(features.methods),
    ...(typeof policy.maxPayload === "number" ? { maxPayload: policy.maxPayload } : {}),
  };
}

/** Lower-cases ASCII letters and trims, as `normalizeDeviceMetadataForAuth` does. */
export function normalizeDeviceMetadata(value: string | undefined): string {
  const trimmed = (value ?? "").trim();
  return trimmed.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** The fields the device proof binds. */
export interface DeviceAuthFields {
  /** sha256 hex of the raw Ed25519 public key. */
  deviceId: string;
  /** `client.id`. */
  clientId: string;
  /** `client.mode`. */
  clientMode: string;
  /** `role`. */
  role: string;
  /** `scopes`, in the order sent. */
  scopes: readonly string[];
  /** The challenge's `ts`. */
  signedAtMs: number;
  /** The shared token sent as `auth.token` ("" with password auth: only a token is signed). */
  token: string;
  /** The challenge's nonce. */
  nonce: string;
  /** `client.platform`. */
  platform: string;
  /** `client.deviceFamily` (ecto sends none). */
  deviceFamily?: string;
}

/** The v3 device-auth payload, `v3|deviceId|clientId|mode|role|scopes|signedAt|token|nonce|platform|family`. */
export function deviceAuthPayloadV3(f: DeviceAuthFields): string {
  return [
    "v3",
    f.deviceId,
    f.clientId,
    f.clientMode,
    f.role,
    f.scopes.join(","),
    String(f.signedAtMs),
    f.token,
    f.nonce,
    normalizeDeviceMetadata(f.platform),
    normalizeDeviceMetadata(f.deviceFamily),
  ].join("|");
}

/** The gateway's shared credential, as the config names it. */
export type SharedCredential = { kind: "token" | "password"; value: string } | undefined;

/** The signed device block of `connect`. */
export interface DeviceProof {
  /** Device id. */
  id: string;
  /** Raw Ed25519 public key, base64url. */
  publicKey: string;
  /** Ed25519 signature of {@link deviceAuthPayloadV3}, base64url. */
  signature: string;
  /** The challenge's `ts`. */
  signedAt: number;
  /** The challenge's nonce. */
  nonce: string;
}

/** Inputs of {@link buildConnectParams}. */
export interface ConnectInput {
  /** ecto's version. */
  version: string;
  /** `Deno.build.os`. */
  platform: string;
  /** The gateway's shared credential (`undefined` with auth mode none). */
  credential: SharedCredential;
  /** The signed device block. */
  device: DeviceProof;
}

/** The fields of the device proof for a connect with `credential` (what {@link buildConnectParams} sends). */
export function connectAuthFields(
  input: { credential: SharedCredential; platform: string; deviceId: string },
  challenge: ConnectChallenge,
): DeviceAuthFields {
  return {
    deviceId: input.deviceId,
    clientId: CLIENT_ID,
    clientMode: CLIENT_MODE,
    role: "operator",
    scopes: OPERATOR_SCOPES,
    signedAtMs: challenge.ts,
    token: input.credential?.kind === "token" ? input.credential.value : "",
    nonce: challenge.nonce,
    platform: input.platform,
  };
}

/** `connect` params for an operator with a device identity and the shared credential. */
export function buildConnectParams(input: ConnectInput): Record<string, unknown> {
  const auth = input.credential === undefined
    ? undefined
    : input.credential.kind === "token"
    ? { token: input.credential.value }
    : { password: input.credential.value };
  return {
    minProtocol: PROTOCOL_VERSION,
    maxProtocol: PROTOCOL_VERSION,
    client: {
      id: CLIENT_ID,
      displayName: CLIENT_DISPLAY_NAME,
      version: input.version,
      platform: input.platform,
      mode: CLIENT_MODE,
    },
    role: "operator",
    scopes: [...OPERATOR_SCOPES],
    caps: [],
    ...(auth ? { auth } : {}),
    userAgent: `ecto/${input.version}`,
    device: input.device,
  };
}

/** What ecto does with an error answer. */
export type ErrorAction =
  /** Wait `delayMs`, then send the same request again (rate limit, startup, busy queue). */
  | { kind: "retry"; delayMs: number }
  /** The gateway is restarting or could not apply: wait until it is ready, `config.get` again. */
  | { kind: "reload"; delayMs: number }
  /** `baseHash` is stale: `config.get` again and re-send (the patch is a merge). */
  | { kind: "stale" }
  /**
   * Valid, but the running gateway cannot apply it live (e.g. token mode without a token) and
   * wrote nothing: the file has to be written another way and the gateway restarted.
   */
  | { kind: "unappliable" }
  /** Anything else: give up with the gateway's message. */
  | { kind: "fail" };

/** Decides what to do with an error answer to a config request. Pure. */
export function classifyError(error: GatewayErrorShape): ErrorAction {
  if (error.code === "INVALID_REQUEST" && /changed since last load/i.test(error.message)) {
    return { kind: "stale" };
  }
  if (error.code !== "UNAVAILABLE") return { kind: "fail" };
  const delayMs = Math.max(0, error.retryAfterMs ?? 1_000);
  // A rate limit, a busy handler queue, or startup sidecars: the request never ran.
  if (/rate limit exceeded/i.test(error.message) || error.details?.reason === "startup-sidecars") {
    return { kind: "retry", delayMs };
  }
  if (/during gateway startup/i.test(error.message)) return { kind: "retry", delayMs };
  // Restart, shutdown, or "persisted but not applied": wait for the restart, then re-read.
  if (error.retryable === true || /persisted/i.test(error.message)) {
    return { kind: "reload", delayMs };
  }
  // Neither retryable nor persisted: the active gateway refused to run this config.
  return { kind: "unappliable" };
}

/** A dotted config path (`gateway.trustedProxies`). */
function dotted(path: readonly string[]): string {
  return path.join(".");
}

function arrayPathsUnder(value: unknown, path: string[], out: string[]): void {
  if (Array.isArray(value)) {
    out.push(dotted(path));
    return; // a whole array needs only its own path
  }
  if (!isRecord(value)) return;
  for (const [key, child] of Object.entries(value)) arrayPathsUnder(child, [...path, key], out);
}

/**
 * The `replacePaths` a merge patch needs (`config-rpc.md`): every array it sets, every array it
 * deletes, and every array inside an object it deletes, as exact dotted paths. `current` is the
 * config as `config.get` returned it (values redacted, structure intact). Pure.
 */
export function replacePathsFor(patch: Record<string, unknown>, current: unknown): string[] {
  const out: string[] = [];
  const walk = (node: Record<string, unknown>, cur: unknown, path: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const here = [...path, key];
      const existing = isRecord(cur) ? cur[key] : undefined;
      if (Array.isArray(value)) out.push(dotted(here));
      else if (value === null) arrayPathsUnder(existing, here, out);
      else if (isRecord(value)) walk(value, existing, here);
    }
  };
  walk(patch, current, []);
  return [...new Set(out)];
}

/** What `config.get` answers that ecto uses. */
export interface ConfigSnapshot {
  /** The config file. */
  path: string;
  /** Whether it exists (a first write needs no `baseHash`). */
  exists: boolean;
  /** Whether it is valid (the gateway refuses to patch an invalid one). */
  valid: boolean;
  /** Opaque authored revision, the `baseHash` of the next write. */
  hash?: string;
  /** The config, secrets redacted. */
  config: Record<string, unknown>;
}

/** Parses a `config.get` payload; `undefined` when it lacks `path`. */
export function parseConfigSnapshot(payload: unknown): ConfigSnapshot | undefined {
  if (!isRecord(payload) || typeof payload.path !== "string") return undefined;
  return {
    path: payload.path,
    exists: payload.exists !== false,
    valid: payload.valid !== false,
    ...(typeof payload.hash === "string" && payload.hash ? { hash: payload.hash } : {}),
    config: isRecord(payload.config) ? payload.config : {},
  };
}

/** What `config.patch` answers on success. */
export interface PatchAnswer {
  /** The new revision. */
  hash?: string;
  /** Effective runtime paths changed, as the reload planner names them (`gateway.http.endpoints.responses`); `[]`: a no-op. */
  changedPaths: string[];
  /** The gateway found nothing to change. */
  noop: boolean;
  /** A restart the gateway scheduled itself (reload mode off). */
  restartScheduled: boolean;
}

/** Parses a `config.patch` success payload. */
export function parsePatchAnswer(payload: unknown): PatchAnswer {
  const p = isRecord(payload) ? payload : {};
  return {
    ...(typeof p.hash === "string" ? { hash: p.hash } : {}),
    changedPaths: Array.isArray(p.changedPaths)
      ? p.changedPaths.filter((s): s is string => typeof s === "string")
      : [],
    noop: p.noop === true,
    restartScheduled: isRecord(p.restart),
  };
}
