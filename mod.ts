/**
 * ecto as a library: put a local OpenClaw gateway's OpenAI-compatible API on
 * the internet through Tailscale Funnel, behind ecto's edge (a loopback proxy
 * that admits only ecto client keys and only the OpenAI endpoints).
 *
 * This is the curated front door: the three jobs, the layer contracts they
 * drive, and the entry points of each layer a script is likely to want. Every
 * concept also has its own front door (`lib/<concept>/mod.ts`) with more; those
 * are internal and may change between versions, this list changes only with
 * the version number.
 *
 * ```ts
 * import { createShell, getStatus, locateTailscale, tailscaleCli } from "./mod.ts";
 *
 * const $ = createShell();
 * const install = await locateTailscale({ $, env: (name) => Deno.env.get(name) });
 * if (install) {
 *   const status = await getStatus(tailscaleCli({ $, path: install.path }));
 *   console.log(status.dnsName, status.funnelAllowed);
 * }
 * ```
 *
 * @module
 */

// Shared contracts: errors and exit codes, events, paths, the shell and the context.
export {
  ActionRequiredError,
  EctoError,
  type EctoErrorOptions,
  ExitCode,
  exitCodeFor,
  type ExitCodeValue,
  MissingPrerequisiteError,
  ToolError,
  UsageError,
} from "./lib/core/errors.ts";
export {
  type ActionEvent,
  type EctoEvent,
  type EventSink,
  ignoreEvents,
  type NoteEvent,
  type ProgressEvent,
  type StepEvent,
} from "./lib/core/events.ts";
export { type EctoPaths, ectoPaths, type EnvLookup } from "./lib/core/paths.ts";
export { createShell, type Shell } from "./lib/core/shell.ts";
export type { Consent, ConsentRequest, EctoContext } from "./lib/core/context.ts";
export { type Credentials, readCredentials } from "./lib/core/credentials.ts";
export type { ConnectionRecord } from "./lib/core/connection_record.ts";

// The jobs, and the layers they drive (bind fakes to these interfaces in tests).
export { connect } from "./lib/commands/connect.ts";
export type { ConnectOptions } from "./lib/commands/connect_options.ts";
export type { ConnectResult } from "./lib/commands/connect_result.ts";
export { status, type StatusOptions, type StatusReport } from "./lib/commands/status.ts";
export {
  disconnect,
  type DisconnectOptions,
  type DisconnectResult,
} from "./lib/commands/disconnect.ts";
export { realLayers } from "./lib/commands/real_layers.ts";
export type {
  EdgeLayer,
  EdgeRunning,
  GatewayConfigured,
  GatewayInspection,
  KeysLayer,
  Layers,
  LayerStatus,
  OpenClawLayer,
  OwnerKey,
  ProofOutcome,
  ProofRequest,
  PublishedRoute,
  PublishMode,
  StepResult,
  TailscaleFound,
  TailscaleLayer,
  TailscaleNode,
  TailscaleReport,
} from "./lib/core/layer_types.ts";

// Tailscale: find the CLI, read its state, log in, publish through Funnel.
export {
  cliFromInstall,
  enableFunnel,
  type EnableFunnelOptions,
  type FunnelRoute,
  getServeConfig,
  getStatus,
  locateTailscale,
  login,
  removeFunnel,
  type ServeConfig,
  type TailscaleCli,
  tailscaleCli,
  type TailscaleInstall,
  type TailscaleStatus,
} from "./lib/tailscale/mod.ts";

// OpenClaw: its config read the way OpenClaw does, the minimal plan, apply and undo.
export {
  applyOpenClawPlan,
  type GatewaySettings,
  inspectGatewaySettings,
  loadOpenClaw,
  type OpenClawLocation,
  type OpenClawPlan,
  planOpenClaw,
  readOpenClawConfig,
  resolveOpenClawLocation,
  undoOpenClaw,
} from "./lib/openclaw/mod.ts";

// The edge: the request handler, its server, and the key store.
export {
  createEdgeHandler,
  type EdgeConfig,
  type EdgeHandler,
  type EdgeHandlerOptions,
  type KeyRecord,
  KeyStore,
  runEdge,
  serveEdge,
} from "./lib/edge/mod.ts";

// Usage per key and day.
export { readUsage, type UsageRow } from "./lib/usage/mod.ts";

// The supervisor that keeps the edge running.
export {
  edgeServiceSpec,
  edgeServiceStatus,
  installEdgeService,
  removeEdgeService,
} from "./lib/service/mod.ts";

// Proving a public URL serves ecto's edge.
export { type ProofResult, type ProveOptions, provePublicUrl } from "./lib/proof/mod.ts";

// Types the exports above refer to.
export type {
  ApplyOptions,
  ApplyResult,
  GatewayDeps,
  GatewayLimits,
  OpenClawCli,
  OpenClawConfigFile,
  OpenClawState,
  PathExists,
  PlannedChange,
  PlanOptions,
  RestartKind,
  SnapshotEntry,
  UndoResult,
} from "./lib/openclaw/mod.ts";
export type {
  AuditSink,
  CreatedKey,
  CreateKeyOptions,
  EdgeFetch,
  EdgeServer,
  FailedAuthOptions,
  KeyEdit,
  KeyLimits,
  KeyRole,
  KeyVerifier,
  RequestLimits,
  RunEdgeOptions,
  ServeEdgeOptions,
  TokenSource,
  UpstreamClient,
} from "./lib/edge/mod.ts";
export type {
  AuthCheckResult,
  CheckResult,
  CredentialState,
  GatewayCredential,
  GatewayExposure,
  GatewayRoutes,
  ProofPath,
  PublicDnsResult,
} from "./lib/core/layer_types.ts";
export type {
  BackendState,
  CliFromInstallOptions,
  EctoRoute,
  LocateOptions,
  LoginOptions,
  LoginResult,
  PlatformHint,
  PortRange,
  RemoveFunnelOptions,
  RemoveFunnelResult,
  ServeHandler,
  ServeTcpEntry,
  StartHint,
  TailscaleCandidate,
  TailscaleCliOptions,
  TailscaleSource,
  TailscaleVariant,
  TailscaleVersion,
} from "./lib/tailscale/mod.ts";
export type {
  EdgeServiceSpec,
  EdgeServiceStatus,
  InstallOptions,
  InstallResult,
  ServiceDeps,
  StopDetachedOptions,
  StopResult,
} from "./lib/service/mod.ts";
export type { NameServer, ProofDeps } from "./lib/proof/mod.ts";
export type { StoredCredentials } from "./lib/core/credentials.ts";
export type { UsageMeter } from "./lib/usage/mod.ts";
export type { Admission, MeteredKey } from "./lib/usage/mod.ts";
export type { AuditRecord, UpstreamRequest, UpstreamResponse } from "./lib/edge/mod.ts";
export type { Fetch, GatewayApiProbe, RestartResult } from "./lib/openclaw/mod.ts";
export type { FileProbe } from "./lib/tailscale/mod.ts";
export type { HttpsGet, PublicResolver } from "./lib/proof/mod.ts";
export type { Supervisor } from "./lib/service/mod.ts";
export type { BudgetDecision, DailyBudget, UsageTicket } from "./lib/usage/mod.ts";
export type { HeaderPairs } from "./lib/edge/mod.ts";
export type { HttpsGetRequest, HttpsGetResponse } from "./lib/proof/mod.ts";
export type { RequestEnd } from "./lib/usage/mod.ts";
export type { TokenUsage } from "./lib/usage/mod.ts";
