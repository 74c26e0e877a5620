/**
 * Publishing and unpublishing ecto's route for the layer: the write in the
 * mode asked (Funnel or Serve) on the command's reads, then the switch's
 * other half (ecto's routes on other ports go, and only those); removal that
 * tolerates a stopped daemon.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { EctoError } from "../core/errors.ts";
import type { PublishedRoute, PublishMode, StepResult } from "../core/layer_types.ts";
import { enableFunnel, removeFunnel } from "./funnel.ts";
import type { TailscaleProbe } from "./probe.ts";
import type { TailscaleCli } from "./runner.ts";
import { enableServe } from "./serve.ts";

/** Options for {@link publishRoute}, as the layer's `publish` gets them. */
export interface PublishRouteOptions {
  /** ecto's edge address. */
  target: string;
  /** The port asked for, if any. */
  port?: number;
  /** `public` (Funnel, default) or `private` (Serve). */
  mode?: PublishMode;
}

/**
 * Writes ecto's route in the mode asked, on the probe's status and serve
 * config, then removes ecto's routes on other ports; the probe forgets the
 * serve config after every write.
 */
export async function publishRoute(
  ctx: EctoContext,
  handle: TailscaleCli,
  reads: TailscaleProbe,
  options: PublishRouteOptions,
): Promise<PublishedRoute> {
  let route;
  try {
    const [status, config] = await Promise.all([reads.status(), reads.serveConfig()]);
    if (options.mode === "private") {
      route = await enableServe(handle, {
        target: options.target,
        preferredPort: options.port,
        events: ctx.events,
        status,
        config,
      });
    } else {
      route = await enableFunnel(handle, {
        target: options.target,
        ...(options.port === undefined ? {} : { preferredPort: options.port }),
        events: ctx.events,
        status,
        config,
      });
    }
  } finally {
    reads.forget("serve");
  }
  // The switch's other half: ecto's routes on other ports (either mode) go, and only those.
  if (route.others.length === 0) {
    return { port: route.port, changed: route.changed, detail: route.detail };
  }
  const left = await removeFunnel(handle, {
    target: options.target,
    exceptPort: route.port,
    events: ctx.events,
  });
  reads.forget("serve");
  if (left.removed.length === 0) {
    return { port: route.port, changed: route.changed, detail: route.detail };
  }
  return {
    port: route.port,
    changed: true,
    detail: `${route.detail} ${left.detail}`,
  };
}

/**
 * Removes ecto's route(s) to `target` (only on `port` when given). A stopped
 * daemon leaves the route for the next disconnect, with a `warn` note.
 */
export async function unpublishRoute(
  ctx: EctoContext,
  handle: TailscaleCli,
  reads: TailscaleProbe,
  options: { target: string; port?: number | undefined },
): Promise<StepResult> {
  const target = options.target;
  try {
    const result = await removeFunnel(handle, {
      target,
      ...(options.port === undefined ? {} : { port: options.port }),
      events: ctx.events,
    }).finally(() => reads.forget("serve"));
    return { changed: result.removed.length > 0, detail: result.detail };
  } catch (error) {
    if (error instanceof EctoError && error.code === "tailscale_not_running") {
      ctx.events({
        kind: "note",
        step: "funnel.route",
        level: "warn",
        message: "Tailscale is not running, so ecto's route could not be removed; " +
          "run ecto disconnect again once it runs.",
      });
      return {
        detail: "Tailscale is not running: the route was left for the next disconnect.",
      };
    }
    throw error;
  }
}
