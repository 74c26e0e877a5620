/**
 * Finding and reading OpenClaw's config file (JSON5) the way OpenClaw does,
 * and turning it into the facts ecto needs: port, bind, auth mode, whether a
 * usable credential exists, endpoint flags, trusted proxies. ecto reads the
 * file itself because `openclaw config get` redacts the gateway token.
 *
 * @module
 */
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import { parse as parseDotEnvText } from "dotenv";
import { Json5SyntaxError, parseJson5 } from "../core/json5.ts";
import type { EnvLookup } from "../core/paths.ts";
import type {
  CredentialState,
  GatewayCredential,
  GatewaySettings,
  OpenClawLocation,
} from "../core/layer_types.ts";

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

/** A config file as read from disk. */
export interface OpenClawConfigFile {
  /** The file. */
  path: string;
  /** `false`: no file; OpenClaw then runs on built-in defaults. */
  exists: boolean;
  /** The raw text ("" when absent). */
  text: string;
  /** The parsed config (`{}` when absent). */
  config: Record<string, unknown>;
  /** Modification time in ms, `null` when absent. */
  mtimeMs: number | null;
}

/**
 * Reads and parses the config file.
 *
 * @throws {EctoError} `openclaw_config_invalid` naming the file, line and
 *   column when it does not parse; `openclaw_config_unreadable` otherwise.
 */
export async function readOpenClawConfig(path: string): Promise<OpenClawConfigFile> {
  let text: string;
  let mtimeMs: number | null = null;
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      throw new EctoError(
        "openclaw_config_unreadable",
        `OpenClaw config ${path} is a directory, not a file.`,
        { fix: `Point OPENCLAW_CONFIG_PATH at the config file, or remove ${path}.` },
      );
    }
    mtimeMs = info.mtime?.getTime() ?? null;
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof EctoError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      return { path, exists: false, text: "", config: {}, mtimeMs: null };
    }
    throw new EctoError(
      "openclaw_config_unreadable",
      `ecto cannot read the OpenClaw config ${path}.`,
      { fix: `Check the file's owner and permissions: ls -l ${path}`, cause: error },
    );
  }
  return { path, exists: true, text, config: parseOpenClawConfigText(text, path), mtimeMs };
}

/**
 * Parses config text (JSON5) whose root must be an object.
 *
 * @throws {EctoError} `openclaw_config_invalid` with `path:line:column` and the fix.
 */
export function parseOpenClawConfigText(text: string, path: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = parseJson5(text);
  } catch (error) {
    if (error instanceof Json5SyntaxError) {
      throw new EctoError(
        "openclaw_config_invalid",
        `OpenClaw config ${path} does not parse: ${error.reason} at line ${error.line}, column ${error.column}.`,
        {
          fix:
            `Fix the JSON5 at ${path}:${error.line}:${error.column}, then check it with \`openclaw config validate\`.`,
          cause: error,
        },
      );
    }
    throw error;
  }
  if (!isRecord(value)) {
    throw new EctoError(
      "openclaw_config_invalid",
      `OpenClaw config ${path} does not hold an object at the top level.`,
      { fix: `Make ${path} a JSON5 object ({ ... }), then run \`openclaw config validate\`.` },
    );
  }
  return value;
}

/** `true` for plain objects (not arrays, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at `path` (a list of keys), or `undefined`. */
export function getPath(config: unknown, path: readonly string[]): unknown {
  let node: unknown = config;
  for (const key of path) {
    if (!isRecord(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/** Whether `path` exists in `config` (even with value `null`). */
export function hasPath(config: unknown, path: readonly string[]): boolean {
  let node: unknown = config;
  for (const key of path) {
    if (!isRecord(node) || !Object.hasOwn(node, key)) return false;
    node = node[key];
  }
  return true;
}

/**
 * Parses a dotenv file with the `dotenv` package OpenClaw itself uses
 * (pinned to the version OpenClaw 2026.9.6 ships), keeping only portable
 * variable names as OpenClaw does.
 */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parseDotEnvText(text))) {
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
    for (const [k, v] of Object.entries(parseDotEnv(text))) if (!(k in merged)) merged[k] = v;
  }
  return (name) => env(name) ?? merged[name];
}

const PLACEHOLDER =
  /^(?:undefined|null|none|changeme|change[-_ ]?me|your[-_ ]?(?:gateway[-_ ]?)?(?:token|password).*|<[^>]*>|x{3,}|\.\.\.|todo|replace[-_ ]?me|example|secret|token|password)$/i;
const ENV_TEMPLATE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$|^\$([A-Z_][A-Z0-9_]*)$/;

function credentialState(
  value: unknown,
  envVar: "OPENCLAW_GATEWAY_TOKEN" | "OPENCLAW_GATEWAY_PASSWORD",
  env: EnvLookup,
): CredentialState {
  if (value === undefined || value === null) {
    const fromEnv = env(envVar);
    if (fromEnv !== undefined && fromEnv.trim() !== "") {
      return { state: "env", envVar, origin: "env-only", value: fromEnv };
    }
    return { state: "absent" };
  }
  if (typeof value === "string") {
    const template = ENV_TEMPLATE.exec(value.trim());
    if (template) {
      const name = template[1] ?? template[2];
      const resolved = env(name);
      return resolved !== undefined && resolved.trim() !== ""
        ? { state: "env", envVar: name, origin: "template", value: resolved }
        : { state: "env", envVar: name, origin: "template" };
    }
    if (value.trim() === "") return { state: "invalid", reason: "it is blank" };
    if (PLACEHOLDER.test(value.trim())) {
      return { state: "invalid", reason: "it is a placeholder, which the gateway rejects" };
    }
    return { state: "plain", value };
  }
  if (isRecord(value) && typeof value.source === "string" && typeof value.id === "string") {
    const provider = typeof value.provider === "string" ? value.provider : undefined;
    if (value.source === "env") {
      const resolved = env(value.id);
      return resolved !== undefined && resolved.trim() !== ""
        ? { state: "env", envVar: value.id, origin: "secret-ref", value: resolved }
        : { state: "env", envVar: value.id, origin: "secret-ref" };
    }
    return provider === undefined
      ? { state: "secret-ref", source: value.source, id: value.id }
      : { state: "secret-ref", source: value.source, provider, id: value.id };
  }
  return {
    state: "invalid",
    reason: `it is a ${Array.isArray(value) ? "list" : typeof value}, not a string`,
  };
}

function usable(
  state: CredentialState,
  kind: "token" | "password",
  env: EnvLookup,
): GatewayCredential | undefined {
  if (state.state === "plain") return { kind, value: state.value, source: "config" };
  if (state.state === "env" && state.value !== undefined) {
    return { kind, value: state.value, source: "env", envVar: state.envVar };
  }
  if (state.state === "secret-ref") {
    // ecto cannot resolve file/exec/store refs; the user may hand it the value.
    const envVar = kind === "token" ? "OPENCLAW_GATEWAY_TOKEN" : "OPENCLAW_GATEWAY_PASSWORD";
    const value = env(envVar);
    if (value !== undefined && value.trim() !== "") return { kind, value, source: "env", envVar };
  }
  return undefined;
}

/** Whether a `gateway.bind` value keeps the gateway on loopback only. */
export function isLoopbackBind(bind: string, customBindHost?: string): boolean {
  if (bind === "loopback") return true;
  if (bind === "custom") {
    return customBindHost !== undefined &&
      (customBindHost.startsWith("127.") || customBindHost === "::1" ||
        customBindHost === "localhost");
  }
  return false;
}

/**
 * Reads the gateway settings from a parsed config. `env` is the environment
 * OpenClaw resolves variables from (see {@link openClawEnvLookup}): it decides
 * `OPENCLAW_GATEWAY_PORT` and env-sourced tokens. Pure.
 */
export function inspectGatewaySettings(
  config: Record<string, unknown>,
  env: EnvLookup = () => undefined,
): GatewaySettings {
  const gateway = isRecord(config.gateway) ? config.gateway : {};
  const auth = isRecord(gateway.auth) ? gateway.auth : {};

  let port = DEFAULT_GATEWAY_PORT;
  let portSource: GatewaySettings["portSource"] = "default";
  const envPort = gatewayPortFromEnv(env("OPENCLAW_GATEWAY_PORT"));
  const profile = profileName(env);
  if (envPort !== undefined) {
    port = envPort;
    portSource = "env";
  } else if (
    typeof gateway.port === "number" && Number.isInteger(gateway.port) && gateway.port > 0
  ) {
    port = gateway.port;
    portSource = "config";
  } else if (profile !== undefined) {
    port = profilePort(profile);
    portSource = "profile";
  }

  const bind = typeof gateway.bind === "string" ? gateway.bind : "loopback";
  const customBindHost = typeof gateway.customBindHost === "string"
    ? gateway.customBindHost
    : undefined;
  const host = bind === "custom" && customBindHost && customBindHost !== "0.0.0.0"
    ? customBindHost
    : "127.0.0.1";

  const token = credentialState(auth.token, "OPENCLAW_GATEWAY_TOKEN", env);
  const password = credentialState(auth.password, "OPENCLAW_GATEWAY_PASSWORD", env);
  const authMode = typeof auth.mode === "string" ? auth.mode : undefined;
  let effectiveAuthMode: GatewaySettings["effectiveAuthMode"];
  if (authMode === "token" || authMode === "password" || authMode === "none") {
    effectiveAuthMode = authMode;
  } else if (authMode === "trusted-proxy") {
    effectiveAuthMode = "trusted-proxy";
  } else {
    const hasToken = token.state !== "absent";
    const hasPassword = password.state !== "absent";
    effectiveAuthMode = hasToken && hasPassword ? "ambiguous" : hasPassword ? "password" : "token";
  }
  const credential = effectiveAuthMode === "password"
    ? usable(password, "password", env)
    : effectiveAuthMode === "token"
    ? usable(token, "token", env)
    : undefined;

  const endpoints = getPath(gateway, ["http", "endpoints"]);
  const trusted = gateway.trustedProxies;
  return {
    mode: typeof gateway.mode === "string" ? gateway.mode : undefined,
    port,
    portSource,
    bind,
    customBindHost,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    authMode,
    effectiveAuthMode,
    token,
    password,
    credential,
    chatCompletions: getPath(endpoints, ["chatCompletions", "enabled"]) === true,
    responses: getPath(endpoints, ["responses", "enabled"]) === true,
    trustedProxies: Array.isArray(trusted)
      ? trusted.filter((t): t is string => typeof t === "string")
      : undefined,
    reloadMode: typeof getPath(gateway, ["reload", "mode"]) === "string"
      ? getPath(gateway, ["reload", "mode"]) as string
      : undefined,
    tailscaleMode: typeof getPath(gateway, ["tailscale", "mode"]) === "string"
      ? getPath(gateway, ["tailscale", "mode"]) as string
      : "off",
  };
}

/** `OPENCLAW_GATEWAY_PORT` as OpenClaw reads it: `PORT`, `HOST:PORT` or `[V6]:PORT`. */
function gatewayPortFromEnv(raw: string | undefined): number | undefined {
  const t = raw?.trim();
  if (!t) return undefined;
  const m = /^(\d+)$/.exec(t) ?? /^\[[^\]]+\]:(\d+)$/.exec(t) ?? /^[^:]+:(\d+)$/.exec(t);
  const port = m ? Number(m[1]) : NaN;
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * The error for a credential the gateway has but ecto cannot read: what ecto
 * needs from the user, and how to give it.
 */
export function credentialUnavailableError(
  kind: "token" | "password",
  state: CredentialState,
  configPath: string,
): ActionRequiredError {
  const what = kind === "token" ? "gateway token" : "gateway password";
  const defaultVar = kind === "token" ? "OPENCLAW_GATEWAY_TOKEN" : "OPENCLAW_GATEWAY_PASSWORD";
  if (state.state === "env") {
    const how = state.origin === "env-only"
      ? `comes only from the environment variable ${state.envVar}`
      : `comes from the environment variable ${state.envVar} (${configPath})`;
    return new ActionRequiredError(
      "openclaw_credential_unavailable",
      `The OpenClaw ${what} ${how}, which is not set where ecto runs, so ecto cannot authenticate to the gateway.`,
      { fix: `export ${state.envVar}=<the gateway's ${kind}> in this shell, then run ecto again` },
    );
  }
  if (state.state === "secret-ref") {
    return new ActionRequiredError(
      "openclaw_credential_unavailable",
      `The OpenClaw ${what} is a ${state.source} SecretRef (${state.id}) in ${configPath}, which ecto cannot resolve.`,
      {
        fix: `export ${defaultVar}=<the resolved ${kind}> in this shell, then run ecto again`,
      },
    );
  }
  return new ActionRequiredError(
    "openclaw_credential_unavailable",
    `ecto cannot read the OpenClaw ${what} in ${configPath}.`,
    { fix: `export ${defaultVar}=<the gateway's ${kind}>, then run ecto again` },
  );
}

// Defined with the layer contracts (one types file, no import cycles); exported here too.
export type { CredentialState, GatewayCredential, GatewaySettings, OpenClawLocation };
