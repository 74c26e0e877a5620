/**
 * Installs the pinned real OpenClaw for end-to-end tests: `node@NODE_VERSION`
 * then `openclaw@OPENCLAW_VERSION`, both from the npm registry with npm, into
 * a cache directory that is reused across runs. Two test files calling
 * {@link ensureOpenClaw} at the same time serialise on an advisory file lock.
 *
 * @module
 */

/** The OpenClaw release the e2e tests pin. */
export const OPENCLAW_VERSION = "2026.9.6";
/** The Node release OpenClaw runs under (OpenClaw needs `>=24.16 <25 || >=26.1`). */
export const NODE_VERSION = "26.10.0";

/** Where the pinned OpenClaw lives. */
export interface OpenClawInstall {
  /** `<cacheDir>/node_modules/.bin/openclaw` (a `#!/usr/bin/env node` script). */
  openclawBin: string;
  /** `<cacheDir>/node_modules/node/bin`: put it first on `PATH` for `openclaw`. */
  nodeBinDir: string;
  /** The npm prefix holding both packages. */
  cacheDir: string;
}

/** `$ECTO_TEST_CACHE` or `~/.cache/ecto/openclaw-<version>`. */
export function openClawCacheDir(): string {
  const explicit = Deno.env.get("ECTO_TEST_CACHE");
  if (explicit) return explicit;
  const home = Deno.env.get("HOME");
  if (!home) throw new Error("HOME is not set; set ECTO_TEST_CACHE to the OpenClaw cache dir");
  return `${home}/.cache/ecto/openclaw-${OPENCLAW_VERSION}`;
}

function installPaths(cacheDir: string): OpenClawInstall {
  return {
    openclawBin: `${cacheDir}/node_modules/.bin/openclaw`,
    nodeBinDir: `${cacheDir}/node_modules/node/bin`,
    cacheDir,
  };
}

async function packageVersion(path: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await Deno.readTextFile(path)) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** What is installed in `cacheDir`: both pins present and complete? */
async function installedState(cacheDir: string): Promise<{ node: boolean; openclaw: boolean }> {
  const p = installPaths(cacheDir);
  const node = (await packageVersion(`${cacheDir}/node_modules/node/package.json`)) ===
      NODE_VERSION && await exists(`${p.nodeBinDir}/node`);
  const openclaw = (await packageVersion(`${cacheDir}/node_modules/openclaw/package.json`)) ===
      OPENCLAW_VERSION && await exists(p.openclawBin);
  return { node, openclaw };
}

/**
 * Makes sure the pinned Node and OpenClaw are installed and returns where.
 * Fast when they already are (two file reads); otherwise runs npm (about
 * 330 MB, ~40 s), streaming npm's output lines to `onProgress`.
 */
export async function ensureOpenClaw(
  opts: { onProgress?: (line: string) => void } = {},
): Promise<OpenClawInstall> {
  const progress = opts.onProgress ?? (() => {});
  const cacheDir = openClawCacheDir();
  const paths = installPaths(cacheDir);
  let state = await installedState(cacheDir);
  if (state.node && state.openclaw) {
    progress(`openclaw@${OPENCLAW_VERSION} and node@${NODE_VERSION} already in ${cacheDir}`);
    return paths;
  }

  await Deno.mkdir(cacheDir, { recursive: true });
  const lock = await Deno.open(`${cacheDir}.lock`, { create: true, write: true });
  try {
    progress(`waiting for the install lock ${cacheDir}.lock`);
    await lock.lock(true);
    state = await installedState(cacheDir); // another process may have finished meanwhile
    if (!(await exists(`${cacheDir}/package.json`))) {
      await Deno.writeTextFile(
        `${cacheDir}/package.json`,
        JSON.stringify({ private: true, description: "ecto e2e: pinned OpenClaw" }, null, 2) +
          "\n",
      );
    }
    if (!state.node) {
      progress(`installing node@${NODE_VERSION} into ${cacheDir} with npm ...`);
      await npmInstall(cacheDir, `node@${NODE_VERSION}`, undefined, progress);
    }
    if (!state.openclaw) {
      progress(`installing openclaw@${OPENCLAW_VERSION} into ${cacheDir} with npm (~330 MB) ...`);
      await npmInstall(cacheDir, `openclaw@${OPENCLAW_VERSION}`, paths.nodeBinDir, progress);
    }
    state = await installedState(cacheDir);
    if (!state.node || !state.openclaw) {
      throw new Error(
        `npm finished but ${cacheDir} still lacks ${state.node ? "" : `node@${NODE_VERSION} `}${
          state.openclaw ? "" : `openclaw@${OPENCLAW_VERSION}`
        }`,
      );
    }
    progress(`installed openclaw@${OPENCLAW_VERSION} under node@${NODE_VERSION} in ${cacheDir}`);
    return paths;
  } finally {
    lock.close(); // releases the lock
  }
}

async function npmInstall(
  cacheDir: string,
  spec: string,
  nodeBinDir: string | undefined,
  progress: (line: string) => void,
): Promise<void> {
  const env: Record<string, string> = { npm_config_update_notifier: "false" };
  if (nodeBinDir) env.PATH = `${nodeBinDir}:${Deno.env.get("PATH") ?? ""}`;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("npm", {
      args: ["install", "--no-audit", "--no-fund", "--save-exact", "--prefix", cacheDir, spec],
      cwd: cacheDir,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new Error(`cannot run npm to install ${spec}; install Node.js with npm first`, {
      cause: error,
    });
  }
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trimEnd();
        buf = buf.slice(nl + 1);
        if (line) {
          lines.push(line);
          progress(`npm: ${line}`);
        }
      }
    }
    if (buf.trim()) {
      lines.push(buf.trim());
      progress(`npm: ${buf.trim()}`);
    }
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  if (!status.success) {
    throw new Error(
      `npm install ${spec} failed with exit code ${status.code}:\n${lines.slice(-15).join("\n")}`,
    );
  }
}
