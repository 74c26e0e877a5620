/**
 * `deno task setup-e2e`: installs the pinned OpenClaw (and Node) used by the
 * end-to-end tests, printing npm's progress. Safe to run again: a no-op when
 * both are already in the cache.
 *
 * @module
 */
import { ensureOpenClaw, NODE_VERSION, OPENCLAW_VERSION } from "./openclaw_install.ts";

if (import.meta.main) {
  const started = Date.now();
  // deno-lint-ignore no-console
  const log = (line: string) => console.log(line);
  log(`ecto e2e setup: openclaw@${OPENCLAW_VERSION} under node@${NODE_VERSION}`);
  const install = await ensureOpenClaw({ onProgress: log });
  log(`openclaw: ${install.openclawBin}`);
  log(`node:     ${install.nodeBinDir}/node`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
