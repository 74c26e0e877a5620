/**
 * Everything ecto reads about the local OpenClaw before changing it: the
 * CLI, where the config lives, the config itself and the environment
 * OpenClaw resolves variables from. Read once, shared by plan, apply, undo.
 *
 * @module
 */
import type { EnvLookup } from "../core/paths.ts";
import { type GatewaySettings, inspectGatewaySettings } from "./settings.ts";
import { type OpenClawConfigFile, readOpenClawConfig } from "./config.ts";
import { openClawEnvLookup, type OpenClawLocation, resolveOpenClawLocation } from "./location.ts";
import { locateOpenClaw, type OpenClawCli } from "./cli.ts";

/** Everything ecto knows about the local OpenClaw before changing it. */
export interface OpenClawState {
  /** The `openclaw` CLI. */
  cli: OpenClawCli;
  /** Where the config and state live. */
  location: OpenClawLocation;
  /** The config as read. */
  file: OpenClawConfigFile;
  /** What the config says about the gateway. */
  settings: GatewaySettings;
  /** The process environment plus `<stateDir>/.env`, as OpenClaw resolves variables. */
  env: EnvLookup;
}

/**
 * Finds the CLI and the config, reads and inspects it.
 *
 * @throws {MissingPrerequisiteError} when `openclaw` is not installed.
 * @throws {EctoError} `openclaw_config_invalid` (file, line:column, fix) or unreadable.
 */
export async function loadOpenClaw(
  deps: { env: EnvLookup },
  opts: { cli?: OpenClawCli } = {},
): Promise<OpenClawState> {
  const cli = opts.cli ?? await locateOpenClaw(deps.env);
  const location = resolveOpenClawLocation(deps.env);
  const file = await readOpenClawConfig(location.configPath);
  const env = await openClawEnvLookup(deps.env, location);
  return { cli, location, file, settings: inspectGatewaySettings(file.config, env), env };
}
