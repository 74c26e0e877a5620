/**
 * Tailscale releases known to break what ecto needs, with the reason, the
 * release that fixed it and the upgrade command per variant. `connect` and
 * `status` consult this table before changing anything: a broken release
 * makes `connect` look fine and end with "only the tailnet path was proven".
 * Pure.
 *
 * @module
 */
import { MissingPrerequisiteError } from "../core/errors.ts";
import {
  compareVersions,
  parseVersionPrefix,
  type TailscaleVariant,
  type TailscaleVersion,
  upgradeCommand,
} from "./version.ts";

/** One range of releases that break a feature ecto relies on. */
export interface KnownBreakage {
  /** First broken release, `x.y.z`. */
  first: string;
  /** Last broken release, `x.y.z`. */
  last: string;
  /** The release that fixed it. */
  fixedIn: string;
  /** What breaks for ecto. */
  feature: "funnel";
  /** What a user sees. */
  symptom: string;
  /** One sentence: why ecto refuses. */
  reason: string;
  /** Where it is documented. */
  source: string;
}

/** Every known-broken range (extend here; README's prerequisites list the same). */
export const KNOWN_BROKEN_VERSIONS: readonly KnownBreakage[] = [
  {
    first: "1.102.0",
    last: "1.102.1",
    fixedIn: "1.102.2",
    feature: "funnel",
    symptom: "403 denied; no ingress cap",
    reason:
      "it refuses every Funnel connection from the relay (403 denied; no ingress cap), so the public URL never answers",
    source: "https://github.com/tailscale/tailscale/issues/20739",
  },
];

function triple(text: string): Pick<TailscaleVersion, "major" | "minor" | "patch"> {
  const v = parseVersionPrefix(text);
  if (!v) throw new Error(`bad version in KNOWN_BROKEN_VERSIONS: ${text}`);
  return v;
}

/** The breakage that applies to `version`, or `undefined` when none does. */
export function knownBreakage(
  version: Pick<TailscaleVersion, "major" | "minor" | "patch">,
): KnownBreakage | undefined {
  return KNOWN_BROKEN_VERSIONS.find((b) =>
    compareVersions(version, triple(b.first)) >= 0 && compareVersions(version, triple(b.last)) <= 0
  );
}

/** The same for a version text (`1.102.1`, or a long `1.102.1-t…` from `status --json`). */
export function knownBreakageOf(text: string | undefined): KnownBreakage | undefined {
  const v = text ? parseVersionPrefix(text) : undefined;
  return v ? knownBreakage(v) : undefined;
}

/** The refusal for a broken release (`tailscale_known_broken`, exit 4), fix = the upgrade. */
export function knownBrokenError(
  version: string,
  breakage: KnownBreakage,
  variant: TailscaleVariant,
  which: "cli" | "daemon" = "cli",
): MissingPrerequisiteError {
  const whose = which === "daemon" ? "The running Tailscale daemon is" : "Tailscale is";
  return new MissingPrerequisiteError(
    "tailscale_known_broken",
    `${whose} ${version}, which breaks ${
      breakage.feature === "funnel" ? "Funnel" : breakage.feature
    }: ${breakage.reason}; upgrade to ${breakage.fixedIn} or newer (${breakage.source}).`,
    { fix: upgradeCommand(variant) },
  );
}

/**
 * The breakage that matters for a mode: in `private` mode (Serve only) a
 * Funnel-only breakage does not apply.
 */
export function breakageFor(
  text: string | undefined,
  mode: "public" | "private" = "public",
): KnownBreakage | undefined {
  const breakage = knownBreakageOf(text);
  return mode === "private" && breakage?.feature === "funnel" ? undefined : breakage;
}

/**
 * Throws {@link knownBrokenError} when `version` is in the table (and the
 * breakage matters for `mode`); does nothing otherwise.
 */
export function assertNotKnownBroken(
  version: string | undefined,
  variant: TailscaleVariant,
  which: "cli" | "daemon" = "cli",
  mode: "public" | "private" = "public",
): void {
  const breakage = breakageFor(version, mode);
  if (breakage && version) {
    throw knownBrokenError(parseVersionPrefix(version)!.short, breakage, variant, which);
  }
}
