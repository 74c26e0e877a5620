/**
 * The edge as a systemd user unit (Linux): the unit renderer (with systemd's
 * quoting, specifier and variable escaping), the parser of `systemctl show`,
 * and install/stop/remove/status through `systemctl --user`.
 *
 * @module
 */
import { writeFileAtomic } from "../core/atomic_file.ts";
import { ToolError } from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import {
  defaultSleep,
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

/**
 * The unit name for a label: the reverse-DNS label without its first
 * component, dots turned into dashes: `dev.ecto.edge` → `ecto-edge.service`.
 */
export function systemdUnitName(spec: Pick<EdgeServiceSpec, "label">): string {
  const parts = spec.label.split(".");
  return `${(parts.length > 2 ? parts.slice(1) : parts).join("-")}.service`;
}

/** `$XDG_CONFIG_HOME/systemd/user/<unit>` (default `~/.config/systemd/user/<unit>`). */
export function systemdUnitPath(env: EnvLookup, home: string, spec: EdgeServiceSpec): string {
  const config = env("XDG_CONFIG_HOME") || `${home}/.config`;
  return `${config}/systemd/user/${systemdUnitName(spec)}`;
}

const SAFE_WORD = /^[A-Za-z0-9_@+=:,./-]+$/;

/** Backslash escapes for a double-quoted systemd word (systemd C-unescapes quoted words). */
function cEscape(text: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out;
}

/**
 * One argv word for `ExecStart=`: bare when it is plainly safe, otherwise
 * double-quoted with C escapes. `%` (specifiers) becomes `%%` and `$`
 * (variable expansion) becomes `$$` either way.
 */
export function systemdExecWord(arg: string): string {
  const escaped = SAFE_WORD.test(arg) ? arg : `"${cEscape(arg)}"`;
  return escaped.replaceAll("%", "%%").replaceAll("$", "$$$$");
}

/** `Environment="NAME=value"`: quoted, C-escaped, `%` doubled (no `$` expansion there). */
export function systemdEnvironmentLine(name: string, value: string): string {
  return `Environment="${cEscape(`${name}=${value}`).replaceAll("%", "%%")}"`;
}

/** A path setting's value: systemd expands specifiers in paths, so `%` is doubled. */
function systemdPath(path: string): string {
  return path.replaceAll("%", "%%");
}

/**
 * Renders the user unit for `spec`: ExecStart with the escaped argv,
 * Environment= lines (sorted), WorkingDirectory, Restart=always, RestartSec,
 * UMask 0077, output appended to the log file, wanted by default.target.
 * Pure; the same spec always gives the same text.
 */
export function renderSystemdUnit(spec: EdgeServiceSpec): string {
  validateSpec(spec);
  const lines = [
    `# Written by ecto. ecto connect rewrites it; ecto disconnect removes it.`,
    `[Unit]`,
    `Description=ecto edge (${spec.label}): the loopback proxy in front of the OpenClaw gateway`,
    `StartLimitIntervalSec=0`,
    ``,
    `[Service]`,
    `Type=simple`,
    `ExecStart=${spec.program.map(systemdExecWord).join(" ")}`,
    `WorkingDirectory=${systemdPath(spec.workingDir)}`,
    ...Object.keys(spec.env).sort().map((name) => systemdEnvironmentLine(name, spec.env[name]!)),
    `Restart=always`,
    `RestartSec=2`,
    `UMask=0077`,
    `StandardOutput=append:${systemdPath(spec.logFile)}`,
    `StandardError=inherit`,
    ``,
    `[Install]`,
    `WantedBy=default.target`,
    ``,
  ];
  return lines.join("\n");
}

/** What `systemctl --user show -p MainPID,ActiveState,LoadState` says. */
export interface SystemctlShowInfo {
  /** `active`, `activating`, `inactive`, `failed`, ... */
  activeState: string | undefined;
  /** `loaded`, `not-found`, ... */
  loadState: string | undefined;
  /** 0 when there is no main process. */
  mainPid: number;
}

/** Parses `systemctl show` `Key=Value` lines. */
export function parseSystemctlShow(text: string): SystemctlShowInfo {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) values.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const pid = Number(values.get("MainPID") ?? "0");
  return {
    activeState: values.get("ActiveState"),
    loadState: values.get("LoadState"),
    mainPid: Number.isInteger(pid) && pid > 0 ? pid : 0,
  };
}

async function show($: Shell, unit: string): Promise<SystemctlShowInfo> {
  const r = await $`systemctl --user show -p MainPID,ActiveState,LoadState ${unit}`
    .noThrow().stdout("piped").stderr("piped");
  if (r.code !== 0) return { activeState: undefined, loadState: undefined, mainPid: 0 };
  return parseSystemctlShow(r.stdout);
}

function runningPid(info: SystemctlShowInfo): number | undefined {
  return info.activeState === "active" && info.mainPid > 0 ? info.mainPid : undefined;
}

async function systemctl($: Shell, args: string[], what: string): Promise<void> {
  const r = await $`systemctl --user ${args}`.noThrow().stdout("piped").stderr("piped");
  if (r.code !== 0) {
    throw new ToolError("systemctl", r.code, r.stderr || r.stdout, `systemd could not ${what}.`, {
      fix: `systemctl --user ${args.join(" ")}`,
    });
  }
}

/** Installs (or updates) the unit, then starts it; see `installEdgeService`. */
export async function installSystemd(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  home: string,
  options: InstallOptions = {},
): Promise<InstallResult> {
  const { $ } = deps;
  const text = renderSystemdUnit(spec);
  const path = systemdUnitPath(deps.env, home, spec);
  const unit = systemdUnitName(spec);
  const changed = (await readTextIfExists(path)) !== text;
  if (changed) {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await writeFileAtomic(path, text, 0o644);
    await systemctl($, ["daemon-reload"], "reload its unit files");
  }
  const before = await show($, unit);
  let started = false;
  if (changed || options.restart) {
    await systemctl($, ["enable", unit], "enable the edge unit");
    await systemctl($, ["restart", unit], "restart the edge");
    started = true;
  } else {
    await systemctl($, ["enable", "--now", unit], "start the edge");
    started = runningPid(before) === undefined;
  }
  const pid = await pollUntil(
    async () => runningPid(await show($, unit)),
    options.startTimeoutMs ?? 5000,
    deps.sleep ?? defaultSleep,
  );
  await noteLinger(deps);
  return { supervisor: "systemd", pid, changed, started };
}

/** User units stop at logout unless lingering is on: say so once, as a note. */
async function noteLinger(deps: ServiceDeps): Promise<void> {
  if (!deps.events) return;
  const user = deps.env("USER") ?? deps.env("LOGNAME");
  if (!user) return;
  const r = await deps.$`loginctl show-user ${user} -p Linger --value`
    .noThrow().stdout("piped").stderr("piped");
  if (r.code === 0 && r.stdout.trim() === "no") {
    deps.events({
      kind: "note",
      step: "edge.service",
      level: "warn",
      message:
        `The edge stops when ${user} logs out; \`loginctl enable-linger ${user}\` keeps it running.`,
    });
  }
}

/** Stops the unit (it stays enabled and starts again at the next login). */
export async function stopSystemd(deps: ServiceDeps, spec: EdgeServiceSpec): Promise<StopResult> {
  const unit = systemdUnitName(spec);
  const before = await show(deps.$, unit);
  if (before.loadState === "loaded") await systemctl(deps.$, ["stop", unit], "stop the edge");
  return { supervisor: "systemd", stopped: runningPid(before) !== undefined, removed: false };
}

/** Disables and stops the unit, deletes it, reloads systemd; safe to run twice. */
export async function removeSystemd(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  home: string,
): Promise<StopResult> {
  const { $ } = deps;
  const unit = systemdUnitName(spec);
  const before = await show($, unit);
  if (before.loadState === "loaded") {
    await systemctl($, ["disable", "--now", unit], "disable the edge unit");
  }
  const removed = await removeIfExists(systemdUnitPath(deps.env, home, spec));
  if (removed) {
    await systemctl($, ["daemon-reload"], "reload its unit files");
    await $`systemctl --user reset-failed ${unit}`.noThrow().stdout("piped").stderr("piped");
  }
  return { supervisor: "systemd", stopped: runningPid(before) !== undefined, removed };
}

/** Whether the unit file exists, and the main pid and state systemd reports. */
export async function statusSystemd(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  home: string,
): Promise<EdgeServiceStatus> {
  const installed = (await readTextIfExists(systemdUnitPath(deps.env, home, spec))) !== undefined;
  const pid = runningPid(await show(deps.$, systemdUnitName(spec)));
  return { supervisor: "systemd", installed, running: pid !== undefined, pid };
}
