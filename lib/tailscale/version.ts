/**
 * `tailscale version` output, plain and `--json`, and the minimum version ecto
 * supports (1.52, when the `--bg`/`--https=`/`--set-path=` serve and funnel
 * CLI became the default).
 *
 * @module
 */
import { MissingPrerequisiteError } from "../core/errors.ts";

/** The oldest Tailscale ecto drives: 1.52 introduced the serve/funnel CLI ecto uses. */
export const MIN_TAILSCALE_VERSION = { major: 1, minor: 52, patch: 0 } as const;

/** A parsed Tailscale client version. */
export interface TailscaleVersion {
  /** The short version, e.g. `1.90.8` (may carry a suffix such as `-dev20260101`). */
  short: string;
  /** Major version number. */
  major: number;
  /** Minor version number (odd = unstable track). */
  minor: number;
  /** Patch number. */
  patch: number;
  /** The long version (`1.90.8-tedc9d2245-ged5c52ee2`) when the output has one. */
  long?: string;
  /** `appstore`, `macsys` or `darwin` on macOS (1.96+ `--json` only). */
  osVariant?: string;
  /** The LocalAPI capability version (`--json` only). */
  cap?: number;
  /** True on the unstable track (odd minor version). */
  unstable: boolean;
}

const VERSION_RE = /^(\d+)\.(\d+)\.(\d+)/;

function fromShort(short: string): Omit<TailscaleVersion, "short"> & { short: string } {
  const m = VERSION_RE.exec(short.trim());
  if (!m) throw new Error(`not a Tailscale version: ${JSON.stringify(short.slice(0, 40))}`);
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { short: short.trim(), major, minor, patch, unstable: minor % 2 === 1 };
}

/**
 * Parses plain `tailscale version` output: the first line is the short
 * version, indented `key: value` lines follow (`long version:` since 1.86).
 * `tailscale version --daemon` output (`Client: ...`) is accepted too.
 */
export function parseVersionText(text: string): TailscaleVersion {
  const lines = text.replace(/\r/g, "").split("\n");
  const first = (lines.find((l) => l.trim() !== "") ?? "").replace(/^Client:\s*/, "").trim();
  const version: TailscaleVersion = fromShort(first);
  for (const line of lines) {
    const m = /^\s+long version:\s*(\S+)/.exec(line);
    if (m) version.long = m[1];
  }
  return version;
}

/** Parses `tailscale version --json` (1.36+). Unknown keys are ignored. */
export function parseVersionJson(text: string): TailscaleVersion {
  const data: unknown = JSON.parse(text);
  if (typeof data !== "object" || data === null) throw new Error("version JSON is not an object");
  const o = data as Record<string, unknown>;
  const short = typeof o.majorMinorPatch === "string"
    ? o.majorMinorPatch
    : typeof o.short === "string"
    ? o.short
    : undefined;
  if (short === undefined) throw new Error("version JSON has no majorMinorPatch or short");
  const version: TailscaleVersion = fromShort(short);
  if (typeof o.short === "string") version.short = o.short;
  if (typeof o.long === "string") version.long = o.long;
  if (typeof o.osVariant === "string" && o.osVariant !== "") version.osVariant = o.osVariant;
  if (typeof o.cap === "number") version.cap = o.cap;
  if (typeof o.unstableBranch === "boolean") version.unstable = o.unstableBranch;
  return version;
}

/** Parses either form: JSON when the text starts with `{`, plain otherwise. */
export function parseVersionOutput(text: string): TailscaleVersion {
  return text.trimStart().startsWith("{") ? parseVersionJson(text) : parseVersionText(text);
}

/** Parses the `x.y.z` start of a short or long version (`1.102.1-t1a2b…`), `undefined` if none. */
export function parseVersionPrefix(text: string): TailscaleVersion | undefined {
  try {
    const version = fromShort(text);
    version.short = `${version.major}.${version.minor}.${version.patch}`;
    return version;
  } catch {
    return undefined;
  }
}

/** Compares two versions by major, minor, patch: negative, zero or positive. */
export function compareVersions(
  a: Pick<TailscaleVersion, "major" | "minor" | "patch">,
  b: Pick<TailscaleVersion, "major" | "minor" | "patch">,
): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** True when ecto can drive this version (1.52 or newer). */
export function isSupportedVersion(version: TailscaleVersion): boolean {
  return compareVersions(version, MIN_TAILSCALE_VERSION) >= 0;
}

/**
 * How Tailscale was installed; decides the upgrade, install and start
 * commands. `tailscaled` is the open-source daemon on macOS built by hand
 * (not from Homebrew); `macsys` is the Standalone app, `appstore` the Mac App
 * Store app.
 */
export type TailscaleVariant =
  | "homebrew"
  | "tailscaled"
  | "macsys"
  | "appstore"
  | "linux"
  | "unknown";

/** The Mac App Store page of the Tailscale app (its store item id 1475387142). */
export const APP_STORE_URL = "macappstore://apps.apple.com/app/id1475387142";

/** The command (or place) that upgrades Tailscale for a variant. */
export function upgradeCommand(variant: TailscaleVariant): string {
  switch (variant) {
    case "homebrew":
      return "brew upgrade tailscale && sudo brew services restart tailscale";
    case "tailscaled":
      return 'go install tailscale.com/cmd/tailscale@latest tailscale.com/cmd/tailscaled@latest && sudo "$(go env GOPATH)/bin/tailscaled" install-system-daemon';
    case "macsys":
      return "update the Tailscale app (menu bar icon > Check for Updates) or install the latest from https://pkgs.tailscale.com/stable/#macos";
    case "appstore":
      return `open '${APP_STORE_URL}' (then Update)`;
    case "linux":
      return "curl -fsSL https://tailscale.com/install.sh | sh";
    default:
      return "install the latest Tailscale from https://tailscale.com/download";
  }
}

/**
 * Throws a {@link MissingPrerequisiteError} (`tailscale_too_old`, exit 4)
 * when `version` is older than 1.52; its `fix` is the upgrade command for
 * the variant.
 */
export function assertSupportedVersion(
  version: TailscaleVersion,
  variant: TailscaleVariant = "unknown",
): void {
  if (isSupportedVersion(version)) return;
  throw new MissingPrerequisiteError(
    "tailscale_too_old",
    `Tailscale ${version.short} is too old; ecto needs 1.52 or newer for its serve and funnel commands.`,
    { fix: upgradeCommand(variant) },
  );
}
