/**
 * Connect's middle: the gateway configured, the edge started on it and
 * published (Funnel, or Serve in private mode). When configuring the gateway
 * changes nothing the edge depends on, the edge starts and is published while
 * the gateway applies its patch.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { updateConnectionRecord } from "../core/connection_record.ts";
import type {
  EdgeRunning,
  GatewayConfigured,
  Layers,
  PublishedRoute,
  PublishMode,
  TailscaleNode,
} from "../core/layer_types.ts";
import { EctoError } from "../core/errors.ts";
import {
  syncGatewayCredentialCopy,
  type TakeoverInspection,
  type TakeoverPlan,
  verifyNoGatewayRoute,
} from "./takeover.ts";
import type { ConnectOptions } from "./connect_options.ts";
import type { Step } from "./connect_steps.ts";

/** What {@link configureAndPublish} needs from the run so far. */
export interface PublishArgs {
  step: Step;
  options: ConnectOptions;
  mode: PublishMode;
  node: TailscaleNode;
  takeover: TakeoverInspection;
}

/** The configured gateway, the edge running on it and the route that publishes the edge. */
export interface Published {
  gateway: GatewayConfigured;
  edge: EdgeRunning;
  route: PublishedRoute;
}

/**
 * Configures the gateway, starts the edge and publishes it, recording each part in the
 * connection record as it is done.
 */
export async function configureAndPublish(
  ctx: EctoContext,
  l: Layers,
  args: PublishArgs,
): Promise<Published> {
  const { step, options, mode, node, takeover } = args;
  const plan = takeover.plan;
  const priv = mode === "private";
  const configure = () =>
    step(
      "openclaw.configure",
      "Configuring the OpenClaw gateway",
      (c) =>
        l.openclaw.configure(c, {
          keepBind: options.keepBind,
          restart: options.restart,
          rotateCredential: plan.rotateCredential,
          tailscaleOff: plan.tailscaleOff,
        }),
    );
  const startEdge = (upstream: { url: string; configPath: string }) =>
    step(
      "edge.run",
      "Starting the edge",
      (c) =>
        l.edge.ensureRunning(c, {
          gatewayUrl: upstream.url,
          configPath: upstream.configPath,
          restart: options.restart,
        }),
    );
  const publish = (edge: EdgeRunning) =>
    step(
      priv ? "serve.route" : "funnel.route",
      priv
        ? "Publishing the edge on your tailnet only (Serve)"
        : "Publishing the edge through Funnel",
      (c) => publishEdge(c, l, { node, target: edge.target, options: { ...options, mode }, plan }),
    );

  let gateway: GatewayConfigured;
  let edge: EdgeRunning;
  let route: PublishedRoute;
  const early = takeover.edgeUpstream;
  if (early) {
    // Configuring the gateway changes nothing the edge depends on (the take-over inspection's
    // dry run says so): the edge starts and is published while the gateway applies its patch.
    const configuring = configure();
    const edgeRoute = (async () => {
      const started = await startEdge(early);
      return { edge: started, route: await publish(started) };
    })();
    const [configured, published] = await Promise.allSettled([configuring, edgeRoute]);
    if (configured.status === "rejected") throw configured.reason;
    if (published.status === "rejected") throw published.reason;
    gateway = configured.value;
    ({ edge, route } = published.value);
    await syncGatewayCredentialCopy(ctx, gateway.edgeNeedsCopy);
    if (gateway.url !== early.url || gateway.configPath !== early.configPath) {
      edge = await startEdge(gateway); // the dry run was wrong: the edge follows the gateway
    }
    await updateConnectionRecord(ctx.paths, {
      gatewayPort: gateway.port,
      edgeListen: edge.listen,
      supervisor: edge.supervisor,
    });
  } else {
    gateway = await configure();
    await updateConnectionRecord(ctx.paths, { gatewayPort: gateway.port });
    if (plan.needed) {
      await step(
        "takeover.verify",
        "Checking that nothing publishes the gateway any more",
        () => verifyNoGatewayRoute(ctx, l, { port: gateway.port }),
      );
    }
    await syncGatewayCredentialCopy(ctx, gateway.edgeNeedsCopy);
    edge = await startEdge(gateway);
    await updateConnectionRecord(ctx.paths, {
      edgeListen: edge.listen,
      supervisor: edge.supervisor,
    });
    route = await publish(edge);
  }
  return { gateway, edge, route };
}

/**
 * Publishes the edge on `--funnel-port`, else on the port the old direct route used (so the
 * URL does not change), else ecto's usual choice. When the old port still carries someone
 * else's handler, ecto leaves it alone and takes the first free port instead.
 */
async function publishEdge(
  ctx: EctoContext,
  l: Layers,
  args: { node: TailscaleNode; target: string; options: ConnectOptions; plan: TakeoverPlan },
): Promise<PublishedRoute> {
  const { options, plan } = args;
  const port = options.funnelPort ?? (plan.needed ? plan.publishPort : undefined);
  try {
    return await l.tailscale.publish(ctx, args.node, {
      target: args.target,
      ...(port === undefined ? {} : { port }),
      mode: options.mode ?? "public",
    });
  } catch (error) {
    const busy = error instanceof EctoError &&
      ["funnel_port_busy", "funnel_port_not_allowed", "serve_port_busy"].includes(error.code);
    if (!busy || options.funnelPort !== undefined || port === undefined) throw error;
    return await l.tailscale.publish(ctx, args.node, {
      target: args.target,
      mode: options.mode ?? "public",
    });
  }
}
