/**
 * A `tailscale funnel --bg` that said it worked but left nothing behind.
 * On the macOS Standalone app from 1.98 the state (serve config included)
 * lives in the Keychain; when that store fails the CLI still prints its
 * success block and `serve status --json` stays `{}` (tailscale#19933,
 * #17645). Pure.
 *
 * @module
 */
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import type { PlatformHint } from "./diagnose.ts";
import type { ServeConfig } from "./serve_config.ts";
import { compareVersions, parseVersionPrefix } from "./version.ts";

/** Where the Standalone app reads its `EncryptState` preference. */
export const MACSYS_PLIST = "/Library/Preferences/io.tailscale.ipn.macsys.plist";

/** The fix that works: store state in a file again, then relaunch the app. */
export const ENCRYPT_STATE_FIX =
  `sudo defaults write ${MACSYS_PLIST} EncryptState -bool false && osascript -e 'quit app "Tailscale"' && open -a Tailscale`;

/** What {@link lostWriteError} looks at. */
export interface LostWrite {
  /** The funnel command's stdout. */
  stdout: string;
  /** The config read back right after it. */
  config: ServeConfig;
  /** Variant, OS and version of the CLI. */
  platform: PlatformHint;
  /** The port ecto wrote. */
  port: number;
}

/** True when the CLI printed its success block (`Available on the internet:` …). */
export function writeConfirmed(stdout: string): boolean {
  return /Available (?:on the internet|within your tailnet):|started and running in the background/
    .test(stdout);
}

/** True when the config holds no background route at all (`{}`). */
export function isEmptyConfig(config: ServeConfig): boolean {
  return config.tcp.size === 0 && config.web.size === 0 && config.allowFunnel.size === 0;
}

/** True when the Standalone app's encrypted-state trap explains a lost write. */
export function isEncryptedStateLoss(input: LostWrite): boolean {
  if (input.platform.variant !== "macsys") return false;
  const version = input.platform.version ? parseVersionPrefix(input.platform.version) : undefined;
  if (version && compareVersions(version, { major: 1, minor: 98, patch: 0 }) < 0) return false;
  return writeConfirmed(input.stdout) && isEmptyConfig(input.config);
}

/**
 * The error for a write the CLI confirmed but the read-back does not show:
 * `tailscale_state_not_persisted` (exit 3, the `EncryptState` fix) for the
 * Standalone app's trap, else `funnel_not_configured` (exit 1).
 */
export function lostWriteError(input: LostWrite): EctoError {
  if (isEncryptedStateLoss(input)) {
    return new ActionRequiredError(
      "tailscale_state_not_persisted",
      "The Tailscale app said Funnel started, but its serve config reads back empty: the Standalone app (1.98+) keeps its state in the Keychain and silently drops it when that fails; store state in a file instead, or use Homebrew's tailscaled.",
      {
        fix:
          `${ENCRYPT_STATE_FIX}, then run ecto connect again (or: brew install tailscale && sudo brew services start tailscale)`,
        cause: input.stdout,
      },
    );
  }
  return new EctoError(
    "funnel_not_configured",
    `tailscale funnel exited 0 but the Funnel route on port ${input.port} is not in the serve config.`,
    { fix: "tailscale funnel status", cause: input.stdout },
  );
}
