/**
 * The facts ecto needs from OpenClaw's config: port, bind, auth mode, whether
 * a usable credential exists (and where it comes from), endpoint flags,
 * trusted proxies, reload and Tailscale modes.
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { CredentialState, GatewayCredential, GatewaySettings } from "../core/layer_types.ts";
import { getPath, isRecord } from "./config.ts";
import { DEFAULT_GATEWAY_PORT, profileName, profilePort } from "./location.ts";

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

export type { CredentialState, GatewayCredential, GatewaySettings };
