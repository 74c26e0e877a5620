/**
 * Where the edge gets the gateway's bearer credential: whatever the gateway
 * itself accepts, resolved the way OpenClaw does (`inspectGatewaySettings`):
 * `gateway.auth.token` or, in password mode, `gateway.auth.password`
 * (OpenClaw accepts `Bearer <password>`), each as a literal, a `${VAR}`
 * template or an env SecretRef, else `OPENCLAW_GATEWAY_TOKEN` /
 * `OPENCLAW_GATEWAY_PASSWORD` from the edge's environment or OpenClaw's
 * dotenv files. Last, a copy connect left in ecto's 0600
 * `gateway-credential` file when the credential lived only in the
 * environment ecto ran in (the edge's supervisor does not pass secrets).
 * The files are re-read when they change.
 *
 * The credential is never logged, never put in an error message.
 *
 * @module
 */
import { parseJson5 } from "../core/json5.ts";
import { inspectGatewaySettings } from "../openclaw/settings.ts";
import { openClawEnvFiles, parseDotEnv, resolveOpenClawLocation } from "../openclaw/location.ts";
import { ectoPaths, type EnvLookup } from "../core/paths.ts";

/** Returns the gateway credential now (cheap: cached, re-validated by a `stat` per call), or `undefined`. */
export type TokenSource = () => Promise<string | undefined>;

/** Options of {@link createConfigTokenSource}. */
export interface ConfigTokenSourceOptions {
  /** Environment lookup for `${VAR}` substitution and the fallback. Default `Deno.env.get`. */
  env?: EnvLookup;
  /** ecto's copy of an environment-only credential (default `<ecto state>/gateway-credential`). */
  credentialFile?: string;
}

/** ecto's 0600 copy of a gateway credential that lives only in the environment. */
export function gatewayCredentialFile(stateDir: string): string {
  return `${stateDir}/gateway-credential`;
}

/** A token source that always answers `token` (tests, or a token from elsewhere). */
export function staticTokenSource(token: string | undefined): TokenSource {
  const answer = Promise.resolve(token);
  return () => answer;
}

function trySig(path: string): string | undefined {
  try {
    const info = Deno.statSync(path);
    return `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
  } catch {
    return undefined;
  }
}

/** Whether a signature's mtime is so recent that a second change in the same ms could hide. */
function fresh(sig: string): boolean {
  return Date.now() - Number(sig.slice(0, sig.indexOf(":"))) < 5;
}

/**
 * Signs files with one `stat` each. A missing file (most `.env` files are) is signed by its
 * nearest existing directory instead, whose mtime changes when the file, or a directory on its
 * way, appears: a failed `stat` throws, ~30 µs here against ~5 µs for one that succeeds.
 */
function fileSigner(): (path: string) => string {
  const watched = new Map<string, { dir: string; sig: string }>();
  return (path) => {
    const watch = watched.get(path);
    if (watch) {
      // (mtimes are in ms: a directory changed just now is not trusted to show the next change)
      if (trySig(watch.dir) === watch.sig && !fresh(watch.sig)) return `missing@${watch.sig}`;
      watched.delete(path);
    }
    const sig = trySig(path);
    if (sig !== undefined) return sig;
    let dir = path;
    let dirSig: string | undefined;
    do {
      dir = dir.slice(0, dir.lastIndexOf("/")) || "/";
      dirSig = trySig(dir);
    } while (dirSig === undefined && dir !== "/");
    watched.set(path, { dir, sig: dirSig ?? "-" });
    return `missing@${dirSig ?? "-"}`;
  };
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * A credential source reading OpenClaw's config at `configPath` (and its
 * dotenv files, and ecto's copy). The files are `stat`ed on every call
 * (synchronously, a few µs, as `KeyStore.verify` does) and re-read only when
 * one's mtime, size or inode changed, so a rotated token is used by the very
 * next request; a config that does not parse keeps the last good credential
 * (a half-written edit must not cut traffic).
 */
export function createConfigTokenSource(
  configPath: string,
  options: ConfigTokenSourceOptions = {},
): TokenSource {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  let envFiles: string[] = [];
  try {
    envFiles = openClawEnvFiles(resolveOpenClawLocation(env));
  } catch { /* no HOME: no dotenv files */ }
  let copyFile = options.credentialFile;
  if (copyFile === undefined) {
    try {
      copyFile = gatewayCredentialFile(ectoPaths(env).stateDir);
    } catch { /* no HOME */ }
  }
  const files = [configPath, ...envFiles, ...(copyFile ? [copyFile] : [])];
  let signature: string | undefined;
  let config: unknown = {};
  let current: string | undefined;

  const sign = fileSigner();
  // Re-reads the files; only when their signature changed (a stat each, per request).
  const reload = async (sig: string): Promise<void> => {
    const text = readText(configPath);
    if (text === undefined) config = {};
    else {
      try {
        config = text.trim() === "" ? {} : await parseJson5(text);
      } catch {
        return; // keep the last good credential; try again on the next change
      }
    }
    const dotEnv: Record<string, string> = {};
    for (const file of envFiles) {
      const t = readText(file);
      if (t === undefined) continue;
      for (const [k, v] of Object.entries(await parseDotEnv(t))) if (!(k in dotEnv)) dotEnv[k] = v;
    }
    const lookup: EnvLookup = (name) => env(name) ?? dotEnv[name];
    const record = typeof config === "object" && config !== null && !Array.isArray(config)
      ? config as Record<string, unknown>
      : {};
    current = inspectGatewaySettings(record, lookup).credential?.value ??
      (copyFile ? readText(copyFile)?.trim() || undefined : undefined);
    signature = sig;
  };

  return async () => {
    const sig = files.map(sign).join("|");
    if (sig !== signature) await reload(sig);
    return current;
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
