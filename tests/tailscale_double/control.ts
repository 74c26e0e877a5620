/**
 * Control API of the `tailscale` test double, for tests and the sandbox:
 * starts a node (temp state dir, throwaway CA, data-plane process), changes
 * what the "control plane" says, and runs the double's CLI.
 *
 * ```ts
 * await using ts = await TailscaleDouble.start({ version: "1.90.8" });
 * const { code, stdout } = await ts.run(["funnel", "--bg", "18795"]);
 * ```
 *
 * @module
 */

import type { DoubleOptions } from "./state.ts";
import {
  initialState,
  readState,
  stripUndefined,
  updateState,
  withLock,
  writeState,
} from "./state.ts";
import { canonical, type ServeConfig } from "./serve_config.ts";
import { NODE } from "./status_json.ts";
import { pollUntil } from "../harness/poll.ts";

export type { BackendState, DoubleOptions } from "./state.ts";
export type { ServeConfig } from "./serve_config.ts";

const HERE = new URL(".", import.meta.url).pathname.replace(/\/$/, "");

/** A running double: state dir, data plane, CLI. */
export class TailscaleDouble implements AsyncDisposable {
  /** `TS_DOUBLE_DIR`. */
  readonly stateDir: string;
  /** Directory holding the executable `tailscale` (put it first on `PATH`). */
  readonly binDir: string;
  /** Absolute path of that executable (for `ECTO_TAILSCALE`). */
  readonly cliPath: string;
  /** PEM file of the throwaway CA (for `ECTO_CA_FILE`). */
  readonly caFile: string;
  /** The node's DNS name, without the trailing dot. */
  readonly dnsName: string;
  /** Funnel port → 127.0.0.1 port of the public listener. */
  readonly publicPorts: Readonly<Record<number, number>>;
  /** Serve port → 127.0.0.1 port of the tailnet listener (the node's Tailscale IP, that port). */
  readonly tailnetPorts: Readonly<Record<number, number>>;
  #dataplane: Deno.ChildProcess;
  #disposed = false;

  private constructor(
    stateDir: string,
    dnsName: string,
    publicPorts: Record<number, number>,
    tailnetPorts: Record<number, number>,
    dataplane: Deno.ChildProcess,
  ) {
    this.stateDir = stateDir;
    this.binDir = `${stateDir}/bin`;
    this.cliPath = `${stateDir}/bin/tailscale`;
    this.caFile = `${stateDir}/tls/ca.pem`;
    this.dnsName = dnsName;
    this.publicPorts = publicPorts;
    this.tailnetPorts = tailnetPorts;
    this.#dataplane = dataplane;
  }

  /** Creates the temp state dir, the CA and certificate, and starts the data plane. */
  static async start(options: DoubleOptions = {}): Promise<TailscaleDouble> {
    const dir = await Deno.makeTempDir({ prefix: "ts-double-" });
    const state = initialState(options);
    await writeState(dir, state);
    await Deno.mkdir(`${dir}/bin`);
    await Deno.symlink(`${HERE}/tailscale`, `${dir}/bin/tailscale`);
    const dataplane = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", "--no-config", "--no-lock", `${HERE}/dataplane.ts`],
      env: { TS_DOUBLE_DIR: dir, TS_DOUBLE_PARENT_PID: String(Deno.pid) },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const ready = await readFirstLine(dataplane.stdout);
    if (ready !== "ready") {
      const errText = await new Response(dataplane.stderr).text();
      try {
        dataplane.kill("SIGKILL");
      } catch {
        // already gone
      }
      await dataplane.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`tailscale double: data plane failed to start: ${errText.trim()}`);
    }
    dataplane.stderr.cancel().catch(() => {});
    const written = await readState(dir);
    const numeric = (ports: Record<string, number>) =>
      Object.fromEntries(Object.entries(ports).map(([k, v]) => [Number(k), v])) as Record<
        number,
        number
      >;
    return new TailscaleDouble(
      dir,
      state.options.dnsName,
      numeric(written.publicPorts),
      numeric(written.tailnetPorts),
      dataplane,
    );
  }

  /** Environment for processes that should use the double. */
  env(): Record<string, string> {
    const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
    return {
      TS_DOUBLE_DIR: this.stateDir,
      ECTO_DOUBLE_DENO: Deno.env.get("ECTO_DOUBLE_DENO") ?? Deno.execPath(),
      PATH: `${this.binDir}:${path}`,
      ECTO_CA_FILE: this.caFile,
      ECTO_CONNECT_TO: this.connectTo(),
    };
  }

  /**
   * curl `--connect-to` form: the name on every funnel port to the public listener
   * (`HOST:443:127.0.0.1:P1,…`: the internet side), then the node's Tailscale IPs on
   * every port to the tailnet listener (`127.0.0.1:443:127.0.0.1:T1,[::1]:443:…`: what
   * a tailnet peer reaches, the proof's tailnet path).
   */
  connectTo(): string {
    const sorted = (ports: Readonly<Record<number, number>>) =>
      Object.entries(ports).sort(([a], [b]) => Number(a) - Number(b));
    const name = sorted(this.publicPorts)
      .map(([port, local]) => `${this.dnsName}:${port}:127.0.0.1:${local}`);
    const tailnet = sorted(this.tailnetPorts).flatMap(([port, local]) =>
      [NODE.ipv4, `[${NODE.ipv6}]`].map((ip) => `${ip}:${port}:127.0.0.1:${local}`)
    );
    return [...name, ...tailnet].join(",");
  }

  /** Changes what the node / control plane says (takes effect for the next CLI call). */
  async update(patch: Partial<DoubleOptions>): Promise<void> {
    await updateState(this.stateDir, (s) => {
      s.options = { ...s.options, ...stripUndefined(patch) };
      if (patch.backendState && patch.backendState !== "NeedsLogin") s.authUrl = "";
    });
  }

  /** A pending interactive login (or device approval) completes. */
  async approveLogin(): Promise<void> {
    await updateState(this.stateDir, (s) => {
      const o = s.options;
      if (o.backendState === "NeedsLogin" || o.backendState === "NoState") {
        o.backendState = o.requireDeviceApproval ? "NeedsMachineAuth" : "Running";
      } else if (o.backendState === "NeedsMachineAuth") {
        o.backendState = "Running";
      }
      s.authUrl = "";
    });
  }

  /** The admin turned Funnel on: the `https` and `funnel` capabilities appear. */
  async enableFunnel(): Promise<void> {
    await this.update({ https: true, funnelAttr: true });
  }

  /** The stored serve config (canonical form, as `serve status --json` shows it). */
  async serveConfig(): Promise<ServeConfig> {
    return canonical((await readState(this.stateDir)).serve);
  }

  /** Replaces the serve config wholesale (seed foreign routes). */
  async setServeConfig(config: ServeConfig): Promise<void> {
    await updateState(this.stateDir, (s) => {
      s.serve = canonical(config);
    });
  }

  /** Runs the double's CLI to completion. */
  async run(
    args: string[],
    opts: { stdin?: string; env?: Record<string, string> } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = this.spawn(args, { ...opts, stdin: opts.stdin });
    if (opts.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(opts.stdin));
      await writer.close();
    }
    const { code, stdout, stderr } = await child.output();
    const dec = new TextDecoder();
    return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
  }

  /**
   * Starts the double's CLI without waiting (e.g. a foreground `funnel` or a
   * blocking `up`); stdout/stderr piped, stdin piped when `stdin` is given.
   */
  spawn(
    args: string[],
    opts: { stdin?: string; env?: Record<string, string> } = {},
  ): Deno.ChildProcess {
    return new Deno.Command(this.cliPath, {
      args,
      env: { ...this.env(), ...opts.env },
      stdin: opts.stdin !== undefined ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }

  /** Waits until `predicate(state)` holds (polling), or throws after `timeoutMs`. */
  async waitFor(
    predicate: (config: ServeConfig) => boolean,
    timeoutMs = 10_000,
  ): Promise<void> {
    await pollUntil(async () => predicate(await this.serveConfig()), {
      timeoutMs,
      what: "the tailscale double's serve config",
    });
  }

  /** Stops the data plane, ends foreground sessions, removes the temp dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const pids = await withLock(this.stateDir, async () => {
      const s = await readState(this.stateDir).catch(() => undefined);
      return Object.values(s?.foreground ?? {});
    });
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    try {
      this.#dataplane.kill("SIGTERM");
    } catch {
      // already gone
    }
    await this.#dataplane.stdout.cancel().catch(() => {});
    await this.#dataplane.status;
    await Deno.remove(this.stateDir, { recursive: true }).catch(() => {});
  }
}

async function readFirstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text.split("\n")[0].trim();
}
