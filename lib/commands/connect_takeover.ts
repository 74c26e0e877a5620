/**
 * Connect's part of a take-over before the gateway is configured: the
 * consent (and the refusal on `--restart`), the old credential kept as the
 * `legacy` key, and the removal of the routes straight to the gateway.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import type { Layers } from "../core/layer_types.ts";
import { ActionRequiredError } from "../core/errors.ts";
import {
  adoptLegacyKey,
  consentToTakeover,
  type TakeoverInspection,
  type TakeoverPlan,
} from "./takeover.ts";
import type { ConnectOptions } from "./connect_options.ts";
import type { Step } from "./connect_steps.ts";

/**
 * The take-over's consent, and the refusals that come before any change:
 * `--restart` does not touch Tailscale, so it cannot take over.
 */
export async function takeoverConsent(
  ctx: EctoContext,
  plan: TakeoverPlan,
  options: ConnectOptions,
): Promise<void> {
  if (!plan.needed) return;
  if (options.restart) {
    throw new ActionRequiredError(
      "takeover_needs_connect",
      "The gateway is published directly; --restart leaves Tailscale alone and cannot take that over.",
      { fix: "ecto connect --yes" },
    );
  }
  await consentToTakeover(ctx.consent, plan);
}

/**
 * Keeps the gateway's old credential as the `legacy` key when it is rotated (or retires it on
 * `--regenerate-token`), adding what the user must know to `notes`. Returns the key's id.
 */
export async function keepOldCredential(
  ctx: EctoContext,
  takeover: TakeoverInspection,
  args: { options: ConnectOptions; notes: string[] },
): Promise<string | undefined> {
  const { plan } = takeover;
  const { options, notes } = args;
  if (!plan.rotateCredential && !options.regenerateToken) return undefined;
  // Before the gateway stops accepting it, so an interrupted run cannot lose it.
  const legacy = await adoptLegacyKey(ctx, {
    secret: plan.rotateCredential ? takeover.credential : undefined,
    retire: options.regenerateToken,
  });
  if (legacy.note) notes.push(legacy.note);
  if (plan.rotateCredential && takeover.credential === undefined) {
    notes.push(
      "ecto could not read the gateway's old credential, so clients that used it must switch to the new key.",
    );
  }
  return legacy.id;
}

/** Removes the routes that publish the gateway itself, when the plan found any. */
export async function removeDirectRoutes(step: Step, l: Layers, plan: TakeoverPlan): Promise<void> {
  if (plan.routes.length === 0) return;
  await step(
    "takeover.routes",
    "Removing the routes straight to the gateway",
    (c) =>
      l.tailscale.removeGatewayRoutes(c, {
        routes: plan.routes,
        gatewayPorts: plan.gatewayPorts,
      }),
  );
}
