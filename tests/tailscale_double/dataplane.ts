/**
 * The double's data plane ("tailscaled" + the Funnel relay), run as its own
 * long-lived process by `control.ts`:
 *
 * - one raw TCP listener on 127.0.0.1 (ephemeral port, bound once) per funnel
 *   port: the "internet" side. Like the relay it does not decrypt TLS; it
 *   forwards the connection only while Funnel is on for that port (Web
 *   handler + AllowFunnel + port in the funnel-ports cap + public DNS ready),
 *   and otherwise closes it;
 * - one raw TCP listener on 127.0.0.1 per port for the tailnet side: what a
 *   tailnet peer dialling the node's Tailscale IP on that port reaches. It
 *   forwards whenever the node serves web on that port (Serve or Funnel: no
 *   `AllowFunnel`, funnel attribute or public DNS needed), like tailscaled's
 *   own listener on the 100.x address;
 * - one internal TLS server (Deno.serve, certificate for the node's DNS name
 *   from a throwaway CA) that terminates TLS and runs the reverse proxy.
 *
 * Writes the port mappings into the state (`publicPorts`, `tailnetPorts`), then prints
 * `ready` on stdout. Exits on SIGTERM/SIGINT, or when its parent or the state
 * directory goes away. Logs to `$TS_DOUBLE_DIR/dataplane.log`.
 *
 * @module
 */

import {
  createFunnelHandler,
  funnelAllows,
  type FunnelSource,
  tailnetAllows,
} from "./proxy_handler.ts";
import {
  type DoubleState,
  pidAlive,
  pruneDeadSessions,
  readState,
  sleep,
  updateState,
} from "./state.ts";
import { daemonVersion } from "./status_json.ts";
import { atLeast } from "./version_info.ts";
import { ensureTlsMaterial } from "./tls_material.ts";

/** Ports the data plane always listens for (plus any in the initial funnel-ports cap). */
export const DEFAULT_PUBLIC_PORTS = [443, 8443, 10000];

async function main(): Promise<void> {
  const envDir = Deno.env.get("TS_DOUBLE_DIR");
  if (!envDir) throw new Error("TS_DOUBLE_DIR is not set");
  const dir: string = envDir;
  const parentPid = Number(Deno.env.get("TS_DOUBLE_PARENT_PID") ?? "0");
  const logFile = await Deno.open(`${dir}/dataplane.log`, { create: true, append: true });
  const encoder = new TextEncoder();
  const log = (line: string) => {
    logFile.writeSync(encoder.encode(`${new Date().toISOString()} ${line}\n`));
  };

  const initial = await readState(dir);
  const tls = await ensureTlsMaterial(dir, initial.options.dnsName);
  const sources = new Map<number, FunnelSource>();
  const handler = createFunnelHandler({ readState: () => readState(dir), log });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(tls.certFile),
    key: await Deno.readTextFile(tls.keyFile),
    onListen: () => {},
    onError: (e) => {
      log(`http: ${(e as Error).message}`);
      return new Response(null, { status: 502 });
    },
  }, (request, info) => {
    const source = sources.get(info.remoteAddr.port);
    if (!source) return new Response("404 page not found\n", { status: 404 });
    return handler(request, source);
  });
  const internalPort = server.addr.port;

  const ports = [...new Set([...DEFAULT_PUBLIC_PORTS, ...initial.options.funnelPorts])];
  const listeners = ports.map((port) => ({
    port,
    listener: Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  }));
  const tailnetListeners = ports.map((port) => ({
    port,
    listener: Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  }));
  await updateState(dir, (state) => {
    state.publicPorts = Object.fromEntries(
      listeners.map(({ port, listener }) => [String(port), listener.addr.port]),
    );
    state.tailnetPorts = Object.fromEntries(
      tailnetListeners.map(({ port, listener }) => [String(port), listener.addr.port]),
    );
  });

  for (const [via, list] of [["funnel", listeners], ["tailnet", tailnetListeners]] as const) {
    for (const { port, listener } of list) {
      (async () => {
        for await (const conn of listener) {
          relay(conn, port, via).catch((e) => log(`relay: ${(e as Error).message}`));
        }
      })().catch(() => {});
    }
  }

  async function relay(
    conn: Deno.TcpConn,
    port: number,
    via: "funnel" | "tailnet",
  ): Promise<void> {
    const state = await readState(dir);
    if (via === "tailnet" && !tailnetAllows(state, port)) {
      log(`refused tailnet connection for port ${port} (nothing served there)`);
      conn.close();
      return;
    }
    if (via === "funnel" && !funnelAllows(state, port)) {
      log(`refused connection for port ${port} (funnel off or not reachable)`);
      conn.close();
      return;
    }
    if (via === "funnel" && rejectsIngress(state)) {
      // 1.102.0–1.102.1: peerapi answers the relay's ingress POST with 403, so the client's
      // TLS handshake never completes (tailscale#20739).
      log("peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::1]:41641");
      conn.close();
      return;
    }
    await awaitCertificate(state);
    let inner: Deno.TcpConn;
    try {
      inner = await Deno.connect({ hostname: "127.0.0.1", port: internalPort });
    } catch {
      conn.close();
      return;
    }
    const key = inner.localAddr.port;
    // A tailnet peer is seen by its Tailscale IP (here the node's own, loopback).
    sources.set(key, { publicPort: port, clientIp: conn.remoteAddr.hostname, via });
    await Promise.all([
      pump(conn, inner).then(() => tryCall(() => inner.closeWrite())),
      pump(inner, conn).then(() => tryCall(() => conn.closeWrite())),
    ]);
    sources.delete(key);
    tryCall(() => conn.close());
    tryCall(() => inner.close());
  }

  // Before 1.100 the certificate is fetched on the first TLS handshake for the name: every
  // handshake waits until it is there (one fetch, `certDelayMs` long).
  let certReady: Promise<void> | undefined;
  function awaitCertificate(state: DoubleState): Promise<void> {
    const delay = state.options.certDelayMs;
    if (state.certIssued || delay <= 0 || atLeast(daemonVersion(state), "1.100")) {
      return Promise.resolve();
    }
    certReady ??= (async () => {
      log(`acme: fetching certificate for ${state.options.dnsName} on first handshake`);
      await sleep(delay);
      await updateState(dir, (s) => void (s.certIssued = true));
    })();
    return updateState(dir, (s) => void s.certWaits++).then(() => certReady);
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const { listener } of [...listeners, ...tailnetListeners]) {
      tryCall(() => listener.close());
    }
    server.shutdown().finally(() => {
      logFile.close();
      Deno.exit(0);
    });
    setTimeout(() => Deno.exit(0), 1000);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);

  await Deno.stdout.write(encoder.encode("ready\n"));

  // The daemon notices foreground CLIs that died without cleaning up.
  while (!stopping) {
    await sleep(500);
    try {
      await Deno.stat(`${dir}/state.json`);
    } catch {
      stop();
      break;
    }
    if (parentPid && !pidAlive(parentPid)) {
      stop();
      break;
    }
    const state = await readState(dir).catch(() => undefined);
    if (state && Object.keys(state.foreground).length) {
      const probe = structuredClone(state);
      if (pruneDeadSessions(probe)) await updateState(dir, (s) => void pruneDeadSessions(s));
    }
  }
}

/** Whether this daemon version refuses Funnel ingress (1.102.0 and 1.102.1). */
export function rejectsIngress(state: DoubleState): boolean {
  const v = daemonVersion(state);
  return atLeast(v, "1.102.0") && !atLeast(v, "1.102.2");
}

async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buf);
      if (n === null) return;
      let written = 0;
      while (written < n) written += await to.write(buf.subarray(written, n));
    }
  } catch {
    // connection reset: end this direction
  }
}

function tryCall(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // already closed
  }
}

if (import.meta.main) await main();
