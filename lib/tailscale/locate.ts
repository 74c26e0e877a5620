/**
 * Finding the tailscale CLI and telling which variant it is: Homebrew
 * formula (open-source tailscaled), the standalone macOS app (`macsys`), the
 * Mac App Store app (`appstore`), a Linux package, or unknown.
 *
 * @module
 */
import type { EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import { MissingPrerequisiteError } from "../core/errors.ts";
import { type StartHint, startHintFor } from "./diagnose.ts";
import { getVersion, type TailscaleCli, tailscaleCli } from "./runner.ts";
import type { TailscaleVariant, TailscaleVersion } from "./version.ts";

/** The file-system lookups locating needs; injected so tests can fake them. */
export interface FileProbe {
  /** True when `path` is an executable regular file (or a link to one). */
  isExecutable(path: string): Promise<boolean>;
  /** The resolved path (symlinks followed), or `undefined` when it cannot be resolved. */
  realPath(path: string): Promise<string | undefined>;
  /** A small text file's contents, or `undefined` when it cannot be read. */
  readTextFile(path: string): Promise<string | undefined>;
}

/** The real file system. */
export const realFileProbe: FileProbe = {
  async isExecutable(path) {
    try {
      const info = await Deno.stat(path);
      return info.isFile && (info.mode === null || (info.mode & 0o111) !== 0);
    } catch {
      return false;
    }
  },
  async realPath(path) {
    try {
      return await Deno.realPath(path);
    } catch {
      return undefined;
    }
  },
  async readTextFile(path) {
    try {
      return await Deno.readTextFile(path);
    } catch {
      return undefined;
    }
  },
};

/** The CLI inside the macOS app bundle (standalone and App Store). */
export const MAC_APP_CLI = "/Applications/Tailscale.app/Contents/MacOS/Tailscale";
/** Homebrew's bin directories (Apple Silicon, Intel). */
export const HOMEBREW_BINS: readonly string[] = ["/opt/homebrew/bin", "/usr/local/bin"];

/** Where the CLI was found. */
export type TailscaleSource = "env" | "path" | "app" | "homebrew" | "system";

/** A located tailscale CLI and what its variant means for ecto. */
export interface TailscaleInstall {
  /** Absolute path of the CLI. */
  path: string;
  /** How it was installed. */
  variant: TailscaleVariant;
  /** How ecto found it (`ECTO_TAILSCALE`, `PATH`, app bundle, Homebrew prefix). */
  source: TailscaleSource;
  /** The OS (`Deno.build.os` names). */
  os: string;
  /** Its version, when `tailscale version` answered. */
  version?: TailscaleVersion;
  /** How to start the daemon for this variant. */
  startHint: StartHint;
  /** What this variant means for Funnel, in one or two sentences. */
  funnelNote: string;
}

/** Inputs of the pure variant decision. */
export interface VariantFacts {
  /** `darwin`, `linux`, … */
  os: string;
  /** The CLI path as found. */
  path: string;
  /** `path` with symlinks resolved. */
  realPath?: string;
  /** `osVariant` from `tailscale version --json` (1.96+). */
  osVariant?: string;
  /** `CFBundleIdentifier` of `/Applications/Tailscale.app`, when known. */
  bundleId?: string;
  /** An executable `tailscaled` sits next to the (resolved) CLI. */
  tailscaledBeside?: boolean;
}

function isHomebrewPath(facts: VariantFacts): boolean {
  const real = facts.realPath ?? facts.path;
  return real.includes("/Cellar/tailscale/") || facts.path.startsWith("/opt/homebrew/");
}

/**
 * Decides the variant: `osVariant` first (1.96+), then the path. The
 * open-source daemon on macOS is `homebrew` when it comes from a Homebrew
 * Cellar, else `tailscaled` (built by hand: no Homebrew hints for it).
 */
export function detectVariant(facts: VariantFacts): TailscaleVariant {
  if (facts.osVariant === "appstore") return "appstore";
  if (facts.osVariant === "macsys") return "macsys";
  if (facts.osVariant === "darwin") return isHomebrewPath(facts) ? "homebrew" : "tailscaled";
  if (facts.os === "linux") return "linux";
  if (facts.os !== "darwin") return "unknown";
  const real = facts.realPath ?? facts.path;
  if (isHomebrewPath(facts)) return "homebrew";
  if (real.includes("/Tailscale.app/") || facts.path.includes("/Tailscale.app/")) {
    if (facts.bundleId?.includes("io.tailscale.ipn.macsys")) return "macsys";
    if (facts.bundleId?.includes("io.tailscale.ipn.macos")) return "appstore";
    return "unknown";
  }
  return facts.tailscaledBeside ? "tailscaled" : "unknown";
}

/** What a variant means for Funnel. */
export function funnelNoteFor(variant: TailscaleVariant): string {
  switch (variant) {
    case "homebrew":
      return "Open-source tailscaled (Homebrew): Serve and Funnel of a local port are fully supported.";
    case "tailscaled":
      return "Open-source tailscaled (built by hand): Serve and Funnel of a local port are fully supported; root, the admin group and the operator may change them.";
    case "macsys":
    case "appstore":
      return "Tailscale macOS app: Funnel of a localhost port works, but the public URL may not open from this Mac itself, and the CLI must run inside your login session.";
    case "linux":
      return "Linux tailscaled: Funnel is supported; changing it needs root or the Tailscale operator (sudo tailscale set --operator=$USER).";
    default:
      return "Unknown Tailscale variant: Funnel of a localhost port should work with Tailscale 1.52 or newer.";
  }
}

/** Options for {@link locateTailscale}. */
export interface LocateOptions {
  /** The injected dax `$` (runs `tailscale version --json`). */
  $: Shell;
  /** Environment lookup (`ECTO_TAILSCALE`, `PATH`). */
  env: EnvLookup;
  /** Default `Deno.build.os`. */
  os?: string;
  /** Default {@link realFileProbe}. */
  fs?: FileProbe;
  /** Extra environment for the CLI process. */
  childEnv?: Record<string, string>;
}

function bundleIdFrom(plist: string | undefined): string | undefined {
  const m = plist && /<key>CFBundleIdentifier<\/key>\s*<string>([^<]+)<\/string>/.exec(plist);
  return m ? m[1] : undefined;
}

/** Where the CLI was found, before it was asked anything. */
export interface TailscaleCandidate {
  /** Its path. */
  path: string;
  /** How it was found. */
  source: TailscaleSource;
}

/**
 * The CLI's path without running it: `ECTO_TAILSCALE`, then `PATH`, then (macOS) the app bundle
 * and the Homebrew prefixes; Linux also tries `/usr/bin`. The first executable one wins.
 * Throws `tailscale_not_found` (exit 4) when `ECTO_TAILSCALE` names a file that is not executable.
 */
export async function findTailscaleCli(
  options: Pick<LocateOptions, "env" | "os" | "fs">,
): Promise<TailscaleCandidate | undefined> {
  const os = options.os ?? Deno.build.os;
  const fs = options.fs ?? realFileProbe;
  const candidates: Array<[string, TailscaleSource]> = [];
  const override = options.env("ECTO_TAILSCALE");
  if (override) {
    if (!(await fs.isExecutable(override))) {
      throw new MissingPrerequisiteError(
        "tailscale_not_found",
        `ECTO_TAILSCALE is set to ${override}, which is not an executable file.`,
        { fix: "unset ECTO_TAILSCALE, or point it at the tailscale CLI" },
      );
    }
    candidates.push([override, "env"]);
  }
  for (const dir of (options.env("PATH") ?? "").split(":")) {
    if (dir) candidates.push([`${dir.replace(/\/$/, "")}/tailscale`, "path"]);
  }
  if (os === "darwin") {
    candidates.push([MAC_APP_CLI, "app"]);
    for (const dir of HOMEBREW_BINS) candidates.push([`${dir}/tailscale`, "homebrew"]);
  } else if (os === "linux") {
    candidates.push(["/usr/bin/tailscale", "system"], ["/usr/local/bin/tailscale", "system"]);
  }
  for (const [path, source] of candidates) {
    if (await fs.isExecutable(path)) return { path, source };
  }
  return undefined;
}

/**
 * Finds the tailscale CLI ({@link findTailscaleCli}, or the `found` one) and runs
 * `version --json` to learn the version and variant. Returns `undefined` when there is no CLI;
 * throws `tailscale_not_found` (exit 4) when `ECTO_TAILSCALE` names a file that is not
 * executable.
 */
export async function locateTailscale(
  options: LocateOptions,
  found?: TailscaleCandidate,
): Promise<TailscaleInstall | undefined> {
  const os = options.os ?? Deno.build.os;
  const fs = options.fs ?? realFileProbe;
  const candidate = found ?? await findTailscaleCli(options);
  if (!candidate) return undefined;
  const { path, source } = candidate;
  const realPath = await fs.realPath(path);
  let version: TailscaleVersion | undefined;
  try {
    version = await getVersion(
      tailscaleCli({
        $: options.$,
        path,
        platform: { os },
        commandTimeoutMs: 15_000,
        ...(options.childEnv ? { env: options.childEnv } : {}),
      }),
    );
  } catch {
    version = undefined; // the app-bundle CLI can fail outside the GUI session
  }
  const facts: VariantFacts = { os, path };
  if (realPath) facts.realPath = realPath;
  if (version?.osVariant) facts.osVariant = version.osVariant;
  if (os === "darwin" && !facts.osVariant && `${realPath ?? path}`.includes("Tailscale.app")) {
    const id = bundleIdFrom(
      await fs.readTextFile("/Applications/Tailscale.app/Contents/Info.plist"),
    );
    if (id) facts.bundleId = id;
  }
  if (os === "darwin" && !facts.osVariant && !`${realPath ?? path}`.includes("Tailscale.app")) {
    const dir = (realPath ?? path).replace(/\/[^/]*$/, "");
    if (await fs.isExecutable(`${dir}/tailscaled`)) facts.tailscaledBeside = true;
  }
  const variant = detectVariant(facts);
  const install: TailscaleInstall = {
    path,
    variant,
    source,
    os,
    startHint: variant === "tailscaled"
      ? tailscaledStartHint(realPath ?? path)
      : startHintFor(os, variant),
    funnelNote: funnelNoteFor(variant),
  };
  if (version) install.version = version;
  return install;
}

/**
 * A hand-built `tailscaled` lives beside its CLI (often `~/go/bin`, which is
 * not on root's PATH under sudo): name it by its full path.
 */
export function tailscaledStartHint(cliPath: string): StartHint {
  const dir = cliPath.replace(/\/[^/]*$/, "");
  return {
    description: "install and start tailscaled as a LaunchDaemon",
    command: `sudo ${dir}/tailscaled install-system-daemon`,
  };
}

/** How to name the CLI in a fix: `tailscale` when found on `PATH`, else its full path. */
export function commandNameFor(install: Pick<TailscaleInstall, "path" | "source">): string {
  return install.source === "path" ? "tailscale" : install.path;
}

/** Options for {@link cliFromInstall}. */
export interface CliFromInstallOptions {
  /** The injected dax `$`. */
  $: Shell;
  /** Extra environment for the CLI. */
  env?: Record<string, string>;
  /** The real user name for `--operator=` fixes (the caller's `SUDO_USER ?? USER`). */
  user?: string;
}

/** Builds the {@link TailscaleCli} handle for a located install (fixes name its command and user). */
export function cliFromInstall(
  install: TailscaleInstall,
  options: CliFromInstallOptions,
): TailscaleCli {
  return tailscaleCli({
    $: options.$,
    path: install.path,
    ...(options.env ? { env: options.env } : {}),
    platform: {
      os: install.os,
      variant: install.variant,
      command: commandNameFor(install),
      ...(options.user ? { user: options.user } : {}),
      ...(install.version ? { version: install.version.short } : {}),
    },
  });
}
