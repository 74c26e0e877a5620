/**
 * Connect's Tailscale steps: installed, running, logged in, allowed to Funnel
 * (or Serve). `--restart` leaves Tailscale alone except for reading where we
 * are published.
 *
 * @module
 */
import type { Layers, PublishMode, TailscaleNode } from "../core/layer_types.ts";
import type { ConnectOptions } from "./connect_options.ts";
import type { Step } from "./connect_steps.ts";

/** The Tailscale node connect publishes on, checked (and fixed) step by step. */
export async function readyTailscale(
  step: Step,
  l: Layers,
  args: { options: ConnectOptions; mode: PublishMode },
): Promise<TailscaleNode> {
  const { options, mode } = args;
  const priv = mode === "private";
  if (options.restart) {
    return await step(
      "tailscale.check",
      "Reading Tailscale state",
      (c) => l.tailscale.current(c, { mode }),
    );
  }
  const installed = await step(
    "tailscale.install",
    "Looking for Tailscale",
    (c) => l.tailscale.ensureInstalled(c, { mode }),
  );
  await step(
    "tailscale.daemon",
    "Checking the Tailscale daemon",
    (c) => l.tailscale.ensureRunning(c, installed, { mode }),
  );
  const login = await step(
    "tailscale.login",
    "Checking the Tailscale login",
    (c) =>
      l.tailscale.ensureLoggedIn(c, installed, {
        authKey: options.authKey,
        timeoutMs: options.loginTimeoutMs,
      }),
  );
  await step(
    priv ? "tailscale.serve" : "tailscale.funnel",
    priv ? "Checking Serve prerequisites (MagicDNS, HTTPS)" : "Checking Funnel prerequisites",
    (c) => l.tailscale.checkFunnelReady(c, login, { mode }),
  );
  return login;
}
