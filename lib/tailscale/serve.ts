/**
 * ecto's private route: the edge on the tailnet only, with `tailscale serve
 * --bg --yes --https=PORT TARGET` (Serve, never Funnel). Serve needs HTTPS
 * certificates and MagicDNS but no Funnel permission. On a port where
 * ecto's route is public, the same write turns Funnel off for it (the CLI
 * drops `AllowFunnel`, §5.6 of the reference). Never runs on a port with a
 * handler ecto did not create; reads the config back after the write.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import { type EventSink, ignoreEvents } from "../core/events.ts";
import { type ExecResult, spawn } from "./_exec.ts";
import { enablePromptError, notConnectedError, parseEnablePrompt } from "./diagnose.ts";
import { ActionRequiredError } from "../core/errors.ts";
import { childEnv, getServeConfig, getStatus, type TailscaleCli } from "./runner.ts";
import { type EctoRoute, findEctoRoutes, type ServeConfig } from "./serve_config.ts";
import type { TailscaleStatus } from "./status.ts";
import { writeRoute } from "./write_route.ts";
import { describeBackground, withoutRoute } from "./funnel.ts";
import { lostWriteError } from "./lost_write.ts";
import { planPublish, type PublishPlan } from "./route_mode.ts";
import { ADMIN_DNS_URL } from "./prerequisites.ts";

/** The argv of ecto's private write: flags first, target last. */
export function serveArgs(port: number, target: string): string[] {
  return ["serve", "--bg", "--yes", `--https=${port}`, target];
}

/** Options for {@link enableServe}. */
export interface EnableServeOptions {
  /** ecto's edge address, exactly as it will be stored, e.g. `http://127.0.0.1:18795`. */
  target: string;
  /** A port to use instead of ecto's current or the first free one (must be free). */
  preferredPort?: number | undefined;
  /** Bound on one `tailscale serve` run (default 60 s). */
  commandTimeoutMs?: number;
  /** Progress, `action` (`enable-https`) and `warn` notes. */
  events?: EventSink;
  /** The status this command already read (used instead of a first `status --json`). */
  status?: TailscaleStatus;
  /**
   * The serve config this command already read: enough to find the route already in place
   * (then nothing runs); before a write the config is read afresh all the same.
   */
  config?: ServeConfig;
}

/** ecto's private route after {@link enableServe}. */
export interface ServeRoute extends EctoRoute {
  /** False when the route was already there, tailnet-only, and nothing ran. */
  changed: boolean;
  /** One sentence: what was found or done. */
  detail: string;
  /** The route was public and is now tailnet-only (same port, same URL). */
  switched: boolean;
  /** ecto's routes on other ports in the config last read (a switch's leftovers to remove). */
  others: EctoRoute[];
}

/**
 * Publishes `target` on the tailnet only, on ecto's current port, else
 * `preferredPort`, else the first free of 443, 8443, 10000, and confirms by
 * reading the config back (ecto's handler there, no `AllowFunnel`). Throws
 * `ActionRequiredError` `https_not_enabled` (with the CLI's enable link),
 * `serve_port_busy`, `serve_ports_busy`, the daemon/access errors of
 * {@link classifyServeFailure}; `EctoError` `serve_not_configured` when the
 * CLI exits 0 without the route in place.
 */
export async function enableServe(
  cli: TailscaleCli,
  options: EnableServeOptions,
): Promise<ServeRoute> {
  const events = options.events ?? ignoreEvents;
  const status = options.status ?? await getStatus(cli);
  if (!status.connected) throw notConnectedError(status.backendState);
  if (!status.dnsName) {
    throw new EctoError("tailscale_no_dns_name", "Tailscale has no DNS name for this node yet.", {
      fix: "tailscale status",
    });
  }
  const host = status.dnsName;
  const planOn = (config: ServeConfig) =>
    planPublish(config, status, options.target, {
      mode: "private",
      preferred: options.preferredPort,
    });
  // The command's earlier read decides only "already in place, nothing to run"; a write, or
  // a refusal (a port now busy), decides on what Tailscale holds now.
  const earlier = options.config && inPlaceOn(options.config, planOn);
  const config = earlier ? options.config! : await getServeConfig(cli);
  const plan = earlier || planOn(config);
  if (plan.inPlace) {
    const port = plan.port;
    const route = findEctoRoutes(config, host, options.target).find((r) => r.port === port)!;
    return {
      ...route,
      changed: false,
      switched: false,
      detail: tailnetDetail(route, false),
      others: plan.remove,
    };
  }
  return writeRoute(cli, {
    mode: "private",
    host,
    target: options.target,
    plan,
    config,
    replan: planOn,
    run: async (port) => ({ result: await runServe(cli, port, options) }),
    confirm({ plan, before, after, route, prompt, result }) {
      if (route && !route.funnel) {
        warnIfOthersMoved(before, after, route, events);
        return Promise.resolve({
          ...route,
          changed: true,
          switched: plan.switches,
          detail: tailnetDetail(route, plan.switches),
          others: findEctoRoutes(after, host, options.target).filter((r) => r.port !== plan.port),
        });
      }
      if (prompt) throw httpsError(prompt, result.stdout);
      if (route?.funnel) {
        throw new EctoError(
          "serve_funnel_still_on",
          `tailscale serve exited 0 but Funnel is still on for port ${plan.port}: the route is public.`,
          { fix: `tailscale serve --https=${plan.port} --set-path=/ off`, cause: result.stdout },
        );
      }
      const lost = lostWriteError({
        stdout: result.stdout,
        config: after,
        platform: cli.platform,
        port: plan.port,
      });
      throw lost.code === "funnel_not_configured"
        ? new EctoError(
          "serve_not_configured",
          `tailscale serve exited 0 but ecto's route on port ${plan.port} is not in the serve config.`,
          { fix: "tailscale serve status", cause: result.stdout },
        )
        : lost;
    },
    refused: (run, prompt) => prompt ? httpsError(prompt, run.result.stdout) : undefined,
    failed: (result) =>
      /error enabling https feature/.test(result.stderr)
        ? new ActionRequiredError(
          "https_not_enabled",
          "HTTPS certificates are off for your tailnet and Tailscale offered no link to turn them on; a tailnet admin must enable them in the admin console.",
          {
            url: ADMIN_DNS_URL,
            fix:
              `Enable HTTPS Certificates at ${ADMIN_DNS_URL}, then run ecto connect --private again.`,
            cause: result.stderr,
          },
        )
        : undefined,
  });
}

/** The plan on `config` when ecto's route is in place there; else (or when it throws) none. */
function inPlaceOn(
  config: ServeConfig,
  planOn: (config: ServeConfig) => PublishPlan,
): PublishPlan | undefined {
  try {
    const plan = planOn(config);
    return plan.inPlace ? plan : undefined;
  } catch {
    return undefined;
  }
}

function tailnetDetail(route: EctoRoute, switched: boolean): string {
  const url = route.url.replace(/\/$/, "");
  return switched
    ? `Funnel is off for ${url}: it now works only inside your tailnet (Serve).`
    : `Serve publishes ${url} inside your tailnet only (no Funnel).`;
}

function httpsError(prompt: NonNullable<ReturnType<typeof parseEnablePrompt>>, cause: string) {
  // Serve asks only for HTTPS certificates: whatever the text, this is the HTTPS consent.
  return enablePromptError({ ...prompt, feature: "https" }, cause);
}

/** Runs the write; an enable prompt ends it at once (ecto relays the link, never blocks). */
async function runServe(
  cli: TailscaleCli,
  port: number,
  options: EnableServeOptions,
): Promise<ExecResult> {
  let prompted = false;
  const child = spawn(cli.$, [cli.path, ...serveArgs(port, options.target)], {
    env: childEnv(cli),
    timeoutMs: options.commandTimeoutMs ?? 60_000,
    onStdout: (text) => {
      if (prompted || !parseEnablePrompt(text)?.url) return;
      prompted = true;
      child.kill();
    },
  });
  const result = await child.done;
  return prompted ? { ...result, killed: false } : result;
}

/** A `warn` note when a port other than ecto's changed across the write (another program?). */
function warnIfOthersMoved(
  before: Parameters<typeof describeBackground>[0],
  after: Parameters<typeof describeBackground>[0],
  route: EctoRoute,
  events: EventSink,
): void {
  const others = (c: typeof before) => describeBackground(withoutRoute(c, route));
  if (others(before) === others(after)) return;
  events({
    kind: "note",
    step: "serve.route",
    level: "warn",
    message: "Other Serve/Funnel routes changed while ecto wrote its own (another program?).",
  });
}
