/**
 * What connect writes down: the connection record once the edge is published,
 * and the credentials file once the URL and key are proven.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { updateConnectionRecord } from "../core/connection_record.ts";
import { readCredentials, writeCredentials } from "../core/credentials.ts";
import type { PublishMode, TailscaleNode } from "../core/layer_types.ts";
import { baseUrl } from "../proof/mod.ts";
import type { Published } from "./connect_edge.ts";
import type { TakeoverPlan } from "./takeover.ts";

/**
 * Records where ecto is published (and the take-over, when there was one), adding what the user
 * must know about the URL to `notes`.
 */
export async function recordPublished(
  ctx: EctoContext,
  args: {
    node: TailscaleNode;
    published: Published;
    mode: PublishMode;
    plan: TakeoverPlan;
    notes: string[];
  },
): Promise<void> {
  const { node, published: { edge, route }, mode, plan, notes } = args;
  const now = new Date(ctx.now()).toISOString();
  const record = await updateConnectionRecord(ctx.paths, {
    dnsName: node.dnsName,
    funnelPort: route.port,
    funnelTarget: edge.target,
    mode,
    updated: now,
    ...(plan.needed
      ? {
        takeover: {
          at: now,
          removedRoutes: plan.routes.length + plan.openclawClaims.length,
          tailscaleModeOff: plan.tailscaleOff,
          credentialRotated: plan.rotateCredential,
        },
      }
      : {}),
  });
  if (plan.needed && plan.publishPort !== undefined && route.port !== plan.publishPort) {
    notes.push(
      `The old URL's port ${plan.publishPort} could not be reused; the URL is now on port ${route.port}.`,
    );
  }
  if (!record.created) await updateConnectionRecord(ctx.paths, { created: now });
  if (mode === "private") {
    notes.push(
      `Private mode: ${
        baseUrl(node.dnsName, route.port)
      } works only on devices in your tailnet (Tailscale Serve, no Funnel); \`ecto connect\` makes it public.`,
    );
  }
}

/** What the credentials file holds (the proven URL and key). */
export interface ProvenCredentials {
  token: string;
  url: string;
  port: number;
  model: string;
  mode: PublishMode;
}

/**
 * Writes the proven URL and key to the file the old skill's scripts read, unless it already says
 * exactly that; its `created` time stays while the key does.
 */
export async function writeProvenCredentials(
  ctx: EctoContext,
  credentialsFile: string,
  proven: ProvenCredentials,
): Promise<{ changed?: boolean; detail: string }> {
  const { token, url, port, model, mode } = proven;
  const previous = await readCredentials(credentialsFile).catch(() => undefined);
  const same = previous?.token === token && previous.url === url &&
    previous.port === port && previous.model === model &&
    (previous.mode ?? "public") === mode;
  if (same) return { detail: `Credentials unchanged in ${credentialsFile}.` };
  const keepCreated = previous?.token === token && previous.created !== "";
  await writeCredentials(credentialsFile, {
    token,
    url,
    port,
    model,
    mode,
    created: keepCreated ? new Date(previous.created) : new Date(ctx.now()),
  });
  return {
    changed: true,
    detail: `Credentials written to ${credentialsFile} (mode 0600).`,
  };
}
