/**
 * The gateway process: starting a gateway that is not running, and
 * restarting one only when a change needs it (its health and waits are in
 * `gateway_health.ts`, the service manager in `gateway_service.ts`). Never `pkill`; never SIGKILL
 * a gateway ecto did not start.
 *
 * Measured on a 2-core host: cold start to `/readyz` 15–40 s; SIGTERM to exit
 * ~3 s; in-process restart (SIGUSR2 or auth-mode change) 5–11 s.
 *
 * @module
 */
import { detectGatewayService, gatewayServiceCommand } from "./gateway_service.ts";
import { EctoError, ToolError } from "../core/errors.ts";
import { ignoreEvents } from "../core/events.ts";
import { sleep as timerSleep } from "../core/poll.ts";
import type { Shell } from "../core/shell.ts";
import { isRecord } from "./config.ts";
import { type OpenClawCli, openClawCommandEnv, parseCliJson, runOpenClaw } from "./cli.ts";
import { listenerPid } from "./listener_pid.ts";

import {
  GATEWAY_LOG_PATH,
  GATEWAY_READY_TIMEOUT_MS,
  type GatewayDeps,
  gatewayHealth,
  openClawDailyLogPath,
  waitFor,
  waitForGatewayReady,
} from "./gateway_health.ts";

/**
 * Starts `openclaw gateway run` in the background, detached from ecto, with
 * its output appended to `logPath`. Returns its pid. The port comes from
 * `OPENCLAW_GATEWAY_PORT` or the config.
 */
export async function startGatewayDetached(
  deps: Pick<GatewayDeps, "$" | "env">,
  cli: OpenClawCli,
  logPath: string = GATEWAY_LOG_PATH,
): Promise<number> {
  const script = `nohup "$0" gateway run >>"$1" 2>&1 </dev/null & echo $!`;
  const result = await deps.$`sh -c ${script} ${cli.bin} ${logPath}`
    .env(openClawCommandEnv(deps.env))
    .stdin("null")
    .stdout("piped")
    .stderr("piped")
    .noThrow()
    .timeout(30_000);
  const pid = Number(result.stdout.trim());
  if (result.code !== 0 || !Number.isInteger(pid) || pid <= 0) {
    throw new ToolError(
      "openclaw",
      result.code,
      result.stderr,
      "ecto could not start `openclaw gateway run` in the background.",
    );
  }
  return pid;
}

/** Result of {@link ensureGatewayRunning}. */
export interface EnsureRunningResult {
  /** It was already ready; nothing was started. */
  alreadyRunning: boolean;
  /** How ecto started it, when it did. */
  startedBy?: "service" | "detached";
  /** The pid of a gateway ecto started detached. */
  pid?: number;
  /** The log of the gateway (ecto's for a detached start, else OpenClaw's daily log). */
  logPath: string;
  /** Time until `/readyz` answered 200. */
  readyMs: number;
}

/** Options of {@link ensureGatewayRunning}. */
export interface EnsureRunningOptions {
  /** The `openclaw` CLI. */
  cli: OpenClawCli;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Bound of the wait for readiness (default `deps.limits`, else 120 s). */
  limitMs?: number;
  /** Where a detached gateway's output goes (default `/tmp/openclaw-gateway.log`). */
  logPath?: string;
  /** Secrets to redact from log tails in errors. */
  secrets?: string[];
}

/**
 * Makes sure the gateway answers `/readyz`: when it is already live, waits
 * for readiness; when it is installed as a service, `openclaw gateway start`;
 * otherwise starts `openclaw gateway run` detached (output appended to
 * `/tmp/openclaw-gateway.log`). The wait is bounded and reported.
 *
 * @throws {GatewayNotReadyError} with the log path and its last lines.
 */
export async function ensureGatewayRunning(
  deps: GatewayDeps,
  opts: EnsureRunningOptions,
): Promise<EnsureRunningResult> {
  const events = deps.events ?? ignoreEvents;
  const now = deps.now ?? Date.now;
  const health = await gatewayHealth(deps.fetch, opts.url);
  const dailyLog = openClawDailyLogPath(new Date(now()));
  if (health.ready) {
    events({
      kind: "step",
      step: "openclaw.gateway",
      status: "skip",
      detail: "gateway is running",
    });
    return { alreadyRunning: true, logPath: dailyLog, readyMs: 0 };
  }
  // A gateway too busy to answer in time is running: starting a second one would only fail.
  if (health.running) {
    const readyMs = await waitForGatewayReady(deps, opts.url, {
      limitMs: opts.limitMs,
      logPath: dailyLog,
      step: "openclaw.gateway",
      secrets: opts.secrets,
    });
    return { alreadyRunning: true, logPath: dailyLog, readyMs };
  }
  const service = await detectGatewayService(deps.env);
  events({
    kind: "step",
    step: "openclaw.gateway",
    status: "start",
    detail: service
      ? `starting the OpenClaw gateway service (${service.kind})`
      : "starting the OpenClaw gateway",
  });
  if (service) {
    await gatewayServiceCommand(
      deps,
      opts.cli,
      "start",
      "`openclaw gateway start` failed to start the installed gateway service.",
      opts.secrets,
    );
    const readyMs = await waitForGatewayReady(deps, opts.url, {
      limitMs: opts.limitMs,
      logPath: dailyLog,
      step: "openclaw.gateway",
      secrets: opts.secrets,
    });
    events({ kind: "step", step: "openclaw.gateway", status: "done", detail: "gateway ready" });
    return { alreadyRunning: false, startedBy: "service", logPath: dailyLog, readyMs };
  }
  const logPath = opts.logPath ?? GATEWAY_LOG_PATH;
  const pid = await startGatewayDetached(deps, opts.cli, logPath);
  const readyMs = await waitForGatewayReady(deps, opts.url, {
    limitMs: opts.limitMs,
    logPath,
    step: "openclaw.gateway",
    secrets: opts.secrets,
  });
  events({
    kind: "step",
    step: "openclaw.gateway",
    status: "done",
    detail: `gateway ready (pid ${pid}, log ${logPath})`,
  });
  return { alreadyRunning: false, startedBy: "detached", pid, logPath, readyMs };
}

/** A process listening on the gateway port, from `openclaw gateway status --json`. */
export interface GatewayListener {
  /** Process id. */
  pid: number;
  /** Listening address, e.g. `127.0.0.1:18789`. */
  address: string;
  /** Its command line (`openclaw-gateway`). */
  commandLine: string;
}

/** Parses `openclaw gateway status --json`: the listeners on the gateway port. Pure. */
export function parseGatewayStatus(
  stdout: string,
): { listeners: GatewayListener[]; rpcOk: boolean; port?: number } {
  const json = parseCliJson(stdout);
  if (!isRecord(json)) return { listeners: [], rpcOk: false };
  const port = isRecord(json.port) ? json.port : {};
  const listeners = Array.isArray(port.listeners) ? port.listeners : [];
  return {
    listeners: listeners.filter(isRecord).filter((l) => typeof l.pid === "number").map((l) => ({
      pid: l.pid as number,
      address: typeof l.address === "string" ? l.address : "",
      commandLine: typeof l.commandLine === "string" ? l.commandLine : "",
    })),
    rpcOk: isRecord(json.rpc) && json.rpc.ok === true,
    ...(typeof port.port === "number" ? { port: port.port } : {}),
  };
}

/** Finds the pid of the gateway listening on its port (via `openclaw gateway status --json`). */
export async function findGatewayPid(
  deps: Pick<GatewayDeps, "$" | "env">,
  cli: OpenClawCli,
): Promise<number | undefined> {
  const run = await runOpenClaw(deps.$, cli, deps.env, ["gateway", "status", "--json"]);
  const { listeners } = parseGatewayStatus(run.stdout);
  return listeners.find((l) => /openclaw/i.test(l.commandLine))?.pid;
}

/** Whether `pid` is a live process (a zombie counts as gone), asked of `ps`. */
export async function processAlive($: Shell, pid: number): Promise<boolean> {
  const result = await $`ps -o stat= -p ${String(pid)}`.stdout("piped").stderr("null").noThrow();
  const stat = result.stdout.trim();
  return result.code === 0 && stat !== "" && !stat.startsWith("Z");
}

/** Options of {@link restartGateway}. */
export interface RestartOptions {
  /** The `openclaw` CLI. */
  cli: OpenClawCli;
  /** The gateway, `http://127.0.0.1:PORT`. */
  url: string;
  /**
   * `restart`: the gateway reloads in-process (service: `openclaw gateway restart`;
   * foreground: SIGUSR2, because the CLI would authenticate with a token the
   * gateway does not know yet). `full`: a new process (service: `openclaw gateway
   * restart`, which under a supervisor is a fresh process; foreground: SIGTERM, wait,
   * then `openclaw gateway run` detached).
   */
  kind: "restart" | "full";
  /** Bound of the wait for readiness (default `deps.limits`, else 120 s). */
  limitMs?: number;
  /** The gateway's pid when known (e.g. ecto started it); else found via `gateway status`. */
  pid?: number;
  /** Whether ecto started that pid (then it may SIGKILL it after the bound). */
  startedByEcto?: boolean;
  /** Log for a gateway ecto starts (default `/tmp/openclaw-gateway.log`). */
  logPath?: string;
  /** Secrets to redact from log tails in errors. */
  secrets?: string[];
}

/** Result of {@link restartGateway}. */
export interface RestartResult {
  /** How it was restarted. */
  method: "service" | "signal" | "stop-start";
  /** pid of the new process after a foreground full restart. */
  pid?: number;
  /** Time until ready again. */
  ms: number;
}

/**
 * Restarts the gateway the way a change needs (see {@link RestartOptions.kind}),
 * then waits (bounded, reported) until `/readyz` is 200 again.
 */
export async function restartGateway(
  deps: GatewayDeps,
  opts: RestartOptions,
): Promise<RestartResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? timerSleep;
  const events = deps.events ?? ignoreEvents;
  const started = now();
  const limitMs = opts.limitMs ?? deps.limits?.readyMs ?? GATEWAY_READY_TIMEOUT_MS;
  const dailyLog = openClawDailyLogPath(new Date(now()));
  const service = await detectGatewayService(deps.env);
  events({
    kind: "step",
    step: "openclaw.restart",
    status: "start",
    detail: service ? `restarting the ${service.kind} gateway service` : "restarting the gateway",
  });

  const waitDownThenReady = async (logPath: string) => {
    // The restart begins a moment after the request: wait briefly for readiness to drop.
    await waitFor(
      deps,
      "openclaw.restart",
      "waiting for the gateway to go down",
      12_000,
      async () => (await gatewayHealth(deps.fetch, opts.url)).ready ? undefined : true,
      200,
    );
    await waitForGatewayReady(deps, opts.url, {
      limitMs,
      logPath,
      step: "openclaw.restart",
      secrets: opts.secrets,
    });
  };

  if (service) {
    await gatewayServiceCommand(
      deps,
      opts.cli,
      "restart",
      "`openclaw gateway restart` failed.",
      opts.secrets,
    );
    await waitDownThenReady(dailyLog);
    const ms = now() - started;
    events({ kind: "step", step: "openclaw.restart", status: "done", detail: `ready in ${ms} ms` });
    return { method: "service", ms };
  }

  const pid = opts.pid ?? await findGatewayPid(deps, opts.cli) ??
    await listenerPid(deps.$, Number(new URL(opts.url).port));
  if (pid === undefined) {
    throw new EctoError(
      "openclaw_gateway_not_found",
      `ecto cannot find the OpenClaw gateway process behind ${opts.url} to restart it.`,
      { fix: "Restart the gateway yourself (stop it, then `openclaw gateway run`)." },
    );
  }
  if (opts.kind === "restart") {
    Deno.kill(pid, "SIGUSR2"); // the gateway's own in-process restart
    await waitDownThenReady(dailyLog);
    const ms = now() - started;
    events({ kind: "step", step: "openclaw.restart", status: "done", detail: `ready in ${ms} ms` });
    return { method: "signal", ms };
  }

  // Full: stop the process, then start a fresh one detached.
  Deno.kill(pid, "SIGTERM");
  const stopped = await waitFor(
    deps,
    "openclaw.restart",
    `waiting for gateway pid ${pid} to stop`,
    30_000,
    async () => (await processAlive(deps.$, pid)) ? undefined : true,
    200,
  );
  if (!stopped) {
    if (!opts.startedByEcto) {
      throw new EctoError(
        "openclaw_gateway_stop_timeout",
        `The OpenClaw gateway (pid ${pid}) did not stop within 30 s after SIGTERM, and ecto will not force-kill a gateway it did not start.`,
        { fix: `Stop it yourself (kill ${pid}), then run ecto again.` },
      );
    }
    Deno.kill(pid, "SIGKILL");
    await sleep(500);
  }
  const logPath = opts.logPath ?? GATEWAY_LOG_PATH;
  const newPid = await startGatewayDetached(deps, opts.cli, logPath);
  await waitForGatewayReady(deps, opts.url, {
    limitMs,
    logPath,
    step: "openclaw.restart",
    secrets: opts.secrets,
  });
  const ms = now() - started;
  events({
    kind: "step",
    step: "openclaw.restart",
    status: "done",
    detail: `new gateway pid ${newPid} ready in ${ms} ms (log ${logPath})`,
  });
  return { method: "stop-start", pid: newPid, ms };
}
