/**
 * `ecto connect`'s preflight: every cheap, read-only check first, so that
 * connect installs or changes nothing until it knows it can finish — or says
 * what the user must do first. OpenClaw installed and its config readable,
 * the gateway's port, the Tailscale version and variant (known-broken
 * releases, the App Store sandbox and auth keys), the daemon's state and the
 * Funnel prerequisites a status shows. Runs no install, start, login or
 * write; a missing Tailscale is fine here (connect installs it with consent)
 * but only where it can be installed.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { ActionRequiredError, EctoError, MissingPrerequisiteError } from "../core/errors.ts";
import { edgeListen } from "../core/addresses.ts";
import { loadOpenClaw, planOpenClaw } from "../openclaw/mod.ts";
import {
  allowedFunnelPorts,
  assertNotKnownBroken,
  assertSupportedVersion,
  cliFromInstall,
  funnelStatusProblem,
  MAC_DOWNLOAD_URL,
  magicDnsOffForPrivate,
  sandboxedAuthKeyError,
  type TailscaleProbe,
  tailscaleProbe,
  type TailscaleStatus,
} from "../tailscale/mod.ts";

/** What connect was asked to do, as far as the preflight cares. */
export interface PreflightRequest {
  /** An auth key will be used to log in (its value is never looked at here). */
  authKey?: string | undefined;
  /** `--restart`: Tailscale is only read, never installed or started. */
  restart?: boolean;
  /** `--funnel-port`: must be one the tailnet policy allows. */
  funnelPort?: number | undefined;
  /** `--keep-bind`: a non-loopback bind is left as it is. */
  keepBind?: boolean;
  /** `private` (`--private`): Serve only, so no Funnel permission or port policy is needed. */
  mode?: "public" | "private";
}

/** What the preflight found (for the step line and `--json`). */
export interface PreflightResult {
  /** One sentence: what was found. */
  detail: string;
  /** Always false: the preflight changes nothing. */
  changed?: false;
  /** The OpenClaw config file read. */
  configPath: string;
  /** The gateway's port. */
  gatewayPort: number;
  /** The Tailscale CLI, when installed. */
  tailscale?: { path: string; variant: string; version: string };
  /** The backend state, when the daemon answered. */
  backendState?: string;
}

function portOf(listen: string): number | undefined {
  const m = /:(\d+)$/.exec(listen);
  return m ? Number(m[1]) : undefined;
}

async function canInstallTailscale(ctx: EctoContext): Promise<void> {
  if (ctx.os !== "darwin") return;
  // connect installs with `brew install tailscale`; without Homebrew it would stop there.
  let brewCode: number | undefined;
  try {
    brewCode = (await ctx.$`brew --version`.noThrow().quiet().timeout(30_000)).code;
  } catch {
    brewCode = undefined; // no brew at all
  }
  if (brewCode === 0) return;
  throw new MissingPrerequisiteError(
    "tailscale_missing",
    "Tailscale is not installed and Homebrew is not available to install it.",
    { fix: `install the Tailscale app from ${MAC_DOWNLOAD_URL}, then run ecto connect again` },
  );
}

/** The reads a preflight makes on its own (connect passes the Tailscale layer's, to share them). */
export function preflightProbe(ctx: EctoContext): TailscaleProbe {
  const user = ctx.env("SUDO_USER") ?? ctx.env("USER");
  return tailscaleProbe({
    $: ctx.$,
    env: ctx.env,
    os: ctx.os,
    cli: (install) => cliFromInstall(install, { $: ctx.$, ...(user ? { user } : {}) }),
  });
}

async function readStatus(reads: TailscaleProbe): Promise<TailscaleStatus | undefined> {
  try {
    return await reads.status();
  } catch (error) {
    // Not running is fine: connect starts it (with consent). Anything else needs the user.
    if (error instanceof EctoError && error.code === "tailscale_not_running") return undefined;
    throw error;
  }
}

/**
 * Runs the preflight. Throws the first refusal as ecto's typed error (exit
 * 3 or 4, with the fix); returns what it found otherwise. `reads` are the
 * Tailscale reads to make (and share with what runs next); all of them start
 * at once, while OpenClaw's config is read.
 */
export async function preflight(
  ctx: EctoContext,
  request: PreflightRequest = {},
  reads: TailscaleProbe = preflightProbe(ctx),
): Promise<PreflightResult> {
  reads.prefetch();
  // 1. OpenClaw: installed, config readable and valid (throws openclaw_not_installed, exit 4).
  const openclaw = await loadOpenClaw({ env: ctx.env });
  const gatewayPort = openclaw.settings.port;
  if (!Number.isInteger(gatewayPort) || gatewayPort < 1 || gatewayPort > 65535) {
    throw new ActionRequiredError(
      "gateway_port_invalid",
      `The gateway port ${gatewayPort} in ${openclaw.location.configPath} is not a TCP port.`,
      { fix: `Set gateway.port to a port between 1 and 65535 in ${openclaw.location.configPath}.` },
    );
  }
  const edge = edgeListen(ctx);
  if (portOf(edge) === gatewayPort) {
    throw new ActionRequiredError(
      "gateway_port_conflict",
      `The gateway's port ${gatewayPort} is the port ecto's edge listens on (${edge}).`,
      { fix: "Set ECTO_EDGE_LISTEN=127.0.0.1:<another port>, then run ecto connect again." },
    );
  }
  const found: PreflightResult = {
    configPath: openclaw.location.configPath,
    gatewayPort,
    detail: "",
  };
  const parts = [`OpenClaw config ${openclaw.location.configPath} (gateway port ${gatewayPort})`];

  // 2. Tailscale: version and variant before anything is installed or started.
  const install = await reads.install();
  if (!install) {
    if (request.restart) {
      throw new MissingPrerequisiteError("tailscale_missing", "Tailscale is not installed.", {
        fix: "ecto connect (without --restart) installs it",
      });
    }
    // No Tailscale, so no route can publish the gateway: only its own tailscale.mode would
    // make connect rotate the credential. The dry run of the gateway change refuses a
    // credential the edge could not use (a file/exec SecretRef, a variable not set here)
    // before Tailscale is installed. With Tailscale present the take-over inspection does
    // the same dry run, knowing the routes, before anything touches the gateway.
    const exposed = openclaw.settings.tailscaleMode !== "off";
    planOpenClaw(openclaw.file.config, {
      configPath: openclaw.location.configPath,
      env: openclaw.env,
      allowNonLoopback: request.keepBind === true,
      rotateCredential: exposed,
      tailscaleOff: exposed,
    });
    await canInstallTailscale(ctx);
    parts.push("Tailscale not installed yet (connect installs it)");
    return { ...found, detail: `${parts.join("; ")}.` };
  }
  if (install.version) assertSupportedVersion(install.version, install.variant);
  assertNotKnownBroken(install.version?.short, install.variant, "cli", request.mode);
  if (request.authKey !== undefined && install.variant === "appstore") {
    throw sandboxedAuthKeyError();
  }
  const version = install.version?.short ?? "unknown version";
  found.tailscale = { path: install.path, variant: install.variant, version };
  parts.push(`Tailscale ${version} (${install.variant})`);

  // 3. The daemon and the Funnel prerequisites its status shows.
  const status = await readStatus(reads);
  if (!status) {
    parts.push("its daemon is not running (connect starts it)");
    return { ...found, detail: `${parts.join("; ")}.` };
  }
  assertNotKnownBroken(status.version, install.variant, "daemon", request.mode);
  found.backendState = status.backendState;
  if (status.connected && request.mode === "private") {
    // Serve needs MagicDNS and HTTPS certificates; the Funnel attribute and ports do not apply.
    if (!status.magicDnsEnabled) {
      throw magicDnsOffForPrivate();
    }
    parts.push(
      status.httpsCapable
        ? `${status.backendState}, MagicDNS and HTTPS on (private: no Funnel needed)`
        : `${status.backendState}, MagicDNS on; HTTPS still to enable (connect relays the link)`,
    );
  } else if (status.connected) {
    const problem = funnelStatusProblem(status);
    if (problem) throw problem;
    const allowed = allowedFunnelPorts(status);
    if (
      request.funnelPort !== undefined && status.funnelPortsKnown &&
      !allowed.includes(request.funnelPort)
    ) {
      throw new ActionRequiredError(
        "funnel_port_not_allowed",
        `Funnel cannot use port ${request.funnelPort}; the tailnet policy allows ${
          allowed.join(", ") || "none"
        }.`,
        { fix: `ecto connect --funnel-port ${allowed[0] ?? 443}` },
      );
    }
    parts.push(
      status.httpsCapable && status.funnelAllowed
        ? `${status.backendState}, MagicDNS, HTTPS and Funnel on`
        : `${status.backendState}, MagicDNS on; HTTPS/Funnel still to enable (connect relays the link)`,
    );
  } else {
    parts.push(`${status.backendState} (connect logs in)`);
  }
  return { ...found, detail: `${parts.join("; ")}.` };
}
