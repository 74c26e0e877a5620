/**
 * The edge as a launchd user agent (macOS): the plist renderer, the parser
 * of `launchctl print`, and install/stop/remove/status through `launchctl`
 * (`bootstrap`, `bootout`, `kickstart -k`, `print`) in the `gui/<uid>` domain.
 *
 * @module
 */
import { writeFileAtomic } from "../core/atomic_file.ts";
import { ToolError } from "../core/errors.ts";
import type { Shell } from "../core/shell.ts";
import {
  defaultSleep,
  dirname,
  type EdgeServiceSpec,
  type EdgeServiceStatus,
  type InstallOptions,
  type InstallResult,
  pollUntil,
  readTextIfExists,
  removeIfExists,
  type ServiceDeps,
  type StopResult,
  validateSpec,
} from "./spec.ts";

/** `~/Library/LaunchAgents/<label>.plist`. */
export function launchdPlistPath(home: string, spec: Pick<EdgeServiceSpec, "label">): string {
  return `${home}/Library/LaunchAgents/${spec.label}.plist`;
}

// XML 1.0 cannot carry these at all, escaped or not.
const XML_FORBIDDEN =
  // deno-lint-ignore no-control-regex
  /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Escapes text for an XML element body; throws on characters XML cannot represent. */
export function xmlEscape(text: string): string {
  if (XML_FORBIDDEN.test(text)) {
    throw new TypeError("text contains a character that XML 1.0 cannot represent");
  }
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;")
    .replaceAll("\r", "&#13;");
}

/**
 * Renders the launchd agent for `spec`: Label, ProgramArguments,
 * EnvironmentVariables (sorted), WorkingDirectory, KeepAlive, RunAtLoad,
 * ProcessType Background, Umask 077, StandardOutPath/StandardErrorPath.
 * Pure; the same spec always gives the same text.
 */
export function renderLaunchdPlist(spec: EdgeServiceSpec): string {
  validateSpec(spec);
  const s = (text: string) => `<string>${xmlEscape(text)}</string>`;
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<!-- Written by ecto. ecto connect rewrites it; ecto disconnect removes it. -->`,
    `<plist version="1.0">`,
    `<dict>`,
    `\t<key>Label</key>`,
    `\t${s(spec.label)}`,
    `\t<key>ProgramArguments</key>`,
    `\t<array>`,
    ...spec.program.map((arg) => `\t\t${s(arg)}`),
    `\t</array>`,
  ];
  const env = Object.keys(spec.env).sort();
  if (env.length > 0) {
    lines.push(`\t<key>EnvironmentVariables</key>`, `\t<dict>`);
    for (const name of env) {
      lines.push(`\t\t<key>${xmlEscape(name)}</key>`, `\t\t${s(spec.env[name]!)}`);
    }
    lines.push(`\t</dict>`);
  }
  lines.push(
    `\t<key>WorkingDirectory</key>`,
    `\t${s(spec.workingDir)}`,
    `\t<key>KeepAlive</key>`,
    `\t<true/>`,
    `\t<key>RunAtLoad</key>`,
    `\t<true/>`,
    `\t<key>ThrottleInterval</key>`,
    `\t<integer>5</integer>`,
    `\t<key>ProcessType</key>`,
    `\t<string>Background</string>`,
    `\t<key>Umask</key>`,
    `\t<integer>63</integer>`,
    `\t<key>StandardOutPath</key>`,
    `\t${s(spec.logFile)}`,
    `\t<key>StandardErrorPath</key>`,
    `\t${s(spec.logFile)}`,
    `</dict>`,
    `</plist>`,
    ``,
  );
  return lines.join("\n");
}

/** What `launchctl print gui/<uid>/<label>` says about a loaded service. */
export interface LaunchctlPrintInfo {
  /** `running`, `not running`, `spawn scheduled`, ... */
  state: string | undefined;
  /** Present only while the service has a process. */
  pid: number | undefined;
  /** `last exit code`: a number, or undefined for "(never exited)". */
  lastExitCode: number | undefined;
}

/**
 * Parses `launchctl print` output. Only the service's own (first-level)
 * properties count: nested blocks (endpoints, event triggers) also print
 * `state = active` lines, which must not be mistaken for the service's.
 */
export function parseLaunchctlPrint(text: string): LaunchctlPrintInfo {
  const info: LaunchctlPrintInfo = { state: undefined, pid: undefined, lastExitCode: undefined };
  let depth = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (line === "}") {
      depth--;
      continue;
    }
    const opens = line.endsWith("{");
    if (depth === 1 && !opens) {
      const eq = line.indexOf(" = ");
      if (eq > 0) {
        const key = line.slice(0, eq);
        const value = line.slice(eq + 3).trim();
        if (key === "state") info.state = value;
        else if (key === "pid" && /^\d+$/.test(value)) info.pid = Number(value);
        else if (key === "last exit code" && /^-?\d+/.test(value)) {
          info.lastExitCode = parseInt(value, 10);
        }
      }
    }
    if (opens) depth++;
  }
  return info;
}

function uidOf(deps: ServiceDeps): number {
  const uid = deps.uid ?? Deno.uid();
  if (uid === null || uid === undefined) throw new TypeError("cannot tell the user id");
  return uid;
}

interface Loaded {
  loaded: boolean;
  info: LaunchctlPrintInfo;
}

async function printService($: Shell, target: string): Promise<Loaded> {
  const r = await $`launchctl print ${target}`.noThrow().stdout("piped").stderr("piped");
  if (r.code !== 0) {
    return { loaded: false, info: { state: undefined, pid: undefined, lastExitCode: undefined } };
  }
  return { loaded: true, info: parseLaunchctlPrint(r.stdout) };
}

function running(l: Loaded): number | undefined {
  return l.loaded && l.info.state === "running" && l.info.pid !== undefined
    ? l.info.pid
    : undefined;
}

async function launchctl($: Shell, args: string[], what: string): Promise<void> {
  const r = await $`launchctl ${args}`.noThrow().stdout("piped").stderr("piped");
  if (r.code !== 0) {
    throw new ToolError("launchctl", r.code, r.stderr || r.stdout, `launchd could not ${what}.`, {
      fix: `launchctl ${args.join(" ")}`,
    });
  }
}

/** Installs (or updates) the agent, then starts it; see `installEdgeService`. */
export async function installLaunchd(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  home: string,
  options: InstallOptions = {},
): Promise<InstallResult> {
  const { $ } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const text = renderLaunchdPlist(spec);
  const path = launchdPlistPath(home, spec);
  const domain = `gui/${uidOf(deps)}`;
  const target = `${domain}/${spec.label}`;

  const changed = (await readTextIfExists(path)) !== text;
  if (changed) {
    await Deno.mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, text, 0o644);
  }
  let state = await printService($, target);
  let started = false;
  if (state.loaded && changed) {
    // A loaded job keeps its old definition: unload it so bootstrap reads the new plist.
    await $`launchctl bootout ${target}`.noThrow().stdout("piped").stderr("piped");
    await pollUntil(
      async () => (await printService($, target)).loaded ? undefined : true,
      5000,
      sleep,
    );
    state = { loaded: false, info: state.info };
  }
  if (!state.loaded) {
    await $`launchctl enable ${target}`.noThrow().stdout("piped").stderr("piped");
    // bootstrap right after a bootout can fail with "5: Input/output error" while
    // launchd finishes the unload; a short retry covers it.
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await launchctl($, ["bootstrap", domain, path], "load the edge agent");
        lastError = undefined;
        break;
      } catch (error) {
        lastError = error;
        await sleep(500);
      }
    }
    if (lastError) throw lastError;
    started = true;
  } else if (options.restart || running(state) === undefined) {
    await launchctl($, ["kickstart", "-k", target], "restart the edge agent");
    started = true;
  }
  const pid = await pollUntil(
    async () => running(await printService($, target)),
    options.startTimeoutMs ?? 5000,
    sleep,
  );
  return { supervisor: "launchd", pid, changed, started };
}

/** Unloads the agent (it stays installed and loads again at the next login). */
export async function stopLaunchd(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
): Promise<StopResult> {
  const target = `gui/${uidOf(deps)}/${spec.label}`;
  const before = await printService(deps.$, target);
  if (before.loaded) {
    await launchctl(deps.$, ["bootout", target], "stop the edge agent");
    await pollUntil(
      async () => (await printService(deps.$, target)).loaded ? undefined : true,
      5000,
      deps.sleep ?? defaultSleep,
    );
  }
  return { supervisor: "launchd", stopped: running(before) !== undefined, removed: false };
}

/** Unloads the agent and deletes its plist; safe to run twice. */
export async function removeLaunchd(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  home: string,
): Promise<StopResult> {
  const stop = await stopLaunchd(deps, spec);
  const removed = await removeIfExists(launchdPlistPath(home, spec));
  return { ...stop, removed };
}

/** Whether the plist exists, and the pid and state launchd reports. */
export async function statusLaunchd(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  home: string,
): Promise<EdgeServiceStatus> {
  const installed = (await readTextIfExists(launchdPlistPath(home, spec))) !== undefined;
  const pid = running(await printService(deps.$, `gui/${uidOf(deps)}/${spec.label}`));
  return { supervisor: "launchd", installed, running: pid !== undefined, pid };
}
