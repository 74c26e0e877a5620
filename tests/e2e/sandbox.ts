/**
 * The sandbox ecto's demo and end-to-end tests run in: a throwaway HOME, the
 * tailscale test double (logged in, Funnel allowed, with its TLS data plane)
 * first on PATH, a real OpenClaw gateway with the stub LLM as its model, and
 * the environment that points ecto at all of them. Disposing it stops every
 * process it started.
 */
import { type DoubleOptions, TailscaleDouble } from "../tailscale_double/control.ts";
import { ensureOpenClaw } from "../harness/openclaw_install.ts";
import {
  freePort,
  type Gateway,
  gatewayLimitsEnv,
  startGateway,
  type StartGatewayOptions,
} from "../harness/gateway.ts";
import { startStubLlm, type StubLlm } from "../harness/stub_llm.ts";
import { type DnsStub, startDnsStub } from "./dns_stub.ts";
import { build$ } from "dax";
import { funnelRequest, type FunnelResponse } from "../tailscale_double/https_client.ts";
import { readPidRecord } from "../../lib/service/detached.ts";
import { processAlive } from "../../lib/openclaw/gateway.ts";
import { pollUntil } from "../harness/poll.ts";

/** Options for a sandbox. */
export interface SandboxOptions {
  double?: DoubleOptions;
  /** Start the gateway (default true). */
  startGateway?: boolean;
  /** Gateway token in config (default: one is generated; null: none). */
  gatewayToken?: string | null;
  onProgress?: (line: string) => void;
  /** More gateway options (config, environment), merged over the sandbox's. */
  gatewayOptions?: Partial<StartGatewayOptions>;
  /** Put the tailscale double on the gateway's PATH (for `gateway.tailscale.mode`). */
  gatewaySeesTailscale?: boolean;
}

/** A running sandbox. */
export interface Sandbox extends AsyncDisposable {
  home: string;
  tailscale: TailscaleDouble;
  gateway: Gateway;
  stub: StubLlm;
  /**
   * The "public DNS" ecto is pointed at (`ECTO_DNS_SERVER`): a stub on
   * loopback with no records. `ECTO_CONNECT_TO` should make every DNS step
   * unnecessary, so its `questions` stay empty.
   */
  dns: DnsStub;
  /** A free loopback port for the edge. */
  edgePort: number;
  /** The environment ecto runs with. */
  env: Record<string, string>;
}

/** What {@link publicRequest} sends besides its path: a key (as the bearer), headers, a body. */
export interface PublicRequestInit {
  key?: string;
  headers?: Record<string, string>;
  /** A body makes it a POST. */
  body?: string;
}

/**
 * A request to the sandbox's public URL on Funnel port `port` (443, 8443,
 * 10000), through the double's TLS data plane, with the name verified.
 */
export async function publicRequest(
  sb: Sandbox,
  port: number,
  path: string,
  init: PublicRequestInit = {},
): Promise<FunnelResponse> {
  return await funnelRequest({
    localPort: sb.tailscale.publicPorts[port]!,
    hostname: sb.tailscale.dnsName,
    host: port === 443 ? sb.tailscale.dnsName : `${sb.tailscale.dnsName}:${port}`,
    caPem: await Deno.readTextFile(sb.tailscale.caFile),
    method: init.body === undefined ? "GET" : "POST",
    path,
    headers: {
      ...(init.key === undefined ? {} : { authorization: `Bearer ${init.key}` }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
}

/** Starts a sandbox. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const progress = options.onProgress ?? (() => {});
  const install = await ensureOpenClaw({ onProgress: progress });
  const stub = await startStubLlm();
  const dns = await startDnsStub({});
  const tailscale = await TailscaleDouble.start(options.double ?? {});
  let gateway: Gateway;
  try {
    progress("starting a real OpenClaw gateway (20-30 s on a cold start)");
    const seesTailscale = options.gatewaySeesTailscale
      ? {
        extraEnv: {
          ...tailscale.env(),
          PATH: `${tailscale.binDir}:${install.nodeBinDir}:${
            Deno.env.get("PATH") ?? "/usr/bin:/bin"
          }`,
          ...options.gatewayOptions?.extraEnv,
        },
      }
      : {};
    gateway = await startGateway({
      stubUrl: stub.url,
      chatCompletions: false,
      start: options.startGateway ?? true,
      ...(options.gatewayToken === undefined ? {} : { token: options.gatewayToken }),
      ...options.gatewayOptions,
      ...seesTailscale,
    });
  } catch (error) {
    await tailscale[Symbol.asyncDispose]();
    await stub.close();
    await dns[Symbol.asyncDispose]();
    throw error;
  }
  const edgePort = freePort();
  const gatewayEnv = gateway.env();
  const tsEnv = tailscale.env();
  const env: Record<string, string> = {
    ...passThroughEnv(),
    ...gatewayEnv,
    ...tsEnv,
    PATH: `${tailscale.binDir}:${install.nodeBinDir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    HOME: gateway.home,
    ECTO_STATE_DIR: `${gateway.home}/.ecto`,
    ECTO_OPENCLAW: install.openclawBin,
    ECTO_SUPERVISOR: "detached",
    ECTO_EDGE_LISTEN: `127.0.0.1:${edgePort}`,
    ECTO_OPENCLAW_LOG: `${gateway.home}/openclaw-gateway.log`,
    ECTO_DNS_SERVER: dns.server,
    ...gatewayLimitsEnv(),
  };
  return {
    home: gateway.home,
    tailscale,
    gateway,
    stub,
    dns,
    edgePort,
    env,
    async [Symbol.asyncDispose]() {
      await stopEdgeIfRunning(env);
      await gateway.stop().catch(() => {});
      await tailscale[Symbol.asyncDispose]().catch(() => {});
      await stub.close().catch(() => {});
      await dns[Symbol.asyncDispose]();
    },
  };
}

/**
 * Stops every edge a test left running, and waits until each is gone, so no edge outlives its
 * sandbox: the one in the state dir's pidfile, and any process whose environment names
 * this sandbox's state dir — an edge whose pidfile was never renamed into place (Ctrl-C mid
 * connect) or was deleted with the state dir (a test failing mid-way) is found that way too.
 */
export async function stopEdgeIfRunning(env: Record<string, string>): Promise<void> {
  const record = await readPidRecord(`${env.ECTO_STATE_DIR}/edge.pid`).catch(() => undefined);
  const pids = new Set(await processesWithEnv(`ECTO_STATE_DIR=${env.ECTO_STATE_DIR}`));
  if (record) pids.add(record.pid);
  await Promise.all([...pids].map(stopProcess));
}

/**
 * Pids of processes whose environment holds `entry` (`NAME=value`), from `ps e` (which prints
 * each process's environment after its arguments, on Linux and macOS alike; Deno's permissions
 * keep `/proc/<pid>/environ` for `--allow-all`).
 */
async function processesWithEnv(entry: string): Promise<number[]> {
  const listing = await build$({})`ps axeww -o pid=,args=`.stdout("piped").stderr("null")
    .noThrow();
  const escaped = entry.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const carries = new RegExp(`\\s${escaped}(\\s|$)`);
  return listing.stdout.split("\n").flatMap((line) => {
    const pid = Number(line.trim().split(/\s/, 1)[0]);
    return Number.isInteger(pid) && pid > 0 && pid !== Deno.pid && carries.test(line) ? [pid] : [];
  });
}

/** SIGTERM, a bounded wait for the edge's drain, then SIGKILL. */
async function stopProcess(pid: number): Promise<void> {
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  const $ = build$({});
  const gone = await pollUntil(async () => !(await processAlive($, pid)), {
    timeoutMs: 5_000,
    what: "the edge to exit",
  }).catch(() => false);
  if (gone) return;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

/**
 * What a child Deno needs from this machine besides the sandbox: its module
 * cache (HOME changes, so DENO_DIR must not follow it) and the machine's TLS
 * and proxy settings for reaching the npm registry.
 */
export function passThroughEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  const home = Deno.env.get("HOME");
  const denoDir = Deno.env.get("DENO_DIR") ??
    (home
      ? (Deno.build.os === "darwin" ? `${home}/Library/Caches/deno` : `${home}/.cache/deno`)
      : undefined);
  if (denoDir) env.DENO_DIR = denoDir;
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (
      /^(SSL_CERT_FILE|SSL_CERT_DIR|DENO_CERT|NODE_EXTRA_CA_CERTS|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|NPM_CONFIG_REGISTRY)$/
        .test(name)
    ) {
      env[name] = value;
    }
  }
  return env;
}
