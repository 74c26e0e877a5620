/**
 * Real OpenClaw gateways for end-to-end tests.
 *
 * {@link startGateway} makes a throwaway `HOME` with `~/.openclaw/openclaw.json`
 * (`gateway.mode: "local"`, loopback bind, token auth, one custom provider
 * `stub` pointing at a stub LLM as the default model), then starts
 * `openclaw gateway run --port N` in the background with its output in
 * `logPath`, and waits for `/readyz`. The gateway is not a child of the test
 * (it is started through `sh ... &`), so Deno's sanitizers see nothing; it is
 * stopped by pid: SIGTERM, then SIGKILL after a bound, never `pkill`.
 *
 * A cold start costs 20–30 s and ~1 GB on a 2-core host, so share:
 * {@link sharedGateway} starts one per test module (lazily) and stops it when
 * the module unloads.
 *
 * Measured here (2 cores shared): cold start to `/readyz` 200 in 14–20 s on a
 * quiet host, 40–62 s while other test suites run; the first chat completion
 * after a start 10–27 s, later ones ~1 s; SIGTERM to exit ~3 s. The stopped
 * gateway can linger as a zombie until the container's init reaps it.
 *
 * Minimal working config (found by experiment): `gateway.mode: "local"` and a
 * custom provider with `baseUrl`, `apiKey` (without one every chat fails
 * "No API key found for provider") and `models: [{ id, name }]`, selected by
 * `agents.defaults.model.primary: "stub/stub-model"`.
 *
 * @module
 */
import { ensureOpenClaw } from "./openclaw_install.ts";
import { startStubLlm, type StubLlm } from "./stub_llm.ts";
import { pollUntil } from "./poll.ts";

/** A real OpenClaw gateway (or just its HOME and config, with `start: false`). */
export interface Gateway extends AsyncDisposable {
  /** The throwaway HOME. */
  home: string;
  /** `<home>/.openclaw`. */
  stateDir: string;
  /** `<home>/.openclaw/openclaw.json`. */
  configPath: string;
  port: number;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** The token written to the config, or `undefined` when none was. */
  token: string | undefined;
  /** The gateway's pid (0 when not started). */
  pid: number;
  /** Where the gateway's stdout and stderr go. */
  logPath: string;
  /** The environment under which `openclaw` acts on this gateway: HOME, PATH (node first), OPENCLAW_*. */
  env(): Record<string, string>;
  openclawBin: string;
  /** Stops the gateway (SIGTERM, SIGKILL after a bound) and removes HOME if the harness made it. */
  stop(): Promise<void>;
  /** The stub LLM behind it, when the harness owns it ({@link sharedGateway}). */
  stub?: StubLlm;
  /** Starts the gateway (again) with `openclaw gateway run --port PORT`; waits for `/readyz`. */
  start(): Promise<void>;
  /** Whether the gateway process is alive. */
  isRunning(): boolean;
  /** The last `lines` lines of `logPath`. */
  logTail(lines?: number): Promise<string>;
}

/** Options of {@link startGateway}. */
export interface StartGatewayOptions {
  /** Base URL of the stub LLM (`StubLlm.url`). */
  stubUrl: string;
  /** Gateway token; default a fresh 64-hex token; `null` = no token in the config. */
  token?: string | null;
  /** `gateway.http.endpoints.chatCompletions.enabled`; default `true`. */
  chatCompletions?: boolean;
  /** Deep-merged over the generated config (objects merge, other values replace; `null` deletes). */
  extraConfig?: Record<string, unknown>;
  /**
   * Write this JSON5 verbatim instead of the generated config. The placeholders
   * `__PORT__`, `__STUB_URL__` and `__TOKEN__` are replaced when present.
   */
  configText?: string;
  /** Use this HOME (kept on stop) instead of a fresh temp dir (removed on stop). */
  home?: string;
  /** `false`: only write HOME + config (then call `start()` yourself, or not). Default `true`. */
  start?: boolean;
  /** Use this port instead of a free one. */
  port?: number;
  /** Bound of the wait for `/readyz`, default 120 s (the CPU is shared). */
  readyTimeoutMs?: number;
  /** Extra environment for the gateway and `env()`. */
  extraEnv?: Record<string, string>;
}

/**
 * Default bound of the wait for `/readyz` (a bounded poll: it ends as soon as the gateway is
 * ready). A cold start is 15–60 s on 2 cores and can pass 120 s while two suites and a CPU hog
 * share them; `ECTO_TEST_GATEWAY_READY_MS` sets it.
 */
export const READY_TIMEOUT_MS = Number(Deno.env.get("ECTO_TEST_GATEWAY_READY_MS") ?? 240_000);
/**
 * ecto's own waits for the gateway in tests (`ECTO_GATEWAY_READY_TIMEOUT`/`_LIVE_TIMEOUT`):
 * the ready bound above, and 120 s for a hot change to go live (ecto's default is 30 s, which a
 * hot apply passes on a loaded 2-core machine). `ECTO_TEST_GATEWAY_LIVE_MS` sets the latter.
 */
export const TEST_GATEWAY_LIMITS = {
  readyMs: READY_TIMEOUT_MS,
  liveMs: Number(Deno.env.get("ECTO_TEST_GATEWAY_LIVE_MS") ?? 120_000),
} as const;

/** {@link TEST_GATEWAY_LIMITS} as the environment an `ecto` process reads. */
export function gatewayLimitsEnv(): Record<string, string> {
  return {
    ECTO_GATEWAY_READY_TIMEOUT: String(TEST_GATEWAY_LIMITS.readyMs / 1000),
    ECTO_GATEWAY_LIVE_TIMEOUT: String(TEST_GATEWAY_LIMITS.liveMs / 1000),
  };
}

/** How long `stop()` waits after SIGTERM before SIGKILL. */
export const STOP_TIMEOUT_MS = 20_000;

/** The generated config (before `extraConfig`), exported for tests that want to build on it. */
export function baseGatewayConfig(
  opts: { port: number; stubUrl: string; token: string | undefined; chatCompletions: boolean },
): Record<string, unknown> {
  return {
    gateway: {
      mode: "local",
      port: opts.port,
      bind: "loopback",
      auth: opts.token === undefined ? { mode: "token" } : { mode: "token", token: opts.token },
      http: { endpoints: { chatCompletions: { enabled: opts.chatCompletions } } },
    },
    models: {
      providers: {
        stub: {
          baseUrl: opts.stubUrl,
          apiKey: "stub-key",
          api: "openai-completions",
          models: [{ id: "stub-model", name: "Stub model" }],
        },
      },
    },
    agents: { defaults: { model: { primary: "stub/stub-model" } } },
  };
}

/** Deep merge: objects merge recursively, anything else replaces, `null` deletes. */
export function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isPlainObject(value) && isPlainObject(out[key])) {
      out[key] = mergePatch(out[key] as Record<string, unknown>, value);
    } else out[key] = value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A fresh 64-hex-char token. */
export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Whether `pid` is a live (not zombie) process. Uses `ps`: Deno's test
 * permissions cannot read `/proc/<pid>`.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const out = new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const stat = new TextDecoder().decode(out.stdout).trim();
  return out.success && stat !== "" && !stat.startsWith("Z");
}

/** Pids of the (direct and indirect) children of `pid`. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  const out = new Deno.Command("ps", {
    args: ["-A", "-o", "pid=,ppid="],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p) parentOf.set(p, pp);
  }
  const result: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const [child, pp] of parentOf) {
      if (pp === parent && !result.includes(child)) {
        result.push(child);
        queue.push(child);
      }
    }
  }
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function trySignal(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch { /* already gone */ }
}

/** The last `lines` lines of a file ("" when it does not exist). */
export async function fileTail(path: string, lines = 40): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    // deno-lint-ignore no-control-regex
    return text.replace(/\x1b\[[0-9;]*m/g, "").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/**
 * Spawns `openclaw gateway run --port PORT` through `sh ... &` so it is not a
 * child of this process; returns its pid.
 */
async function spawnGateway(
  openclawBin: string,
  port: number,
  logPath: string,
  env: Record<string, string>,
): Promise<number> {
  const script = `"$0" gateway run --port "$1" >>"$2" 2>&1 </dev/null & echo $!`;
  const out = await new Deno.Command("sh", {
    args: ["-c", script, openclawBin, String(port), logPath],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const pid = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !Number.isInteger(pid) || pid <= 0) {
    throw new Error(
      `could not start the gateway: ${new TextDecoder().decode(out.stderr).trim() || "no pid"}`,
    );
  }
  return pid;
}

/** Polls `url/readyz` until 200, the process dies, or `timeoutMs` passes. */
export async function waitForReady(
  url: string,
  opts: { timeoutMs?: number; pid?: number; logPath?: string } = {},
): Promise<number> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? READY_TIMEOUT_MS;
  const ready = await pollUntil(async () => {
    try {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status === 200) return true;
    } catch { /* not listening yet */ }
    if (opts.pid !== undefined && !pidAlive(opts.pid)) {
      throw new Error(
        `gateway pid ${opts.pid} exited before /readyz answered 200; log ${opts.logPath}:\n${await fileTail(
          opts.logPath ?? "",
        )}`,
      );
    }
    return false;
  }, { timeoutMs, intervalMs: 250, what: "/readyz" }).catch((error: Error) => {
    if (error.message.startsWith("gateway pid")) throw error;
    return false;
  });
  if (ready) return Date.now() - started;
  throw new Error(
    `gateway at ${url} not ready after ${timeoutMs} ms; log ${opts.logPath}:\n${await fileTail(
      opts.logPath ?? "",
    )}`,
  );
}

/** Stops `pid` (SIGTERM, then SIGKILL after `timeoutMs`) and any children it leaves behind. */
export async function stopPid(pid: number, timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
  if (!pidAlive(pid)) return;
  const children = descendants(pid);
  trySignal(pid, "SIGTERM");
  const gone = (check: () => boolean, timeoutMs: number) =>
    pollUntil(check, { timeoutMs, intervalMs: 100 }).catch(() => false);
  if (!(await gone(() => !pidAlive(pid), timeoutMs))) trySignal(pid, "SIGKILL");
  await gone(() => !children.some(pidAlive), 3_000);
  for (const child of children) if (pidAlive(child)) trySignal(child, "SIGKILL");
}

/** Synchronous {@link stopPid}, for `unload` handlers. */
function stopPidSync(pid: number, timeoutMs = STOP_TIMEOUT_MS): void {
  if (!pidAlive(pid)) return;
  const children = descendants(pid);
  trySignal(pid, "SIGTERM");
  const started = Date.now();
  while (pidAlive(pid) && Date.now() - started < timeoutMs) sleepSync(100);
  if (pidAlive(pid)) trySignal(pid, "SIGKILL");
  const graceStart = Date.now();
  while (children.some(pidAlive) && Date.now() - graceStart < 3_000) sleepSync(100);
  for (const child of children) if (pidAlive(child)) trySignal(child, "SIGKILL");
}

/**
 * Removes a directory tree, retrying: a gateway's last writes (state, caches)
 * can race with the removal right after it exits.
 */
export async function removeTree(path: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      await Deno.remove(path, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      if (attempt >= 9) throw error;
      await sleep(300);
    }
  }
}

/** Every gateway pid this module started and has not stopped, stopped on unload. */
const live = new Set<number>();
let unloadHooked = false;
function track(pid: number): void {
  live.add(pid);
  if (!unloadHooked) {
    unloadHooked = true;
    globalThis.addEventListener("unload", () => {
      for (const p of live) stopPidSync(p);
      live.clear();
    });
  }
}

/** Creates a throwaway HOME + config for a real gateway and (by default) starts it. */
export async function startGateway(opts: StartGatewayOptions): Promise<Gateway> {
  const install = await ensureOpenClaw();
  const ownsHome = opts.home === undefined;
  const home = opts.home ?? await Deno.makeTempDir({ prefix: "ecto-gw-" });
  const stateDir = `${home}/.openclaw`;
  const configPath = `${stateDir}/openclaw.json`;
  const port = opts.port ?? freePort();
  const token = opts.token === null ? undefined : opts.token ?? randomToken();
  const logPath = `${home}/gateway.log`;
  const url = `http://127.0.0.1:${port}`;

  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  let text: string;
  if (opts.configText !== undefined) {
    text = opts.configText.replaceAll("__PORT__", String(port))
      .replaceAll("__STUB_URL__", opts.stubUrl)
      .replaceAll("__TOKEN__", token ?? "");
  } else {
    let config = baseGatewayConfig({
      port,
      stubUrl: opts.stubUrl,
      token,
      chatCompletions: opts.chatCompletions ?? true,
    });
    if (opts.extraConfig) config = mergePatch(config, opts.extraConfig);
    text = JSON.stringify(config, null, 2) + "\n";
  }
  await Deno.writeTextFile(configPath, text, { mode: 0o600 });

  const env: Record<string, string> = {
    HOME: home,
    PATH: `${install.nodeBinDir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    OPENCLAW_DISABLE_BONJOUR: "1",
    OPENCLAW_NO_AUTO_UPDATE: "1",
    ...(Deno.env.get("LANG") ? { LANG: Deno.env.get("LANG")! } : {}),
    ...(Deno.env.get("TMPDIR") ? { TMPDIR: Deno.env.get("TMPDIR")! } : {}),
    ...opts.extraEnv,
  };

  let stopped = false;
  const gateway: Gateway = {
    home,
    stateDir,
    configPath,
    port,
    url,
    token,
    pid: 0,
    logPath,
    openclawBin: install.openclawBin,
    env: () => ({ ...env }),
    isRunning: () => pidAlive(gateway.pid),
    logTail: (lines = 40) => fileTail(logPath, lines),
    async start() {
      if (gateway.pid && pidAlive(gateway.pid)) return;
      gateway.pid = await spawnGateway(install.openclawBin, port, logPath, env);
      track(gateway.pid);
      try {
        await waitForReady(url, {
          timeoutMs: opts.readyTimeoutMs ?? READY_TIMEOUT_MS,
          pid: gateway.pid,
          logPath,
        });
      } catch (error) {
        await stopPid(gateway.pid);
        live.delete(gateway.pid);
        throw error;
      }
    },
    async stop() {
      if (gateway.pid) {
        await stopPid(gateway.pid);
        live.delete(gateway.pid);
      }
      if (stopped) return;
      stopped = true;
      if (ownsHome) await removeTree(home);
    },
    [Symbol.asyncDispose]: () => gateway.stop(),
  };
  if (opts.start !== false) {
    try {
      await gateway.start();
    } catch (error) {
      if (ownsHome) await removeTree(home).catch(() => {});
      throw error;
    }
  }
  return gateway;
}

let shared: Promise<Gateway> | undefined;

/**
 * One real gateway per test module (a cold start costs 20–30 s and ~1 GB),
 * started on first use with a stub LLM (`gateway.stub`), the chat-completions
 * endpoint on and a token; stopped when the module unloads. A test may use it
 * but must leave it as it found it (config, running state).
 */
export function sharedGateway(): Promise<Gateway> {
  shared ??= (async () => {
    const stub = await startStubLlm({ reply: "Hello from the stub LLM." });
    try {
      const gateway = await startGateway({ stubUrl: stub.url });
      gateway.stub = stub;
      const stop = gateway.stop;
      gateway.stop = async () => {
        await stop();
        await stub.close();
      };
      return gateway;
    } catch (error) {
      await stub.close();
      shared = undefined;
      throw error;
    }
  })();
  return shared;
}
