/**
 * The credentials file the old `ecto-connection` skill wrote,
 * `~/.openclaw/ecto-credentials.json` (path from `ectoPaths(env).credentialsFile`).
 * ecto keeps its format so existing scripts keep working — `token` (the client
 * key), `url` (base URL), `port` (gateway port), `created` (ISO-8601 UTC) — and
 * adds `endpoint` and `model`. Written atomically, mode 0600.
 *
 * @module
 */
import { removeIfExists, writeJsonAtomic } from "./atomic_file.ts";
import { EctoError } from "./errors.ts";

/** The model name clients should ask for by default. */
export const DEFAULT_MODEL = "openclaw/default";

/** The credentials file's content, keys in the order they are written. */
export interface Credentials {
  /** The client key (a bearer token for the public URL). */
  token: string;
  /** Base URL, e.g. `https://build-box.tail1234.ts.net`. */
  url: string;
  /** The OpenClaw gateway's local port (18789 by default). */
  port: number;
  /** When the file was written, ISO-8601 UTC. */
  created: string;
  /** `<url>/v1/chat/completions`. */
  endpoint: string;
  /** Model name for clients, e.g. `openclaw/default`. */
  model: string;
  /** Only in private mode: `private` (the URL works only inside the tailnet). */
  mode?: "private";
  /** Only in private mode: who can reach the URL, in words. */
  reach?: string;
}

/** What {@link readCredentials} returns: older files may lack `model`. */
export interface StoredCredentials extends Omit<Credentials, "model" | "reach"> {
  /** Absent in files written by the old skill. */
  model?: string;
  /** `true` when the file is in the old skill's format (no `endpoint`/`model`). */
  legacy: boolean;
}

/** Input to {@link writeCredentials}. */
export interface CredentialsInput {
  /** The client key. */
  token: string;
  /** Base URL (a trailing slash is dropped). */
  url: string;
  /** The gateway's local port. */
  port: number;
  /** Defaults to `openclaw/default`. */
  model?: string;
  /** Defaults to now. */
  created?: Date;
  /** `private`: the URL is tailnet-only, and the file says so. Default `public`. */
  mode?: "public" | "private";
}

/** Builds the file's content (pure; keys in the seed's order, then ecto's). */
export function buildCredentials(input: CredentialsInput, now: Date = new Date()): Credentials {
  const url = input.url.replace(/\/+$/, "");
  return {
    token: input.token,
    url,
    port: input.port,
    created: (input.created ?? now).toISOString(),
    endpoint: `${url}/v1/chat/completions`,
    model: input.model ?? DEFAULT_MODEL,
    ...(input.mode === "private"
      ? {
        mode: "private" as const,
        reach: "tailnet only: this URL works only on devices in your tailnet " +
          "(Tailscale Serve, no Funnel)",
      }
      : {}),
  };
}

/**
 * Writes the credentials file atomically with mode 0600. Creates the parent
 * directory with mode 0700 when it is missing; an existing directory (the
 * user's `~/.openclaw`) keeps its mode.
 */
export async function writeCredentials(
  path: string,
  input: CredentialsInput,
): Promise<Credentials> {
  const credentials = buildCredentials(input);
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  try {
    await Deno.stat(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    if (Deno.build.os !== "windows") await Deno.chmod(dir, 0o700);
  }
  await writeJsonAtomic(path, credentials, 0o600);
  return credentials;
}

/**
 * Reads the credentials file; `undefined` when there is none. Accepts the old
 * skill's format (no `endpoint`/`model`; `endpoint` is derived). A file that
 * is not valid JSON or lacks `token`/`url`/`port` is an {@link EctoError}
 * (`credentials_corrupt`) whose message never quotes the file.
 */
export async function readCredentials(path: string): Promise<StoredCredentials | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const corrupt = (why: string) =>
    new EctoError("credentials_corrupt", `The credentials file ${path} ${why}.`, {
      fix: `Move it aside (mv ${path} ${path}.bak) and run ecto connect to write a fresh one.`,
    });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message can quote the file (and so the key): never pass it on.
    throw corrupt("is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw corrupt("does not hold a JSON object");
  }
  const v = value as Record<string, unknown>;
  if (typeof v.token !== "string" || v.token === "") throw corrupt("has no token");
  if (typeof v.url !== "string" || !/^https?:\/\//.test(v.url)) throw corrupt("has no valid url");
  const port = typeof v.port === "string" && /^\d+$/.test(v.port) ? Number(v.port) : v.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw corrupt("has no valid port");
  }
  const url = v.url.replace(/\/+$/, "");
  const stored: StoredCredentials = {
    token: v.token,
    url,
    port,
    created: typeof v.created === "string" ? v.created : "",
    endpoint: typeof v.endpoint === "string" && v.endpoint !== ""
      ? v.endpoint
      : `${url}/v1/chat/completions`,
    legacy: v.endpoint === undefined && v.model === undefined,
  };
  if (typeof v.model === "string" && v.model !== "") stored.model = v.model;
  if (v.mode === "private") stored.mode = "private";
  return stored;
}

/**
 * Where the credentials file goes: `~/.openclaw/ecto-credentials.json`, except
 * on a machine whose OpenClaw still lives in the legacy `~/.clawdbot` with no
 * `~/.openclaw`: creating `~/.openclaw` there would move OpenClaw's state dir
 * (it prefers `~/.openclaw` when that exists), so the file goes beside the
 * legacy config instead.
 */
export function credentialsFileFor(
  paths: { home: string; credentialsFile: string },
  exists: (path: string) => boolean = (path) => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  },
): string {
  if (paths.credentialsFile !== `${paths.home}/.openclaw/ecto-credentials.json`) {
    return paths.credentialsFile;
  }
  if (!exists(`${paths.home}/.openclaw`) && exists(`${paths.home}/.clawdbot`)) {
    return `${paths.home}/.clawdbot/ecto-credentials.json`;
  }
  return paths.credentialsFile;
}

/** Deletes the credentials file; `false` when there was none. */
export function removeCredentials(path: string): Promise<boolean> {
  return removeIfExists(path);
}

/**
 * A key shortened for display: at most 8 characters, e.g. `ecto_ab…`. Short
 * keys show less so that the preview never gives most of a key away.
 */
export function keyPreview(key: string): string {
  const chars = [...key];
  const shown = Math.min(7, Math.floor(chars.length / 3));
  return chars.slice(0, shown).join("") + "…";
}
