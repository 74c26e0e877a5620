/**
 * The OpenClaw layer: find the CLI and the config the way OpenClaw does, read
 * the config (JSON5) directly, plan the minimal change that turns on the
 * OpenAI-compatible API behind token auth on loopback, apply it with one
 * patch after snapshotting the old values (through the running gateway's config
 * API, or `openclaw config patch --stdin` when it is down), verify it
 * by probing, undo it exactly, and start/restart the gateway only when needed.
 *
 * @example
 * ```ts
 * const state = await loadOpenClaw({ env });
 * const plan = planOpenClaw(state.file.config, { configPath: state.location.configPath, env: state.env });
 * await applyOpenClawPlan({ $, fetch, env, events }, plan, { cli: state.cli });
 * // ... later
 * await undoOpenClaw({ $, fetch, env, events }, { cli: state.cli });
 * ```
 *
 * @module
 */
export type { EnvLookup } from "../core/paths.ts";
export type { Shell } from "../core/shell.ts";
export type { EctoEvent, EventSink } from "../core/events.ts";
export { ActionRequiredError, EctoError } from "../core/errors.ts";
export type { ActionEvent, NoteEvent, ProgressEvent, StepEvent } from "../core/events.ts";
export {
  blockedLegacyMigration,
  DEFAULT_GATEWAY_PORT,
  openClawEnvFiles,
  openClawEnvLookup,
  type OpenClawLocation,
  parseDotEnv,
  type PathExists,
  profileName,
  profilePort,
  resolveOpenClawLocation,
  withProfileEnv,
} from "./location.ts";
export {
  type CredentialState,
  credentialUnavailableError,
  type GatewayCredential,
  type GatewaySettings,
  inspectGatewaySettings,
  isLoopbackBind,
} from "./settings.ts";
export {
  getPath,
  hasPath,
  type OpenClawConfigFile,
  parseOpenClawConfigText,
  readOpenClawConfig,
} from "./config.ts";
export { applyMergePatch, setPath } from "./merge_patch.ts";
export { describePlan, type OpenClawPlan, planOpenClaw, type PlanOptions } from "./plan.ts";
export { generateGatewayToken } from "./plan_auth.ts";
export {
  isOpenClawSnapshot,
  mergeSnapshot,
  type OpenClawSnapshot,
  readOpenClawSnapshot,
  type SnapshotEntry,
} from "./snapshot.ts";
export { type PlannedChange, type RestartKind } from "./plan_changes.ts";
export { undoPatch, undoRestartKind } from "./undo_patch.ts";
export {
  assertConfigWritable,
  type ConfigPatchResult,
  configReadOnlyError,
  locateOpenClaw,
  OPENCLAW_ENV_NAMES,
  OPENCLAW_INSTALL_COMMAND,
  type OpenClawCli,
  openClawCommandEnv,
  type OpenClawRun,
  parseCliJson,
  patchOpenClawConfig,
  redact,
  runOpenClaw,
  type RunOpenClawOptions,
} from "./cli.ts";
export {
  detectGatewayService,
  type GatewayService,
  gatewayServiceNames,
} from "./gateway_service.ts";
export {
  ensureGatewayRunning,
  type EnsureRunningOptions,
  type EnsureRunningResult,
  findGatewayPid,
  type GatewayListener,
  parseGatewayStatus,
  processAlive,
  restartGateway,
  type RestartOptions,
  type RestartResult,
  startGatewayDetached,
} from "./gateway.ts";
export {
  type Fetch,
  GATEWAY_LOG_PATH,
  GATEWAY_READY_TIMEOUT_MS,
  type GatewayApiProbe,
  type GatewayDeps,
  type GatewayHealth,
  gatewayHealth,
  type GatewayLimits,
  gatewayLimits,
  GatewayNotReadyError,
  gatewayRunning,
  LIVE_TIMEOUT_MS,
  openClawDailyLogPath,
  probeGatewayApi,
  readLogTail,
  waitFor,
  waitForGatewayReady,
} from "./gateway_health.ts";
export { applyOpenClawPlan, type ApplyResult } from "./apply.ts";
export { type ApplyOptions } from "./live.ts";
export { loadOpenClaw, type OpenClawState } from "./load.ts";
export { undoOpenClaw, type UndoResult } from "./undo.ts";
export {
  chooseConfigWriter,
  type ConfigWriter,
  type ConfigWriterDeps,
  type ConfigWriteResult,
  writeOpenClawConfig,
  type WriterTarget,
} from "./config_writer.ts";
export { type DeviceIdentity, loadOrCreateDeviceIdentity } from "./device_identity.ts";
export { forgetGatewayDevice, type ForgetResult } from "./device_pairing.ts";
