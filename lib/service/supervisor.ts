/**
 * Supervision of the edge: install, start, stop, status and remove it as a
 * launchd user agent (macOS), a systemd user unit (Linux), or, where neither
 * is usable (containers, CI), a detached process with a pidfile.
 *
 * Every unit is rendered from one {@link EdgeServiceSpec}; every program runs
 * through the injected dax `$`. `ECTO_SUPERVISOR=launchd|systemd|detached`
 * forces a supervisor (CI and tests use `detached`).
 *
 * ```ts
 * const spec = edgeServiceSpec(ectoPaths(env), [execPath, "edge", "run"]);
 * const { supervisor, pid } = await installEdgeService({ $, env }, spec);
 * ```
 *
 * @module
 */
import { ensurePrivateDir } from "../core/atomic_file.ts";
import { UsageError } from "../core/errors.ts";
import { type EctoPaths, ectoPaths, type EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import {
  installLaunchd,
  launchdPlistPath,
  removeLaunchd,
  statusLaunchd,
  stopLaunchd,
} from "./launchd.ts";
import {
  installSystemd,
  removeSystemd,
  statusSystemd,
  stopSystemd,
  systemdUnitPath,
} from "./systemd.ts";
import {
  installDetached,
  statusDetached,
  stopDetached,
  type StopDetachedOptions,
} from "./detached.ts";
import {
  dirname,
  type EdgeServiceSpec,
  type EdgeServiceStatus,
  type InstallOptions,
  type InstallResult,
  type ServiceDeps,
  type StopResult,
  type Supervisor,
  SUPERVISORS,
  validateSpec,
} from "./spec.ts";

/** The edge's launchd label (the systemd unit is `ecto-edge.service`). */
export const EDGE_LABEL = "dev.ecto.edge";

/**
 * The standard description of ecto's edge: label `dev.ecto.edge`, output to
 * `edge.log` in the state dir, which is also its working directory.
 * `program` is the full argv (e.g. `[execPath, "edge", "run", "--config", file]`).
 */
export function edgeServiceSpec(
  paths: EctoPaths,
  program: string[],
  env: Record<string, string> = {},
): EdgeServiceSpec {
  return { label: EDGE_LABEL, program, env, logFile: paths.edgeLog, workingDir: paths.stateDir };
}

/**
 * Chooses the supervisor: `ECTO_SUPERVISOR` when set; on macOS launchd when
 * `launchctl print gui/<uid>` answers; on Linux systemd when
 * `systemctl --user show-environment` reaches a user manager; else detached.
 */
export async function detectSupervisor(
  $: Shell,
  os: string,
  env: EnvLookup,
  uid: number | null = Deno.uid(),
): Promise<Supervisor> {
  const forced = env("ECTO_SUPERVISOR");
  if (forced) {
    if (!(SUPERVISORS as readonly string[]).includes(forced)) {
      throw new UsageError(`ECTO_SUPERVISOR must be one of ${SUPERVISORS.join(", ")}.`, {
        fix: "export ECTO_SUPERVISOR=detached",
      });
    }
    return forced as Supervisor;
  }
  if (os === "darwin" && uid !== null && await $.commandExists("launchctl")) {
    const r = await $`launchctl print gui/${String(uid)}`.noThrow().stdout("null").stderr("null");
    if (r.code === 0) return "launchd";
  }
  if (os === "linux" && await $.commandExists("systemctl")) {
    // "Failed to connect to bus" (no user manager) and "System has not been booted
    // with systemd" both exit non-zero here.
    const r = await $`systemctl --user show-environment`.noThrow().stdout("null").stderr("null");
    if (r.code === 0) return "systemd";
  }
  return "detached";
}

async function supervisorOf(deps: ServiceDeps): Promise<Supervisor> {
  return deps.supervisor ??
    await detectSupervisor(deps.$, deps.os ?? Deno.build.os, deps.env, deps.uid ?? Deno.uid());
}

/** Where the unit (or pidfile) of `spec` lives under a supervisor. */
export function edgeServiceFile(
  supervisor: Supervisor,
  spec: EdgeServiceSpec,
  env: EnvLookup,
): string {
  const paths = ectoPaths(env);
  switch (supervisor) {
    case "launchd":
      return launchdPlistPath(paths.home, spec);
    case "systemd":
      return systemdUnitPath(env, paths.home, spec);
    case "detached":
      return paths.edgePidFile;
  }
}

/**
 * Installs the edge under its supervisor and makes sure it runs. Idempotent:
 * the unit is rewritten only when its text changed; the edge is (re)started
 * when the unit changed, when it is not running, or with `restart: true`.
 * `pid` is undefined when the supervisor did not report a running process
 * within `startTimeoutMs` (the caller's health check decides what that means).
 */
export async function installEdgeService(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  options: InstallOptions = {},
): Promise<InstallResult> {
  validateSpec(spec);
  const supervisor = await supervisorOf(deps);
  const { home, edgePidFile } = ectoPaths(deps.env);
  await ensurePrivateDir(dirname(spec.logFile));
  switch (supervisor) {
    case "launchd":
      return await installLaunchd(deps, spec, home, options);
    case "systemd":
      return await installSystemd(deps, spec, home, options);
    case "detached":
      return await installDetached(deps, spec, edgePidFile, options);
  }
}

/**
 * Stops the edge; its unit stays (launchd and systemd start it again at the
 * next login). A detached edge is signalled only if the pidfile's process is
 * the one ecto started.
 */
export async function stopEdgeService(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  options: StopDetachedOptions = {},
): Promise<StopResult> {
  switch (await supervisorOf(deps)) {
    case "launchd":
      return await stopLaunchd(deps, spec);
    case "systemd":
      return await stopSystemd(deps, spec);
    case "detached":
      return await stopDetached(deps, ectoPaths(deps.env).edgePidFile, options);
  }
}

/** Stops the edge and deletes its unit or pidfile. Safe to run twice. */
export async function removeEdgeService(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
  options: StopDetachedOptions = {},
): Promise<StopResult> {
  const { home, edgePidFile } = ectoPaths(deps.env);
  switch (await supervisorOf(deps)) {
    case "launchd":
      return await removeLaunchd(deps, spec, home);
    case "systemd":
      return await removeSystemd(deps, spec, home);
    case "detached":
      return await stopDetached(deps, edgePidFile, options);
  }
}

/** Whether the edge's unit is installed and its process runs, and its pid. */
export async function edgeServiceStatus(
  deps: ServiceDeps,
  spec: EdgeServiceSpec,
): Promise<EdgeServiceStatus> {
  const { home, edgePidFile } = ectoPaths(deps.env);
  switch (await supervisorOf(deps)) {
    case "launchd":
      return await statusLaunchd(deps, spec, home);
    case "systemd":
      return await statusSystemd(deps, spec, home);
    case "detached":
      return await statusDetached(deps, edgePidFile);
  }
}
