/**
 * Turning ecto's Funnel route on and off. Only ever touches ecto's own
 * handler: checks the port first, writes with `tailscale funnel --bg`,
 * removes with `tailscale serve --https=PORT --set-path=/ off` (never
 * `reset`), and reads the config back after every write.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import { type EventSink, ignoreEvents } from "../core/events.ts";
import { type ExecResult, spawn } from "./_exec.ts";
import {
  classifyServeFailure,
  enablePromptError,
  isEtagRace,
  notConnectedError,
  parseEnablePrompt,
} from "./diagnose.ts";
import { childEnv, getServeConfig, getStatus, type TailscaleCli, toolError } from "./runner.ts";
import {
  choosePort,
  type EctoRoute,
  findEctoRoutes,
  hostPort,
  type ServeConfig,
} from "./serve_config.ts";
import type { TailscaleStatus } from "./status.ts";
import { lostWriteError } from "./lost_write.ts";
import { poll } from "../core/poll.ts";
import { type RouteRun, writeRoute } from "./write_route.ts";

/** Options for {@link enableFunnel}. */
export interface EnableFunnelOptions {
  /** ecto's edge address, exactly as it will be stored, e.g. `http://127.0.0.1:18795`. */
  target: string;
  /** A port to use instead of the first free one (must be allowed and free). */
  preferredPort?: number;
  /**
   * How long to wait for an admin to enable Funnel after the enable URL was
   * surfaced (default 0: throw `funnel_not_enabled` with the URL at once).
   */
  enableWaitMs?: number;
  /** Bound on one `tailscale funnel` run when no enable prompt is shown (default 60 s). */
  commandTimeoutMs?: number;
  /** Status poll interval while waiting for enablement (default 1 s). */
  pollIntervalMs?: number;
  /** Progress and `action` (`enable-funnel`) events. */
  events?: EventSink;
  /** The status this command already read (used instead of a first `status --json`). */
  status?: TailscaleStatus;
  /**
   * The serve config this command already read: enough to find the route already in place
   * (then nothing runs); before a write the config is read afresh all the same.
   */
  config?: ServeConfig;
}

/** ecto's Funnel route after {@link enableFunnel}. */
export interface FunnelRoute extends EctoRoute {
  /** False when the route and Funnel were already in place and nothing ran. */
  changed: boolean;
  /** One sentence: what was found or done. */
  detail: string;
  /** ecto's routes on other ports in the config last read (a switch's leftovers to remove). */
  others: EctoRoute[];
}

const STEP = "tailscale.funnel";

function othersThan(config: ServeConfig, host: string, target: string, port: number): EctoRoute[] {
  return findEctoRoutes(config, host, target).filter((r) => r.port !== port);
}

/** The argv of ecto's funnel write: flags first, target last. */
export function funnelArgs(port: number, target: string): string[] {
  return ["funnel", "--bg", "--yes", `--https=${port}`, target];
}

/** The argv that removes ecto's `/` handler on `port` (and its Funnel flag). */
export function serveOffArgs(port: number): string[] {
  return ["serve", `--https=${port}`, "--set-path=/", "off"];
}

/**
 * Publishes `target` through Funnel on a free allowed port (or ecto's
 * existing one) and confirms it by reading the config back.
 *
 * Never runs on a port that carries a handler ecto did not create. Throws
 * `ActionRequiredError`: `funnel_not_enabled` / `https_not_enabled` with the
 * enable URL, `funnel_ports_busy`, `funnel_port_busy`,
 * `funnel_port_not_allowed`, `tailscale_shields_up`,
 * `tailscale_access_denied` (operator fix), `tailscale_not_running`,
 * `tailscale_needs_login`; `EctoError` `funnel_not_configured` when the CLI
 * exits 0 without the route in place, `serve_config_race` after one retry.
 */
export async function enableFunnel(
  cli: TailscaleCli,
  options: EnableFunnelOptions,
): Promise<FunnelRoute> {
  const events = options.events ?? ignoreEvents;
  const started = Date.now();
  const enableDeadline = started + (options.enableWaitMs ?? 0);

  let status = options.status ?? await getStatus(cli);
  if (!status.connected) throw notConnectedError(status.backendState);
  if (!status.dnsName) {
    throw new EctoError("tailscale_no_dns_name", "Tailscale has no DNS name for this node yet.", {
      fix: "tailscale status",
    });
  }
  const host = status.dnsName;
  let config = options.config ?? await getServeConfig(cli);
  let choice = choosePort(config, status, options.target, options.preferredPort);
  const inPlace = () => {
    if (!choice.existing || !config.allowFunnel.has(hostPort(host, choice.port))) return undefined;
    const route = findEctoRoutes(config, host, options.target).find((r) => r.port === choice.port)!;
    return {
      ...route,
      changed: false,
      detail: `Funnel already serves ${route.url}`,
      others: othersThan(config, host, options.target, choice.port),
    };
  };
  let found = inPlace();
  if (!found && options.config) {
    // A write decides on what Tailscale holds now, not on what this command read earlier.
    config = await getServeConfig(cli);
    choice = choosePort(config, status, options.target, options.preferredPort);
    found = inPlace();
  }
  if (found) return found;

  let enableRetried = false;
  return writeRoute(cli, {
    mode: "public",
    host,
    target: options.target,
    plan: choice,
    config,
    replan: (fresh) => choosePort(fresh, status, options.target, options.preferredPort),
    run: (port) =>
      runFunnel(cli, port, { ...options, httpsOff: !status.httpsCapable }, enableDeadline, events),
    async confirm({ plan, after, route, prompt, result }) {
      if (route?.funnel) {
        return {
          ...route,
          changed: true,
          detail: `Funnel now serves ${route.url}`,
          others: othersThan(after, host, options.target, plan.port),
        };
      }
      if (prompt) {
        // "Don't wait" enablement: the CLI exited 0 having changed nothing.
        if (!enableRetried && Date.now() < enableDeadline) {
          status = await waitForFunnelCaps(cli, enableDeadline, options.pollIntervalMs ?? 1000);
          if (status.funnelAllowed && status.httpsCapable) {
            enableRetried = true;
            return "again";
          }
        }
        throw enablePromptError(prompt, result.stdout);
      }
      throw lostWriteError({
        stdout: result.stdout,
        config: after,
        platform: cli.platform,
        port: plan.port,
      });
    },
    refused: (run, prompt) =>
      run.promptUrl || (prompt && run.result.killed)
        ? enablePromptError(prompt ?? { feature: "funnel", message: "", url: run.promptUrl! })
        : undefined,
  });
}

async function runFunnel(
  cli: TailscaleCli,
  port: number,
  options: EnableFunnelOptions & { httpsOff: boolean },
  enableDeadline: number,
  events: EventSink,
): Promise<RouteRun> {
  let promptUrl: string | undefined;
  let waitTimer: ReturnType<typeof setTimeout> | undefined;
  const child = spawn(cli.$, [cli.path, ...funnelArgs(port, options.target)], {
    env: childEnv(cli),
    onStdout: (text) => {
      if (promptUrl) return;
      const prompt = parseEnablePrompt(text);
      if (!prompt?.url) return;
      promptUrl = prompt.url;
      events({
        kind: "action",
        step: STEP,
        action: prompt.feature === "funnel" ? "enable-funnel" : "enable-https",
        url: prompt.url,
        // With HTTPS off as well, the funnel consent link turns on both.
        message: prompt.feature === "funnel"
          ? (options.httpsOff
            ? "Open this link (as a tailnet admin) to enable HTTPS certificates and Funnel for this computer."
            : "Open this link (as a tailnet admin) to enable Funnel for this computer.")
          : "Open this link (as a tailnet admin) to enable HTTPS certificates.",
      });
      const left = Math.max(0, enableDeadline - Date.now());
      if (left > 0) {
        events({
          kind: "progress",
          step: STEP,
          message: "Waiting for Funnel to be enabled in the admin console.",
          limitMs: left,
        });
      }
      // The CLI may block until Funnel is enabled: give it the enable budget.
      waitTimer = setTimeout(() => child.kill(), left);
    },
  });
  const backstop = setTimeout(() => {
    if (!promptUrl) child.kill();
  }, options.commandTimeoutMs ?? 60_000);
  try {
    const result = await child.done;
    // Exited on its own after the prompt: it either finished after enablement or did nothing.
    if (!result.killed) return { result };
    return promptUrl ? { result, promptUrl } : { result };
  } finally {
    clearTimeout(backstop);
    if (waitTimer !== undefined) clearTimeout(waitTimer);
  }
}

async function waitForFunnelCaps(
  cli: TailscaleCli,
  deadline: number,
  pollMs: number,
): Promise<TailscaleStatus> {
  let status: TailscaleStatus | undefined;
  const ready = async () => {
    status = await getStatus(cli);
    return (status.funnelAllowed && status.httpsCapable) || undefined;
  };
  await poll(ready, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: pollMs });
  return status!; // poll checks at least once
}

/** Options for {@link removeFunnel}. */
export interface RemoveFunnelOptions {
  /** ecto's edge address, exactly as stored, e.g. `http://127.0.0.1:18795`. */
  target: string;
  /** Only this port (default: every ecto route on this node). */
  port?: number;
  /** Every ecto route but the one on this port (a switch's leftovers). */
  exceptPort?: number;
  /** Progress events; a `warn` note when other routes changed meanwhile. */
  events?: EventSink;
}

/** What {@link removeFunnel} did. */
export interface RemoveFunnelResult {
  /** ecto's routes that were removed. */
  removed: EctoRoute[];
  /** One sentence: what was found or done. */
  detail: string;
  /** True when every other route was left exactly as it was. */
  othersUnchanged: boolean;
}

/**
 * A copy of `config` without ecto's `/` handler on `route` (and, when it was
 * the last mount, without that port's `TCP`, `Web` and `AllowFunnel`
 * entries): what `serve --https=PORT --set-path=/ off` should leave.
 */
export function withoutRoute(config: ServeConfig, route: EctoRoute): ServeConfig {
  const web = new Map([...config.web].map(([k, m]) => [k, new Map(m)]));
  const tcp = new Map(config.tcp);
  const allowFunnel = new Set(config.allowFunnel);
  const mounts = web.get(route.hostPort);
  mounts?.delete("/");
  if (!mounts || mounts.size === 0) {
    web.delete(route.hostPort);
    tcp.delete(route.port);
    allowFunnel.delete(route.hostPort);
  }
  return { ...config, tcp, web, allowFunnel };
}

/** A stable text form of the background part of a serve config (foreground sessions excluded). */
export function describeBackground(config: ServeConfig): string {
  const sortObj = <T>(entries: Iterable<[string | number, T]>) =>
    [...entries].map(([k, v]) => [String(k), v] as const).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0
    );
  return JSON.stringify({
    tcp: sortObj(config.tcp),
    web: sortObj(config.web).map(([k, m]) => [k, sortObj(m)]),
    allowFunnel: [...config.allowFunnel].sort(),
    services: config.hasServices,
  });
}

/**
 * Removes ecto's own route(s) with `tailscale serve --https=PORT
 * --set-path=/ off` (tolerating "handler does not exist"), then reads the
 * config back: throws `funnel_remove_failed` if ecto's route is still there,
 * and reports (`othersUnchanged`, a `warn` note) whether anything else moved.
 */
export async function removeFunnel(
  cli: TailscaleCli,
  options: RemoveFunnelOptions,
): Promise<RemoveFunnelResult> {
  const events = options.events ?? ignoreEvents;
  const step = "tailscale.funnel";
  const status = await getStatus(cli);
  const host = status.dnsName;
  const before = await getServeConfig(cli);
  const routes = findEctoRoutes(before, host, options.target).filter((r) =>
    (options.port === undefined || r.port === options.port) && r.port !== options.exceptPort
  );
  if (routes.length === 0) {
    return { removed: [], othersUnchanged: true, detail: "No ecto route to remove." };
  }
  let expected = before;
  for (const route of routes) {
    let result = await runOff(cli, route.port);
    if (result.code !== 0 && isEtagRace(result.stderr)) result = await runOff(cli, route.port);
    if (result.code !== 0 && !/handler does not exist/.test(result.stderr)) {
      throw classifyServeFailure(result.stderr, cli.platform, result.stdout) ??
        toolError("serve off", result);
    }
    expected = withoutRoute(expected, route);
  }
  const after = await getServeConfig(cli);
  const left = findEctoRoutes(after, host, options.target).filter((r) =>
    routes.some((g) => g.hostPort === r.hostPort)
  );
  if (left.length > 0) {
    throw new EctoError(
      "funnel_remove_failed",
      `ecto's route on port ${left[0].port} is still in the serve config.`,
      { fix: `tailscale serve --https=${left[0].port} --set-path=/ off` },
    );
  }
  const othersUnchanged = describeBackground(expected) === describeBackground(after);
  if (!othersUnchanged) {
    events({
      kind: "note",
      step,
      level: "warn",
      message: "Other Serve/Funnel routes changed while ecto removed its own (another program?).",
    });
  }
  return {
    removed: routes,
    othersUnchanged,
    detail: `Removed ecto's route ${
      routes.map((r) => `${r.url} (${r.funnel ? "public, Funnel" : "tailnet only, Serve"})`)
        .join(", ")
    }.`,
  };
}

function runOff(cli: TailscaleCli, port: number): Promise<ExecResult> {
  return spawn(cli.$, [cli.path, ...serveOffArgs(port)], {
    env: childEnv(cli),
    timeoutMs: cli.commandTimeoutMs ?? 30_000,
  }).done;
}
