/**
 * Finding and reading OpenClaw's config file (JSON5) the way OpenClaw does,
 * and turning it into the facts ecto needs: port, bind, auth mode, whether a
 * usable credential exists, endpoint flags, trusted proxies. ecto reads the
 * file itself because `openclaw config get` redacts the gateway token.
 *
 * @module
 */
import { ActionRequiredError, EctoError } from "../errors.ts";
import { Json5SyntaxError, parseJson5 } from "../json5.ts";
import type { EnvLookup } from "../paths.ts";

/** The gateway's default port. */
export const DEFAULT_GATEWAY_PORT = 18789;

/** Where OpenClaw keeps its config and state for a given environment. */
export interface OpenClawLocation {
  /** The active config file. */
  configPath: string;
  /** The state directory (`~/.openclaw`, `$OPENCLAW_STATE_DIR`, ...). */
  stateDir: string;
  /** The home OpenClaw uses for its paths (`$OPENCLAW_HOME` or `$HOME`). */
  home: string;
  /** Which variable decided `configPath`. */
  source: "OPENCLAW_CONFIG_PATH" | "OPENCLAW_STATE_DIR" | "OPENCLAW_HOME" | "HOME";
}

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return `${home}${path.slice(1)}`;
  return path;
}

/**
 * Resolves the active config path like OpenClaw 2026.9.6:
 * `OPENCLAW_CONFIG_PATH` > `OPENCLAW_STATE_DIR/openclaw.json` >
 * `OPENCLAW_HOME/.openclaw/openclaw.json` > `HOME/.openclaw/openclaw.json`.
 * (`OPENCLAW_PROFILE` alone does not change the path in this release.)
 */
export function resolveOpenClawLocation(env: EnvLookup): OpenClawLocation {
  const osHome = env("HOME") ?? env("USERPROFILE");
  const home = env("OPENCLAW_HOME") ? expandHome(env("OPENCLAW_HOME")!, osHome ?? "") : osHome;
  if (!home) {
    throw new EctoError("home_not_set", "HOME is not set, so ecto cannot find OpenClaw's config.", {
      fix: "export HOME=/path/to/your/home",
    });
  }
  const stateDirEnv = env("OPENCLAW_STATE_DIR");
  const stateDir = stateDirEnv ? expandHome(stateDirEnv, home) : `${home}/.openclaw`;
  const configEnv = env("OPENCLAW_CONFIG_PATH");
  if (configEnv) {
    return {
      configPath: expandHome(configEnv, home),
      stateDir,
      home,
      source: "OPENCLAW_CONFIG_PATH",
    };
  }
  return {
    configPath: `${stateDir}/openclaw.json`,
    stateDir,
    home,
    source: stateDirEnv ? "OPENCLAW_STATE_DIR" : env("OPENCLAW_HOME") ? "OPENCLAW_HOME" : "HOME",
  };
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

/** Parses a dotenv file (`KEY=VALUE`, `export KEY=VALUE`, quotes, `#` comments). */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2];
    if (
      (value.startsWith('"') && value.endsWith('"')) ||
      (value.startsWith("'") && value.endsWith("'"))
    ) {
      value = value.slice(1, -1);
    } else {
      value = value.replace(/\s+#.*$/, "");
    }
    out[m[1]] = value;
  }
  return out;
}

/**
 * The environment OpenClaw resolves `${VAR}`/env SecretRefs from: the process
 * environment first, then `<stateDir>/.env` (OpenClaw also reads it).
 */
export async function openClawEnvLookup(env: EnvLookup, stateDir: string): Promise<EnvLookup> {
  let dotEnv: Record<string, string> = {};
  try {
    dotEnv = parseDotEnv(await Deno.readTextFile(`${stateDir}/.env`));
  } catch { /* no .env */ }
  return (name) => env(name) ?? dotEnv[name];
}

/** A credential ecto can send as `Authorization: Bearer <value>`. Never log `value`. */
export interface GatewayCredential {
  /** Which credential it is. */
  kind: "token" | "password";
  /** The secret itself. */
  value: string;
  /** Where it comes from: the config file, or an environment variable. */
  source: "config" | "env";
  /** The variable, for `source: "env"`. */
  envVar?: string;
}

/** What the config says about one credential (`gateway.auth.token` or `.password`). */
export type CredentialState =
  | { state: "absent" }
  /** A literal string in the config. */
  | { state: "plain"; value: string }
  /** From an environment variable (env-only, a `${VAR}` template, or an env SecretRef); `value` when ecto can see it. */
  | {
    state: "env";
    envVar: string;
    origin: "env-only" | "template" | "secret-ref";
    value?: string;
  }
  /** A file/exec/store SecretRef ecto cannot resolve. */
  | { state: "secret-ref"; source: string; provider?: string; id: string }
  /** Present but unusable (blank, placeholder, not a string). */
  | { state: "invalid"; reason: string };

/** The gateway settings ecto cares about, read from the config (+ environment). */
export interface GatewaySettings {
  /** `gateway.mode` (`local` | `remote`); the gateway refuses to start unless `local`. */
  mode: string | undefined;
  /** The port the gateway listens on. */
  port: number;
  /** `OPENCLAW_GATEWAY_PORT` > `gateway.port` > 18789. */
  portSource: "env" | "config" | "default";
  /** `gateway.bind`, default `loopback`. */
  bind: string;
  /** `gateway.customBindHost` (bind `custom`). */
  customBindHost: string | undefined;
  /** Where ecto reaches the gateway: `http://127.0.0.1:PORT` (or the custom host). */
  url: string;
  /** `gateway.auth.mode` as configured (`undefined` when unset). */
  authMode: string | undefined;
  /** The mode in force: the configured one, else inferred from which credential exists. */
  effectiveAuthMode: "token" | "password" | "none" | "trusted-proxy" | "ambiguous";
  /** `gateway.auth.token` (or `OPENCLAW_GATEWAY_TOKEN`). */
  token: CredentialState;
  /** `gateway.auth.password` (or `OPENCLAW_GATEWAY_PASSWORD`). */
  password: CredentialState;
  /** The credential ecto can use as the bearer, when there is one it can read. */
  credential: GatewayCredential | undefined;
  /** `gateway.http.endpoints.chatCompletions.enabled === true`. */
  chatCompletions: boolean;
  /** `gateway.http.endpoints.responses.enabled === true`. */
  responses: boolean;
  /** `gateway.trustedProxies`, `undefined` when unset. */
  trustedProxies: string[] | undefined;
  /** `gateway.reload.mode` (`hybrid` default, `off`). */
  reloadMode: string | undefined;
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
  const envPort = Number(env("OPENCLAW_GATEWAY_PORT"));
  if (env("OPENCLAW_GATEWAY_PORT") && Number.isInteger(envPort) && envPort > 0) {
    port = envPort;
    portSource = "env";
  } else if (typeof gateway.port === "number" && Number.isInteger(gateway.port)) {
    port = gateway.port;
    portSource = "config";
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
  };
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
