/**
 * The Funnel prerequisites a `tailscale status` alone can refuse, before any
 * command runs (connect's preflight and its Funnel step share them). Pure.
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import { allowedFunnelPorts } from "./serve_config.ts";
import type { TailscaleStatus } from "./status.ts";

/** Where to fix tailnet-wide settings (MagicDNS, HTTPS certificates). */
export const ADMIN_DNS_URL = "https://login.tailscale.com/admin/dns";
/** The policy file (node attributes, funnel ports). */
export const ADMIN_POLICY_URL = "https://login.tailscale.com/admin/acls/file";

/**
 * The Funnel prerequisites a status alone can refuse, without any command:
 * MagicDNS off (no link can fix it) and a policy without port 443 (the CLI
 * checks 443 for every Funnel). `undefined` when neither applies. Pure.
 */
export function funnelStatusProblem(status: TailscaleStatus): ActionRequiredError | undefined {
  if (!status.magicDnsEnabled) {
    return new ActionRequiredError(
      "magicdns_disabled",
      "MagicDNS is off for your tailnet; Funnel needs it.",
      {
        url: ADMIN_DNS_URL,
        fix: `Turn on MagicDNS at ${ADMIN_DNS_URL}, then run ecto connect again.`,
      },
    );
  }
  if (status.funnelPortsKnown && !allowedFunnelPorts(status).includes(443)) {
    return funnelPort443Refused();
  }
  return undefined;
}

/** The tailnet's policy leaves 443 out of Funnel's ports (the CLI checks 443 for every Funnel). */
export function funnelPort443Refused(): ActionRequiredError {
  return new ActionRequiredError(
    "funnel_port_not_allowed",
    "Your tailnet policy does not allow Funnel on port 443, and the Tailscale CLI checks 443 for every Funnel.",
    {
      url: ADMIN_POLICY_URL,
      fix:
        `Add 443 to the funnel-ports node attribute in ${ADMIN_POLICY_URL}, then run ecto connect again.`,
    },
  );
}

/** MagicDNS is off: a private (Serve) URL needs it. */
export function magicDnsOffForPrivate(): ActionRequiredError {
  return new ActionRequiredError(
    "magicdns_disabled",
    "MagicDNS is off for your tailnet; the private URL needs it.",
    {
      url: ADMIN_DNS_URL,
      fix: `Turn on MagicDNS at ${ADMIN_DNS_URL}, then run ecto connect --private again.`,
    },
  );
}
