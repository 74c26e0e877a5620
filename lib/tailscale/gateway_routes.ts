/**
 * Taking the gateway off Serve/Funnel: removes exactly the background
 * handlers whose target is the gateway (one `tailscale serve … off` per
 * handler, never `reset`), then reads the config back and checks that they
 * are gone and every other handler is still there. Foreground sessions
 * cannot be removed from the CLI; their process must end (OpenClaw's own
 * claim ends when `gateway.tailscale.mode` is off and the gateway restarts).
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import { type EventSink, ignoreEvents } from "../core/events.ts";
import { spawn } from "./_exec.ts";
import { classifyServeFailure, isEtagRace } from "./diagnose.ts";
import { childEnv, getServeConfig, type TailscaleCli, toolError } from "./runner.ts";
import {
  describeExposure,
  exposureOffArgs,
  findGatewayExposures,
  type GatewayExposure,
} from "./exposures.ts";
import type { ServeConfig } from "./serve_config.ts";

/** Every background handler as one comparable line each (foreground sessions excluded). Pure. */
export function backgroundHandlers(config: ServeConfig): Set<string> {
  const out = new Set<string>();
  for (const [key, mounts] of config.web) {
    for (const [mount, h] of mounts) {
      out.add(`web ${key} ${mount} ${JSON.stringify(h)} funnel=${config.allowFunnel.has(key)}`);
    }
  }
  for (const [port, entry] of config.tcp) {
    if (entry.tcpForward !== undefined) out.add(`tcp ${port} ${JSON.stringify(entry)}`);
  }
  return out;
}

/** The line {@link backgroundHandlers} gives an exposure. */
function lineOf(config: ServeConfig, e: GatewayExposure): string | undefined {
  if (e.kind === "tcp") {
    const entry = config.tcp.get(e.port);
    return entry ? `tcp ${e.port} ${JSON.stringify(entry)}` : undefined;
  }
  const h = config.web.get(e.hostPort!)?.get(e.mount!);
  return h
    ? `web ${e.hostPort} ${e.mount} ${JSON.stringify(h)} funnel=${
      config.allowFunnel.has(e.hostPort!)
    }`
    : undefined;
}

/** What {@link removeGatewayExposures} did. */
export interface RemoveExposuresResult {
  /** The handlers removed. */
  removed: GatewayExposure[];
  /** True when every other background handler was left as it was. */
  othersUnchanged: boolean;
}

/**
 * Removes the background `exposures` (from {@link findGatewayExposures} on
 * the current config) and verifies by reading back.
 *
 * @throws {EctoError} `gateway_route_remove_failed` when one is still there.
 */
export async function removeGatewayExposures(
  cli: TailscaleCli,
  options: { exposures: GatewayExposure[]; gatewayPorts: number[]; events?: EventSink },
): Promise<RemoveExposuresResult> {
  const events = options.events ?? ignoreEvents;
  const targets = options.exposures.filter((e) => !e.foreground);
  if (targets.length === 0) return { removed: [], othersUnchanged: true };
  const before = await getServeConfig(cli);
  const removedLines = new Set(
    targets.map((e) => lineOf(before, e)).filter((l) => l !== undefined),
  );
  for (const exposure of targets) {
    const args = exposureOffArgs(exposure);
    const run = () =>
      spawn(cli.$, [cli.path, ...args], {
        env: childEnv(cli),
        timeoutMs: cli.commandTimeoutMs ?? 30_000,
      }).done;
    let result = await run();
    if (result.code !== 0 && isEtagRace(result.stderr)) result = await run();
    if (
      result.code !== 0 &&
      !/handler does not exist|serve config does not exist/.test(result.stderr)
    ) {
      throw classifyServeFailure(result.stderr, cli.platform, result.stdout) ??
        toolError("serve off", result);
    }
    events({
      kind: "progress",
      step: "takeover.routes",
      message: `removed ${describeExposure(exposure)}`,
    });
  }
  const after = await getServeConfig(cli);
  const left = findGatewayExposures(after, options.gatewayPorts).filter((e) => !e.foreground);
  if (left.length > 0) {
    throw new EctoError(
      "gateway_route_remove_failed",
      `A route straight to the gateway is still in the serve config: ${describeExposure(left[0])}.`,
      { fix: `tailscale ${exposureOffArgs(left[0]).join(" ")}` },
    );
  }
  const expected = [...backgroundHandlers(before)].filter((l) => !removedLines.has(l));
  const now = backgroundHandlers(after);
  const othersUnchanged = expected.every((l) => now.has(l));
  if (!othersUnchanged) {
    events({
      kind: "note",
      step: "takeover.routes",
      level: "warn",
      message:
        "Other Serve/Funnel routes changed while ecto removed the gateway's (another program?).",
    });
  }
  return { removed: targets, othersUnchanged };
}
