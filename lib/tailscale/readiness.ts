/**
 * Whether this node can carry ecto's route in a mode, from its status: public
 * needs MagicDNS, HTTPS certificates, Funnel permission and 443 in the
 * funnel-ports policy; private (Serve) only MagicDNS and HTTPS certificates.
 * A missing capability runs the CLI's own consent flow for its enable link.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { ActionRequiredError } from "../core/errors.ts";
import type { PublishMode, StepResult } from "../core/layer_types.ts";
import { edgeTarget } from "../core/addresses.ts";
import { enableFunnel } from "./funnel.ts";
import {
  ADMIN_DNS_URL,
  ADMIN_POLICY_URL,
  funnelPort443Refused,
  funnelStatusProblem,
  magicDnsOffForPrivate,
} from "./prerequisites.ts";
import type { TailscaleCli } from "./runner.ts";
import { allowedFunnelPorts } from "./serve_config.ts";
import { enableServe } from "./serve.ts";
import type { TailscaleStatus } from "./status.ts";

/**
 * Checks the node is ready for ecto's route in `mode` (`changed` when the
 * consent flow just enabled something); `handle` is asked for only when a
 * command must run.
 */
export function checkRouteReady(
  ctx: EctoContext,
  handle: () => Promise<TailscaleCli>,
  status: TailscaleStatus,
  mode: PublishMode | undefined,
): Promise<StepResult> {
  return mode === "private"
    ? checkServePrerequisites(ctx, handle, status)
    : checkPrerequisites(ctx, handle, status);
}

/**
 * Private mode needs MagicDNS and HTTPS certificates (for the https URL), not
 * Funnel: no funnel attribute, no funnel-ports policy. With HTTPS off, the
 * Serve consent flow gives the link (exit 3).
 */
async function checkServePrerequisites(
  ctx: EctoContext,
  handle: () => Promise<TailscaleCli>,
  status: TailscaleStatus,
): Promise<StepResult> {
  if (!status.magicDnsEnabled) {
    throw magicDnsOffForPrivate();
  }
  if (!status.httpsCapable) {
    await enableServe(await handle(), {
      target: edgeTarget(ctx),
      events: ctx.events,
    });
    return { changed: true, detail: "HTTPS certificates were just enabled for this node." };
  }
  return { detail: "MagicDNS and HTTPS certificates are on (Serve needs no Funnel permission)." };
}

async function checkPrerequisites(
  ctx: EctoContext,
  handle: () => Promise<TailscaleCli>,
  status: TailscaleStatus,
): Promise<StepResult> {
  if (!status.magicDnsEnabled) throw funnelStatusProblem(status);
  if (!status.httpsCapable || !status.funnelAllowed) {
    // Ask the CLI's own consent flow for the node's enable URL: with HTTPS off too it is one
    // link that turns on HTTPS certificates and Funnel together. When a capability is missing
    // the CLI prints the URL and changes nothing; enableFunnel turns that into exit 3.
    try {
      await enableFunnel(await handle(), {
        target: edgeTarget(ctx),
        events: ctx.events,
      });
    } catch (error) {
      throw consentFlowError(error, status);
    }
    return { changed: true, detail: "HTTPS and Funnel were just enabled for this node." };
  }
  const ports = allowedFunnelPorts(status);
  if (!ports.includes(443)) {
    throw funnelPort443Refused();
  }
  return { detail: `MagicDNS, HTTPS and Funnel are on (ports ${ports.join(", ")}).` };
}

/**
 * What the consent flow's failure means for the user: the single enable URL
 * (HTTPS and Funnel together) when the control plane gave one; the admin
 * console only when it gave none (self-hosted control, or no permission).
 */
export function consentFlowError(error: unknown, status: TailscaleStatus): unknown {
  if (!(error instanceof ActionRequiredError)) return error;
  if (error.code !== "funnel_not_enabled" && error.code !== "https_not_enabled") return error;
  const fromControl = error.url !== undefined && /\/f\//.test(error.url);
  if (fromControl) {
    if (status.httpsCapable) return error;
    return new ActionRequiredError(
      "https_not_enabled",
      "HTTPS certificates and Funnel are off for this node; open the link (as a tailnet admin): it turns both on, then run ecto connect again.",
      { url: error.url, fix: error.url, cause: error },
    );
  }
  if (!status.httpsCapable || error.code === "https_not_enabled") {
    return new ActionRequiredError(
      "https_not_enabled",
      "HTTPS certificates are off for your tailnet and Tailscale offered no link to turn them on; a tailnet admin must enable them in the admin console.",
      {
        url: ADMIN_DNS_URL,
        fix: `Enable HTTPS Certificates at ${ADMIN_DNS_URL}, then run ecto connect again.`,
        cause: error,
      },
    );
  }
  return new ActionRequiredError(
    "funnel_not_enabled",
    'Funnel is not allowed for this node and Tailscale offered no link to allow it; a tailnet admin must add the "funnel" node attribute in the policy file.',
    {
      url: ADMIN_POLICY_URL,
      fix: `Add the funnel node attribute at ${ADMIN_POLICY_URL}, then run ecto connect again.`,
      cause: error,
    },
  );
}
