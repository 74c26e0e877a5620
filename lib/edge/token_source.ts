/**
 * Where the edge gets the gateway's bearer token: OpenClaw's own JSON5
 * config (`gateway.auth.token`), re-read when the file changes, with the
 * `OPENCLAW_GATEWAY_TOKEN` environment variable as the fallback (the same
 * order OpenClaw's local clients use).
 *
 * The token is never logged, never put in an error message.
 *
 * @module
 */
import { parseJson5 } from "../json5.ts";
import type { EnvLookup } from "../paths.ts";

/** Returns the gateway token now (cheap: cached, re-validated by `stat`), or `undefined`. */
export type TokenSource = () => Promise<string | undefined>;

/** Options of {@link createConfigTokenSource}. */
export interface ConfigTokenSourceOptions {
  /** Environment lookup for `${VAR}` substitution and the fallback. Default `Deno.env.get`. */
  env?: EnvLookup;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
  /** Minimum interval between `stat`s of the config file, ms. Default 250. */
  checkIntervalMs?: number;
}

/** A token source that always answers `token` (tests, or a token from elsewhere). */
export function staticTokenSource(token: string | undefined): TokenSource {
  const answer = Promise.resolve(token);
  return () => answer;
}

/**
 * A token source reading `gateway.auth.token` from OpenClaw's config at
 * `configPath`. The file is `stat`ed at most every `checkIntervalMs` and
 * re-parsed only when its mtime, size or inode changed; a file that does not
 * parse keeps the last good token (a half-written edit must not cut traffic).
 * `${VAR}` substitution and `{ source: "env", id }` secret refs are resolved
 * from `env`; with no token in the file, `OPENCLAW_GATEWAY_TOKEN` is used.
 */
export function createConfigTokenSource(
  configPath: string,
  options: ConfigTokenSourceOptions = {},
): TokenSource {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const now = options.now ?? Date.now;
  const interval = options.checkIntervalMs ?? 250;
  let checkedAt = -Infinity;
  let signature: string | undefined;
  let fromFile: string | undefined;
  let checking: Promise<void> | undefined;

  const check = async (): Promise<void> => {
    try {
      const info = await Deno.stat(configPath);
      const sig = `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
      if (sig === signature) return;
      const text = await Deno.readTextFile(configPath);
      let config: unknown;
      try {
        config = parseJson5(text);
      } catch {
        return; // keep the last good token; try again on the next change
      }
      fromFile = tokenFromConfig(config, env);
      signature = sig;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        fromFile = undefined;
        signature = "missing";
      }
      // Other errors (permissions): keep what we had.
    } finally {
      checkedAt = now();
      checking = undefined;
    }
  };

  return async () => {
    if (now() - checkedAt >= interval) {
      checking ??= check();
      await checking;
    }
    if (fromFile !== undefined) return fromFile;
    const fallback = env("OPENCLAW_GATEWAY_TOKEN");
    return fallback ? fallback : undefined;
  };
}

/**
 * `gateway.auth.token` of a parsed OpenClaw config, resolved; `undefined`
 * when absent or unresolvable.
 *
 * @param config the parsed config
 * @param env environment lookup for `${VAR}` and `{ source: "env" }` references
 */
export function tokenFromConfig(config: unknown, env: EnvLookup): string | undefined {
  const token = (config as { gateway?: { auth?: { token?: unknown } } } | null)?.gateway?.auth
    ?.token;
  if (typeof token === "string") {
    const value = substituteEnv(token, env);
    return value === undefined || value === "" ? undefined : value;
  }
  if (typeof token === "number") return String(token);
  if (typeof token === "object" && token !== null) {
    const ref = token as { source?: unknown; id?: unknown };
    if (ref.source === "env" && typeof ref.id === "string") return env(ref.id) || undefined;
  }
  return undefined;
}

/**
 * OpenClaw's `${VAR}` substitution (upper-case names; `$${VAR}` is a literal
 * `${VAR}`). `undefined` when a referenced variable is missing or empty.
 *
 * @param value a config string
 * @param env environment lookup
 */
export function substituteEnv(value: string, env: EnvLookup): string | undefined {
  if (!value.includes("${")) return value;
  let missing = false;
  const out = value.replace(/\$?\$\{([A-Z_][A-Z0-9_]*)\}/g, (match, name: string) => {
    if (match.startsWith("$$")) return match.slice(1);
    const v = env(name);
    if (!v) missing = true;
    return v ?? "";
  });
  return missing ? undefined : out;
}
