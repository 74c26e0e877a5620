/**
 * The gateway as an installed service (launchd on macOS, a systemd user unit on Linux, with
 * OpenClaw's per-profile names): whether one is installed, and `openclaw gateway start|restart`
 * through it.
 *
 * @module
 */
import { ToolError } from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import { profileName } from "./location.ts";
import { type OpenClawCli, runOpenClaw } from "./cli.ts";
import type { GatewayDeps } from "./gateway_health.ts";

/**
 * `openclaw gateway <verb> --json` through the service manager; a non-zero exit is a
 * {@link ToolError} with `message` and the (redacted) CLI output.
 */
export async function gatewayServiceCommand(
  deps: GatewayDeps,
  cli: OpenClawCli,
  verb: "start" | "restart",
  message: string,
  secrets: string[] | undefined,
): Promise<void> {
  const run = await runOpenClaw(deps.$, cli, deps.env, ["gateway", verb, "--json"], {
    redact: secrets,
  });
  if (run.code !== 0) {
    throw new ToolError("openclaw", run.code, run.stderr || run.stdout, message, {
      fix: "openclaw gateway status --deep",
    });
  }
}

export interface GatewayService {
  /** The service manager. */
  kind: "launchd" | "systemd";
  /** The plist or unit file. */
  path: string;
}

/**
 * The service names OpenClaw gives the gateway of `env`'s profile
 * (`constants-*.mjs`): launchd `ai.openclaw.gateway` / `ai.openclaw.<profile>`,
 * systemd `openclaw-gateway` / `openclaw-gateway-<profile>`;
 * `OPENCLAW_LAUNCHD_LABEL` and `OPENCLAW_SYSTEMD_UNIT` override them. Pure.
 */
export function gatewayServiceNames(env: EnvLookup): { launchdLabel: string; systemdUnit: string } {
  const p = profileName(env);
  const label = env("OPENCLAW_LAUNCHD_LABEL")?.trim() ||
    (p ? `ai.openclaw.${p}` : "ai.openclaw.gateway");
  const unit = env("OPENCLAW_SYSTEMD_UNIT")?.trim() ||
    (p ? `openclaw-gateway-${p}` : "openclaw-gateway");
  return { launchdLabel: label, systemdUnit: unit.endsWith(".service") ? unit : `${unit}.service` };
}

/**
 * Detects the gateway installed as a per-user service: the launchd plist
 * `~/Library/LaunchAgents/<label>.plist` or the systemd user unit
 * `~/.config/systemd/user/<unit>` (names from {@link gatewayServiceNames}).
 * OpenClaw only manages the service of a profile's canonical state dir
 * (`~/.openclaw` or `~/.openclaw-<profile>`), so a relocated one
 * (`OPENCLAW_HOME`, another `OPENCLAW_STATE_DIR` or config path) is unmanaged.
 */
export async function detectGatewayService(
  env: EnvLookup,
  os: typeof Deno.build.os = Deno.build.os,
): Promise<GatewayService | undefined> {
  const home = env("HOME");
  if (!home || env("OPENCLAW_HOME")) return undefined;
  const p = profileName(env);
  const canonical = p ? `${home}/.openclaw-${p}` : `${home}/.openclaw`;
  const stateDir = env("OPENCLAW_STATE_DIR")?.replace(/\/+$/, "");
  if (stateDir !== undefined && stateDir !== canonical) return undefined;
  const configPath = env("OPENCLAW_CONFIG_PATH");
  if (configPath !== undefined && configPath !== `${canonical}/openclaw.json`) return undefined;
  const names = gatewayServiceNames(env);
  const candidates: GatewayService[] = os === "darwin"
    ? [{ kind: "launchd", path: `${home}/Library/LaunchAgents/${names.launchdLabel}.plist` }]
    : os === "linux"
    ? [{ kind: "systemd", path: `${home}/.config/systemd/user/${names.systemdUnit}` }]
    : [];
  for (const candidate of candidates) {
    try {
      if ((await Deno.stat(candidate.path)).isFile) return candidate;
    } catch { /* not installed */ }
  }
  return undefined;
}
