/**
 * Where OpenClaw keeps its config, state and environment, found the way
 * OpenClaw finds them: `OPENCLAW_CONFIG_PATH`/`_STATE_DIR`/`_HOME`, named
 * profiles and their derived ports, the legacy `~/.clawdbot` directory, and the
 * dotenv files it resolves variables from.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { OpenClawLocation } from "../core/layer_types.ts";

/** The gateway's default port. */
export const DEFAULT_GATEWAY_PORT = 18789;

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return `${home}${path.slice(1)}`;
  return path;
}

/** Whether a path exists (OpenClaw decides its directories with `existsSync`). */
export type PathExists = (path: string) => boolean;

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/i;

/** A named profile from `OPENCLAW_PROFILE` (`default`, blank or invalid: none), as OpenClaw reads it. */
export function profileName(env: EnvLookup): string | undefined {
  const p = env("OPENCLAW_PROFILE")?.trim();
  if (!p || p.toLowerCase() === "default" || !PROFILE_NAME.test(p)) return undefined;
  return p;
}

/**
 * The environment `openclaw --profile <name>` runs with: `OPENCLAW_PROFILE`,
 * `OPENCLAW_STATE_DIR=~/.openclaw-<name>` and `OPENCLAW_CONFIG_PATH` inside
 * it (explicit values the caller set win, as in OpenClaw's `applyCliProfileEnv`).
 *
 * @throws {EctoError} `openclaw_profile_invalid` for a name OpenClaw would refuse.
 */
export function withProfileEnv(env: EnvLookup, profile: string): EnvLookup {
  if (!PROFILE_NAME.test(profile)) {
    throw new EctoError(
      "openclaw_profile_invalid",
      `"${profile}" is not an OpenClaw profile name.`,
      {
        fix: 'Use letters, numbers, "_" and "-" only, as with `openclaw --profile`.',
      },
    );
  }
  const home = env("OPENCLAW_HOME") ?? env("HOME") ?? "";
  const stateDir = env("OPENCLAW_STATE_DIR") ??
    (profile.toLowerCase() === "default" ? `${home}/.openclaw` : `${home}/.openclaw-${profile}`);
  const overlay: Record<string, string> = {
    OPENCLAW_PROFILE: profile,
    OPENCLAW_STATE_DIR: stateDir,
    OPENCLAW_CONFIG_PATH: env("OPENCLAW_CONFIG_PATH") ?? `${stateDir}/openclaw.json`,
  };
  if (profile === "dev" && !env("OPENCLAW_GATEWAY_PORT")) overlay.OPENCLAW_GATEWAY_PORT = "19001";
  return (name) => overlay[name] ?? env(name);
}

/**
 * The gateway port OpenClaw 2026.9.6 derives for a named profile when
 * `gateway.port` is unset (`resolveGatewayPort` in its `paths-*.mjs`):
 * 20000 + FNV-1a(name, UTF-8) mod 40000.
 */
export function profilePort(profile: string): number {
  let hash = 2166136261;
  for (const byte of new TextEncoder().encode(profile)) {
    hash = Math.imul(hash ^ byte, 16777619) >>> 0;
  }
  return 20000 + hash % 40000;
}

/**
 * Resolves the active config path like OpenClaw 2026.9.6 (`resolveStateDir`,
 * `resolveConfigPathCandidate`): `OPENCLAW_CONFIG_PATH`; else
 * `OPENCLAW_STATE_DIR/openclaw.json` (or `clawdbot.json` there); else the
 * first existing of `~/.openclaw/{openclaw,clawdbot}.json` and
 * `~/.clawdbot/{openclaw,clawdbot}.json`, `~` being `OPENCLAW_HOME` or
 * `HOME`. The state directory is `~/.openclaw` when it exists, else an
 * existing legacy `~/.clawdbot`. (`OPENCLAW_PROFILE` alone does not change
 * the path in this release; `--profile` sets the variables, see
 * {@link withProfileEnv}.)
 */
export function resolveOpenClawLocation(
  env: EnvLookup,
  exists: PathExists = existsSync,
): OpenClawLocation {
  const osHome = env("HOME") ?? env("USERPROFILE");
  const home = env("OPENCLAW_HOME") ? expandHome(env("OPENCLAW_HOME")!, osHome ?? "") : osHome;
  if (!home) {
    throw new EctoError("home_not_set", "HOME is not set, so ecto cannot find OpenClaw's config.", {
      fix: "export HOME=/path/to/your/home",
    });
  }
  const profile = profileName(env);
  const isLegacy = (path: string) =>
    path.endsWith("/clawdbot.json") || path.startsWith(`${home}/.clawdbot/`);
  const stateDirEnv = env("OPENCLAW_STATE_DIR");
  const newDir = `${home}/.openclaw`;
  const legacyDir = `${home}/.clawdbot`;
  const stateDir = stateDirEnv
    ? expandHome(stateDirEnv, home)
    : exists(newDir)
    ? newDir
    : exists(legacyDir)
    ? legacyDir
    : newDir;
  const configEnv = env("OPENCLAW_CONFIG_PATH");
  if (configEnv) {
    const configPath = expandHome(configEnv, home);
    return {
      configPath,
      stateDir,
      home,
      source: "OPENCLAW_CONFIG_PATH",
      legacy: isLegacy(configPath) || isLegacy(`${stateDir}/`),
      profile,
    };
  }
  const candidates = stateDirEnv ? [`${stateDir}/openclaw.json`, `${stateDir}/clawdbot.json`] : [
    `${newDir}/openclaw.json`,
    `${newDir}/clawdbot.json`,
    `${legacyDir}/openclaw.json`,
    `${legacyDir}/clawdbot.json`,
  ];
  const configPath = candidates.find(exists) ?? `${stateDir}/openclaw.json`;
  return {
    configPath,
    stateDir,
    home,
    source: stateDirEnv ? "OPENCLAW_STATE_DIR" : env("OPENCLAW_HOME") ? "OPENCLAW_HOME" : "HOME",
    legacy: isLegacy(configPath) || isLegacy(`${stateDir}/`),
    profile,
  };
}

/**
 * OpenClaw 2026.9.6 will not start while its state-dir migration from the
 * legacy `~/.clawdbot` is pending and `~/.openclaw` already exists (its
 * startup migration refuses, `gateway.maintenance_required`): typically the
 * old skill's credentials file created `~/.openclaw`. Returns the two
 * directories when that is the case.
 */
export function blockedLegacyMigration(
  env: EnvLookup,
): { source: string; target: string } | undefined {
  if (env("OPENCLAW_STATE_DIR")) return undefined;
  const home = env("OPENCLAW_HOME") ?? env("HOME");
  if (!home) return undefined;
  const source = `${home}/.clawdbot`;
  const target = `${home}/.openclaw`;
  try {
    const info = Deno.lstatSync(source);
    if (info.isSymlink || !info.isDirectory) return undefined; // already migrated (a mirror)
    if (!Deno.statSync(target).isDirectory) return undefined;
  } catch {
    return undefined;
  }
  return { source, target };
}

/**
 * Parses a dotenv file with the `dotenv` package OpenClaw itself uses
 * (pinned to the version OpenClaw 2026.9.6 ships), keeping only portable
 * variable names as OpenClaw does.
 */
export async function parseDotEnv(text: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (text.trim() === "") return out;
  // Loaded on first use: most machines have no OpenClaw .env file, and the edge stays smaller.
  const { parse } = await import("dotenv");
  for (const [key, value] of Object.entries(parse(text))) {
    const k = key.trim();
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) out[k] = value;
  }
  return out;
}

/**
 * The dotenv files OpenClaw's gateway and CLI read, in precedence order
 * (first wins; the process environment beats all): `<stateDir>/.env`, then
 * `~/.config/openclaw/gateway.env` when the state dir is the default one.
 */
export function openClawEnvFiles(location: Pick<OpenClawLocation, "stateDir" | "home">): string[] {
  const files = [`${location.stateDir}/.env`];
  if (location.stateDir === `${location.home}/.openclaw`) {
    files.push(`${location.home}/.config/openclaw/gateway.env`);
  }
  return files;
}

/**
 * The environment OpenClaw resolves `${VAR}`/env SecretRefs from: the process
 * environment first, then its dotenv files ({@link openClawEnvFiles}).
 */
export async function openClawEnvLookup(
  env: EnvLookup,
  location: Pick<OpenClawLocation, "stateDir" | "home"> | string,
): Promise<EnvLookup> {
  const loc = typeof location === "string"
    ? { stateDir: location, home: env("OPENCLAW_HOME") ?? env("HOME") ?? "" }
    : location;
  const merged: Record<string, string> = {};
  for (const file of openClawEnvFiles(loc)) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      continue;
    }
    for (const [k, v] of Object.entries(await parseDotEnv(text))) if (!(k in merged)) merged[k] = v;
  }
  return (name) => env(name) ?? merged[name];
}

export type { OpenClawLocation };
