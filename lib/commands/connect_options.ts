/**
 * What `ecto connect` is asked for, and the publish mode a run uses.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { readConnectionRecord } from "../core/connection_record.ts";
import type { PublishMode } from "../core/layer_types.ts";

/** What the user asked for. */
export interface ConnectOptions {
  /** Tailscale auth key for headless login (from `--auth-key` or `TS_AUTHKEY`). */
  authKey?: string | undefined;
  /** Issue a new owner key and revoke the old one. */
  regenerateToken: boolean;
  /** The OpenClaw agent the owner key reaches (default: the owner's default agent). */
  agent?: string | undefined;
  /** Re-apply gateway settings and restart the edge without touching Tailscale. */
  restart: boolean;
  /** Leave `gateway.bind` alone instead of forcing loopback. */
  keepBind: boolean;
  /** The Funnel port to publish on (443, 8443, 10000); default: ecto's current or the first free. */
  funnelPort?: number;
  /** How long to wait for public DNS before settling for the tailnet path. */
  proofTimeoutMs: number;
  /** How long to wait for a browser login on a terminal. */
  loginTimeoutMs: number;
  /**
   * `private` (`--private`): Serve on the tailnet only, no Funnel. Default `public`, except
   * that `restart` keeps the recorded mode.
   */
  mode?: PublishMode;
}

/** The mode this run publishes in: the one asked for, else (on `--restart`) the recorded one. */
export async function publishMode(ctx: EctoContext, options: ConnectOptions): Promise<PublishMode> {
  // --restart leaves Tailscale alone, so it keeps the recorded mode (never turns private public).
  return options.mode ??
    (options.restart ? (await readConnectionRecord(ctx.paths)).mode : undefined) ?? "public";
}
