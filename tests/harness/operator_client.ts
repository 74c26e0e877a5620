/**
 * A minimal OpenClaw operator client over the gateway's WebSocket, for tests
 * that play the owner's Control UI: it connects with the shared token
 * (loopback, no device identity), advertises the `exec-approvals` capability,
 * records every event, and sends requests. Protocol 4 as in OpenClaw
 * 2026.9.6's `docs/gateway/protocol/handshake.md`.
 *
 * @module
 */

/** One event frame the gateway sent. */
export interface GatewayEvent {
  event: string;
  payload: Record<string, unknown>;
}

/** A connected operator client. `await using` closes it. */
export interface OperatorClient extends AsyncDisposable {
  /** Every event received, in order. */
  events: GatewayEvent[];
  /** Sends `method` with `params`; resolves with the payload, rejects on `ok: false`. */
  request(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** The first event named `name` matching `where`, waiting up to `timeoutMs` for it. */
  nextEvent(
    name: string,
    where?: (payload: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<GatewayEvent>;
  close(): Promise<void>;
}

/** Connects to `url` (`http://127.0.0.1:PORT`) as an operator that can resolve approvals. */
export function connectOperator(
  url: string,
  token: string,
  opts: { scopes?: string[]; caps?: string[]; timeoutMs?: number } = {},
): Promise<OperatorClient> {
  const socket = new WebSocket(url.replace(/^http/, "ws"));
  const events: GatewayEvent[] = [];
  const waiters = new Set<() => void>();
  const pending = new Map<
    string,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  let nextId = 0;
  const closed = new Promise<void>((resolve) => socket.addEventListener("close", () => resolve()));

  const send = (method: string, params: Record<string, unknown>) => {
    const id = `t${++nextId}`;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ type: "req", id, method, params }));
    });
  };

  const client: OperatorClient = {
    events,
    request: send,
    nextEvent(name, where = () => true, timeoutMs = 60_000) {
      const found = () => events.find((e) => e.event === name && where(e.payload));
      const hit = found();
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${name} event within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          const e = found();
          if (!e) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(e);
        };
        waiters.add(check);
      });
    },
    async close() {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close();
      }
      await closed;
    },
    [Symbol.asyncDispose]: () => client.close(),
  };

  return new Promise((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const timer = setTimeout(() => {
      reject(new Error(`no hello-ok from ${url} within ${timeoutMs} ms`));
      socket.close();
    }, timeoutMs);
    socket.addEventListener("error", () => {
      clearTimeout(timer);
      reject(new Error(`WebSocket to ${url} failed`));
    });
    socket.addEventListener("message", (message) => {
      const frame = JSON.parse(String(message.data));
      if (frame.type === "res") {
        const waiter = pending.get(frame.id);
        pending.delete(frame.id);
        if (!waiter) return;
        if (frame.ok) waiter.resolve(frame.payload ?? {});
        else waiter.reject(new Error(JSON.stringify(frame.error)));
        return;
      }
      if (frame.type !== "event") return;
      if (frame.event === "connect.challenge") {
        send("connect", {
          minProtocol: 4,
          maxProtocol: 4,
          client: { id: "cli", version: "ecto-test", platform: Deno.build.os, mode: "cli" },
          role: "operator",
          scopes: opts.scopes ?? ["operator.read", "operator.approvals"],
          caps: opts.caps ?? ["exec-approvals"],
          auth: { token },
        }).then(() => {
          clearTimeout(timer);
          resolve(client);
        }, (error) => {
          clearTimeout(timer);
          reject(error);
          socket.close();
        });
        return;
      }
      events.push({ event: frame.event, payload: frame.payload ?? {} });
      for (const wake of waiters) wake();
    });
  });
}
