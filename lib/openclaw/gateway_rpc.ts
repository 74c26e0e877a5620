/**
 * An operator client for the running gateway's WebSocket API: the handshake, requests with
 * bounds, and the refusals it maps to typed errors. The config calls ecto makes through it are in
 * `config_rpc.ts`.
 *
 * The handshake is the documented operator path: wait for `connect.challenge`,
 * answer `connect` with role `operator`, the admin scope `config.*` needs, the
 * gateway's shared token or password, and a device identity that signs the
 * challenge; on direct loopback the gateway pairs a new device silently
 * (`docs/gateway/pairing.md`, "Silent local pairing"). Measured here: hello-ok
 * in ~50 ms.
 *
 * Secrets: the credential travels only inside the loopback WebSocket; it never
 * reaches argv, logs or error messages (they are redacted), and ecto refuses
 * any URL that is not loopback.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import { redact } from "./cli.ts";
import { type DeviceIdentity, publicKeyBase64Url, signPayload } from "./device_identity.ts";
import {
  buildConnectParams,
  connectAuthFields,
  type ConnectChallenge,
  deviceAuthPayloadV3,
  type GatewayErrorShape,
  type HelloOk,
  parseChallenge,
  parseFrame,
  parseHelloOk,
  type SharedCredential,
} from "./gateway_frames.ts";

/** Default bound of the handshake (the reference client allows 15 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default bound of one request (the reference client's `requestTimeoutMs`). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The gateway answered a request with an error. */
export class GatewayRpcError extends EctoError {
  /** The method that failed. */
  readonly method: string;
  /** The gateway's error, secrets redacted. */
  readonly shape: GatewayErrorShape;
  /** `method` failed with `shape` (already redacted). */
  constructor(method: string, shape: GatewayErrorShape, fix?: string) {
    super(
      "openclaw_gateway_rpc_failed",
      `The OpenClaw gateway refused \`${method}\`: ${shape.message || shape.code} (${shape.code}).`,
      fix === undefined ? {} : { fix },
    );
    this.name = "GatewayRpcError";
    this.method = method;
    this.shape = shape;
  }
}

/** The running gateway cannot apply a valid patch live and wrote nothing (see `classifyError`). */
export class GatewayCannotApplyError extends GatewayRpcError {
  /** The gateway's refusal. */
  constructor(shape: GatewayErrorShape) {
    super("config.patch", shape);
    this.name = "GatewayCannotApplyError";
  }
}

/** The socket closed, failed or timed out before an answer. */
export class GatewayConnectionError extends EctoError {
  /** One sentence: what happened. */
  constructor(message: string, cause?: unknown) {
    super("openclaw_gateway_ws_failed", message, {
      fix: "Check that the gateway runs (`openclaw gateway status`), then run ecto again.",
      ...(cause === undefined ? {} : { cause }),
    });
    this.name = "GatewayConnectionError";
  }
}

/** Options of {@link connectGateway}. */
export interface ConnectGatewayOptions {
  /** The gateway, `http://127.0.0.1:PORT` (must be loopback). */
  url: string;
  /** The shared token or password (`undefined`: auth mode none). */
  credential: SharedCredential;
  /** ecto's device identity. */
  identity: DeviceIdentity;
  /** ecto's version (`client.version`). */
  version: string;
  /** `client.platform` (default `Deno.build.os`). */
  platform?: string;
  /** Bound of the handshake (default {@link HANDSHAKE_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Opens the socket (default `new WebSocket(url)`; tests pass a fake or a recorder). */
  openSocket?: (url: string) => WebSocket;
}

/** Whether `url`'s host is a loopback address (ecto sends credentials nowhere else). */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\./.test(host);
}

/** `http://H:P` → `ws://H:P` (`https` → `wss`). */
export function websocketUrl(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = "/";
  u.search = "";
  return u.toString();
}

type Pending = {
  method: string;
  resolve: (payload: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
};

/** One authenticated operator connection. Close it (or `await using` it) when done. */
export class GatewayRpc implements AsyncDisposable {
  /** What the gateway granted. */
  readonly hello: HelloOk;
  readonly #ws: WebSocket;
  readonly #pending = new Map<string, Pending>();
  readonly #secrets: string[];
  #closed: Error | undefined;
  #nextId = 1;

  private constructor(ws: WebSocket, hello: HelloOk, secrets: string[]) {
    this.#ws = ws;
    this.hello = hello;
    this.#secrets = secrets;
    ws.addEventListener("message", (event) => this.#onMessage(event));
    ws.addEventListener(
      "close",
      () => this.#fail(new GatewayConnectionError("The gateway closed the WebSocket.")),
    );
    ws.addEventListener(
      "error",
      () => this.#fail(new GatewayConnectionError("The gateway WebSocket failed.")),
    );
  }

  /** @internal Used by {@link connectGateway} once the handshake is done. */
  static adopt(ws: WebSocket, hello: HelloOk, secrets: string[]): GatewayRpc {
    return new GatewayRpc(ws, hello, secrets);
  }

  #onMessage(event: MessageEvent): void {
    if (typeof event.data !== "string") return;
    const frame = parseFrame(event.data);
    if (frame.type !== "res") return; // ticks, presence and other events: not ecto's business
    const pending = this.#pending.get(frame.id);
    if (!pending) return;
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.ok) pending.resolve(frame.payload);
    else {pending.reject(
        new GatewayRpcError(pending.method, redactShape(frame.error, this.#secrets)),
      );}
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  /** Whether the socket is still usable. */
  get open(): boolean {
    return this.#closed === undefined && this.#ws.readyState === 1 /* OPEN */;
  }

  /**
   * Sends one request and resolves with its payload.
   *
   * @throws {GatewayRpcError} the gateway answered with an error.
   * @throws {GatewayConnectionError} the socket closed or the answer took longer than `timeoutMs`.
   */
  request(method: string, params: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<unknown> {
    if (!this.open) {
      return Promise.reject(
        this.#closed ?? new GatewayConnectionError("The gateway WebSocket is closed."),
      );
    }
    const id = `ecto-${this.#nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new GatewayConnectionError(
            `The gateway did not answer \`${method}\` within ${Math.round(timeoutMs / 1000)} s.`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(id, { method, resolve, reject, timer });
      this.#ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }

  /** Closes the socket; pending requests fail. */
  close(): void {
    this.#fail(new GatewayConnectionError("ecto closed the WebSocket."));
    try {
      this.#ws.close(1000, "done");
    } catch { /* already closed */ }
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

function redactShape(shape: GatewayErrorShape, secrets: readonly string[]): GatewayErrorShape {
  return { ...shape, message: redact(shape.message, secrets) };
}

/**
 * `error` with `secrets` blanked out of the gateway's message (e.g. a new token in the patch the
 * gateway quotes back); the same class, method and fix. Other errors are returned as they are.
 */
export function redactRpcError<E>(error: E, secrets: readonly string[]): E {
  if (!(error instanceof GatewayRpcError) || secrets.every((s) => !s)) return error;
  const shape = redactShape(error.shape, secrets);
  return (error instanceof GatewayCannotApplyError
    ? new GatewayCannotApplyError(shape)
    : new GatewayRpcError(error.method, shape, error.fix)) as E;
}

/** A refused handshake, with the fix its `details.code` points at. */
export function connectRefusal(shape: GatewayErrorShape): GatewayRpcError {
  const code = typeof shape.details?.code === "string" ? shape.details.code : "";
  const fix = code === "PAIRING_REQUIRED"
    ? "Approve ecto's device on the gateway host: `openclaw devices list`, then `openclaw devices approve <requestId>`; or run ecto again once it is approved."
    : code.startsWith("AUTH_")
    ? "ecto's copy of the gateway credential does not match the running gateway; restart the gateway (`openclaw gateway restart`), then run ecto again."
    : undefined;
  return new GatewayRpcError("connect", shape, fix);
}

/**
 * Opens a WebSocket to the gateway and completes the operator handshake.
 *
 * @throws {GatewayRpcError} the gateway refused `connect` (`shape.details.code` says why).
 * @throws {GatewayConnectionError} no socket, no challenge or no answer in time.
 */
export function connectGateway(opts: ConnectGatewayOptions): Promise<GatewayRpc> {
  if (!isLoopbackUrl(opts.url)) {
    return Promise.reject(
      new EctoError(
        "openclaw_gateway_not_loopback",
        `ecto only talks to a gateway on loopback, not ${opts.url}.`,
        { fix: "Run ecto on the gateway's own host." },
      ),
    );
  }
  const secrets = opts.credential ? [opts.credential.value] : [];
  const openSocket = opts.openSocket ?? ((url: string) => new WebSocket(url));
  const timeoutMs = opts.timeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const platform = opts.platform ?? Deno.build.os;
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = openSocket(websocketUrl(opts.url));
    } catch (error) {
      reject(new GatewayConnectionError(`ecto could not open a WebSocket to ${opts.url}.`, error));
      return;
    }
    let settled = false;
    const connectId = "ecto-connect";
    const finish = (error: Error | undefined, hello?: HelloOk) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeEventListener("message", onMessage);
      ws.removeEventListener("close", onClose);
      ws.removeEventListener("error", onClose);
      if (error) {
        try {
          ws.close();
        } catch { /* not open */ }
        reject(error);
      } else resolve(GatewayRpc.adopt(ws, hello!, secrets));
    };
    const timer = setTimeout(
      () =>
        finish(
          new GatewayConnectionError(
            `The gateway at ${opts.url} did not complete the WebSocket handshake within ${
              Math.round(timeoutMs / 1000)
            } s.`,
          ),
        ),
      timeoutMs,
    );
    const onClose = () =>
      finish(
        new GatewayConnectionError(
          `The gateway at ${opts.url} closed the WebSocket during the handshake.`,
        ),
      );
    const onMessage = (event: MessageEvent) => {
      if (typeof event.data !== "string") return;
      const frame = parseFrame(event.data);
      const challenge = parseChallenge(frame);
      if (challenge) {
        ws.send(
          JSON.stringify({
            type: "req",
            id: connectId,
            method: "connect",
            params: connectParams(opts, platform, challenge),
          }),
        );
        return;
      }
      if (frame.type === "event" && frame.event === "connect.challenge") {
        finish(
          new GatewayConnectionError(
            `The gateway at ${opts.url} sent an invalid connect.challenge.`,
          ),
        );
        return;
      }
      if (frame.type !== "res" || frame.id !== connectId) return;
      if (!frame.ok) {
        finish(connectRefusal(redactShape(frame.error, secrets)));
        return;
      }
      const hello = parseHelloOk(frame.payload);
      if (!hello) {
        finish(
          new GatewayConnectionError(
            `The gateway at ${opts.url} answered connect without hello-ok.`,
          ),
        );
        return;
      }
      finish(undefined, hello);
    };
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", onClose);
    ws.addEventListener("error", onClose);
  });
}

function connectParams(
  opts: ConnectGatewayOptions,
  platform: string,
  challenge: ConnectChallenge,
): Record<string, unknown> {
  const fields = connectAuthFields(
    { credential: opts.credential, platform, deviceId: opts.identity.deviceId },
    challenge,
  );
  return buildConnectParams({
    version: opts.version,
    platform,
    credential: opts.credential,
    device: {
      id: opts.identity.deviceId,
      publicKey: publicKeyBase64Url(opts.identity.publicKeyPem),
      signature: signPayload(opts.identity, deviceAuthPayloadV3(fields)),
      signedAt: challenge.ts,
      nonce: challenge.nonce,
    },
  });
}
