/**
 * Reading OpenClaw's config file (JSON5) the way OpenClaw does, and paths
 * into it. ecto reads the file itself because `openclaw config get` redacts
 * the gateway token. Where the file is: `location.ts`; what it says:
 * `settings.ts`.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import { Json5SyntaxError, parseJson5 } from "../core/json5.ts";

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
  return { path, exists: true, text, config: await parseOpenClawConfigText(text, path), mtimeMs };
}

/**
 * Parses config text (JSON5) whose root must be an object.
 *
 * @throws {EctoError} `openclaw_config_invalid` with `path:line:column` and the fix.
 */
export async function parseOpenClawConfigText(
  text: string,
  path: string,
): Promise<Record<string, unknown>> {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = await parseJson5(text);
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
