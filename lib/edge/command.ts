/**
 * `ecto edge run`: the edge in the foreground, as its supervisor runs it.
 * Settings come from the file connect wrote (`~/.ecto/edge.json`), with the
 * flags on top; without that file, from OpenClaw's config (the gateway's port)
 * and the defaults.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { edgeListen } from "../core/addresses.ts";
import { type EdgeConfig, loadEdgeConfig, runEdge } from "./run.ts";
import { renderEventLine } from "../core/event_line.ts";
import { inspectGatewaySettings } from "../openclaw/settings.ts";
import { readOpenClawConfig } from "../openclaw/config.ts";
import { resolveOpenClawLocation } from "../openclaw/location.ts";

/** What `edge run` needs of the context (the edge's own entry builds just this). */
export type EdgeCommandContext = Pick<EctoContext, "env" | "paths" | "now">;

/** Flags of `ecto edge run`. */
export interface EdgeRunFlags {
  configFile?: string;
  listen?: string;
  upstream?: string;
}

/** Resolves the edge's settings from the file and flags. */
export async function resolveEdgeConfig(
  ctx: EdgeCommandContext,
  flags: EdgeRunFlags,
): Promise<EdgeConfig> {
  const file = flags.configFile ?? ctx.paths.edgeConfigFile;
  const exists = await Deno.stat(file).then(() => true, () => false);
  // Only a missing default file falls back; a named file must exist.
  let config = exists || flags.configFile !== undefined ? await loadEdgeConfig(file) : undefined;
  if (!config) {
    const location = resolveOpenClawLocation(ctx.env);
    const settings = inspectGatewaySettings(
      (await readOpenClawConfig(location.configPath)).config,
      ctx.env,
    );
    config = {
      listen: edgeListen(ctx),
      upstream: settings.url,
      openclawConfigPath: location.configPath,
      stateDir: ctx.paths.stateDir,
    };
  }
  return {
    ...config,
    ...(flags.listen === undefined ? {} : { listen: flags.listen }),
    ...(flags.upstream === undefined ? {} : { upstream: flags.upstream }),
  };
}

/** Runs the edge until SIGTERM/SIGINT; each event becomes one log line. */
export async function runEdgeCommand(
  ctx: EdgeCommandContext,
  flags: EdgeRunFlags,
  log: (line: string) => void,
): Promise<void> {
  const config = await resolveEdgeConfig(ctx, flags);
  await runEdge(config, {
    env: ctx.env,
    events: (event) => log(`${new Date(ctx.now()).toISOString()} ${renderEventLine(event)}`),
  });
}
