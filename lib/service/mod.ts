/**
 * Supervision of the edge: install, start, stop, status and remove it as a
 * launchd user agent (macOS), a systemd user unit (Linux), or, where neither is
 * usable (containers, CI), a detached process with a pidfile. Every unit is
 * rendered from one `EdgeServiceSpec`; every program runs through the injected
 * dax `$`. `ECTO_SUPERVISOR=launchd|systemd|detached` forces a supervisor.
 *
 * @module
 */
export {
  detectSupervisor,
  EDGE_LABEL,
  edgeServiceFile,
  edgeServiceSpec,
  edgeServiceStatus,
  installEdgeService,
  removeEdgeService,
  stopEdgeService,
} from "./supervisor.ts";
export {
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
export { type LaunchctlPrintInfo, parseLaunchctlPrint, renderLaunchdPlist } from "./launchd.ts";
export {
  parseSystemctlShow,
  renderSystemdUnit,
  type SystemctlShowInfo,
  systemdExecWord,
  systemdUnitName,
} from "./systemd.ts";
export {
  commandLineMatches,
  type PidRecord,
  type ProcessCommandLine,
  processCommandLine,
  readPidRecord,
  type StopDetachedOptions,
} from "./detached.ts";
