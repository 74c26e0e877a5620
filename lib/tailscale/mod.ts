/**
 * The Tailscale layer: find the CLI, read its state, log in, and publish
 * ecto's edge through Funnel without touching anyone else's routes.
 *
 * Everything runs through an injected dax `$` ({@link TailscaleCli}); tool
 * output is parsed by pure functions; failures are ecto's typed errors with
 * the fix (exit 3 when the user must act, 4 when a prerequisite is missing).
 *
 * ```ts
 * import { createShell } from "../core/shell.ts";
 * import { cliFromInstall, enableFunnel, locateTailscale, login } from "./mod.ts";
 *
 * const $ = createShell();
 * const install = await locateTailscale({ $, env: (n) => Deno.env.get(n) });
 * if (install) {
 *   const cli = cliFromInstall(install, { $, user: Deno.env.get("USER") });
 *   await login(cli, { authKey: Deno.env.get("TS_AUTHKEY") });
 *   const route = await enableFunnel(cli, { target: "http://127.0.0.1:18795" });
 *   route.url; // https://build-box.tail1234.ts.net/
 * }
 * ```
 *
 * @module
 */
export {
  APP_STORE_URL,
  assertSupportedVersion,
  compareVersions,
  isSupportedVersion,
  MIN_TAILSCALE_VERSION,
  parseVersionJson,
  parseVersionOutput,
  parseVersionPrefix,
  parseVersionText,
  upgradeCommand,
} from "./version.ts";
export {
  assertNotKnownBroken,
  breakageFor,
  KNOWN_BROKEN_VERSIONS,
  knownBreakage,
  knownBreakageOf,
  knownBrokenError,
} from "./known_broken.ts";
export type { KnownBreakage } from "./known_broken.ts";
export {
  ENCRYPT_STATE_FIX,
  isEmptyConfig,
  isEncryptedStateLoss,
  lostWriteError,
  MACSYS_PLIST,
  writeConfirmed,
} from "./lost_write.ts";
export type { LostWrite } from "./lost_write.ts";
export {
  ADMIN_DNS_URL,
  ADMIN_POLICY_URL,
  funnelStatusProblem,
  magicDnsOffForPrivate,
} from "./prerequisites.ts";
export type { TailscaleVariant, TailscaleVersion } from "./version.ts";
export {
  backendStateMeaning,
  FUNNEL_PORTS_CAP,
  parseFunnelPortsCap,
  parseStatusJson,
  portInRanges,
} from "./status.ts";
export type { BackendState, PortRange, TailscaleStatus } from "./status.ts";
export {
  allowedFunnelPorts,
  busyPorts,
  choosePort,
  findEctoRoute,
  findEctoRoutes,
  freeFunnelPorts,
  FUNNEL_PORTS,
  funnelUrl,
  hostPort,
  parseServeConfig,
  portHasForeignHandler,
} from "./serve_config.ts";
export type {
  EctoRoute,
  PortChoice,
  ServeConfig,
  ServeHandler,
  ServeTcpEntry,
} from "./serve_config.ts";
export {
  describeExposure,
  exposureOffArgs,
  findGatewayExposures,
  foregroundLoopbackPorts,
  type GatewayExposure,
} from "./exposures.ts";
export { loopbackTargetPort } from "./serve_config.ts";
export { type RemoveExposuresResult, removeGatewayExposures } from "./gateway_routes.ts";
export {
  accessDeniedError,
  appCliFailedError,
  classifyDaemonProblem,
  classifyServeFailure,
  daemonError,
  daemonNotRunningError,
  daemonProblemError,
  enablePromptError,
  findIndentedUrl,
  isAccessDenied,
  isDaemonNotRunning,
  isEtagRace,
  isSandboxedFileRead,
  notConnectedError,
  notConnectedState,
  operatorFix,
  parseEnablePrompt,
  sandboxedAuthKeyError,
  staleSocketError,
  startHintFor,
} from "./diagnose.ts";
export type { DaemonProblem, EnablePrompt, PlatformHint, StartHint } from "./diagnose.ts";
export {
  childEnv,
  getServeConfig,
  getStatus,
  getVersion,
  runTailscale,
  SERVE_CONFIG_ARGS,
  serveConfigFromResult,
  STATUS_ARGS,
  statusFromResult,
  tailscaleCli,
} from "./runner.ts";
export type { TailscaleCli, TailscaleCliOptions } from "./runner.ts";
export {
  cliFromInstall,
  commandNameFor,
  detectVariant,
  findTailscaleCli,
  funnelNoteFor,
  HOMEBREW_BINS,
  locateTailscale,
  MAC_APP_CLI,
  realFileProbe,
} from "./locate.ts";
export type {
  CliFromInstallOptions,
  FileProbe,
  LocateOptions,
  TailscaleCandidate,
  TailscaleInstall,
  TailscaleSource,
  VariantFacts,
} from "./locate.ts";
export {
  APPROVE_DEVICE_URL,
  AUTH_KEYS_URL,
  DEFAULT_LOGIN_TIMEOUT_MS,
  login,
  parseUpPrompts,
  parseUpSuggestion,
} from "./login.ts";
export type { LoginOptions, LoginResult, UpPrompt } from "./login.ts";
export {
  describeBackground,
  enableFunnel,
  funnelArgs,
  removeFunnel,
  serveOffArgs,
  withoutRoute,
} from "./funnel.ts";
export type {
  EnableFunnelOptions,
  FunnelRoute,
  RemoveFunnelOptions,
  RemoveFunnelResult,
} from "./funnel.ts";
export { enableServe, serveArgs } from "./serve.ts";
export type { EnableServeOptions, ServeRoute } from "./serve.ts";
export {
  chooseServePort,
  ectoRoutesByMode,
  planPublish,
  routeMode,
  SERVE_PORTS,
} from "./route_mode.ts";
export type { PublishMode, PublishPlan } from "./route_mode.ts";
export {
  ensureSudo,
  installTailscale,
  LINUX_INSTALL_COMMAND,
  MAC_DOWNLOAD_URL,
  startTailscaleDaemon,
} from "./install.ts";
export type { ConsentAction, PrivilegedOptions, StartDaemonOptions } from "./install.ts";
export type { ExecOptions, ExecResult } from "./_exec.ts";
export { tailscaleProbe } from "./probe.ts";
export type { ProbeDeps, TailscaleProbe } from "./probe.ts";
