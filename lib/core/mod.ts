/**
 * What every concept folder shares: typed errors and exit codes, progress events,
 * ecto's paths, the injected shell and context, atomic private files, the lock,
 * JSON5, the credentials file and connection record, the edge's addresses, and
 * the layer contracts (`layer_types.ts`) every concept's adapter implements.
 * Imports nothing from any other folder of `lib/`.
 *
 * @module
 */
export {
  baseUrl,
  DEFAULT_EDGE_LISTEN,
  DEFAULT_EDGE_PORT,
  edgeListen,
  edgeTarget,
} from "./addresses.ts";
export {
  ensurePrivateDir,
  readJsonIfExists,
  removeIfExists,
  writeFileAtomic,
  writeJsonAtomic,
} from "./atomic_file.ts";
export {
  type ConnectionRecord,
  readConnectionRecord,
  removeConnectionRecord,
  updateConnectionRecord,
} from "./connection_record.ts";
export type { Consent, ConsentRequest, EctoContext } from "./context.ts";
export {
  buildCredentials,
  type Credentials,
  credentialsFileFor,
  type CredentialsInput,
  DEFAULT_MODEL,
  keyPreview,
  readCredentials,
  removeCredentials,
  type StoredCredentials,
  writeCredentials,
} from "./credentials.ts";
export {
  ActionRequiredError,
  causeChain,
  EctoError,
  type EctoErrorOptions,
  ExitCode,
  exitCodeFor,
  type ExitCodeValue,
  MissingPrerequisiteError,
  tail,
  ToolError,
  UsageError,
} from "./errors.ts";
export { renderEventLine } from "./event_line.ts";
export {
  type ActionEvent,
  type EctoEvent,
  type EventSink,
  ignoreEvents,
  type NoteEvent,
  type ProgressEvent,
  type StepEvent,
} from "./events.ts";
export { Json5SyntaxError, parseJson5 } from "./json5.ts";
export type {
  AuthCheckResult,
  CheckResult,
  CredentialState,
  EdgeLayer,
  EdgeRunning,
  GatewayConfigured,
  GatewayCredential,
  GatewayExposure,
  GatewayInspection,
  GatewayRoutes,
  GatewaySettings,
  KeysLayer,
  Layers,
  LayerStatus,
  OpenClawLayer,
  OpenClawLocation,
  OwnerKey,
  ProofOutcome,
  ProofPath,
  ProofRequest,
  ProofResult,
  PublicDnsResult,
  PublishedRoute,
  StepResult,
  TailscaleFound,
  TailscaleLayer,
  TailscaleNode,
  TailscaleReport,
} from "./layer_types.ts";
export {
  acquireLock,
  type AcquireLockOptions,
  type Lock,
  type LockInfo,
  parseLockInfo,
  readLock,
} from "./lock.ts";
export { type EctoPaths, ectoPaths, type EnvLookup } from "./paths.ts";
export { createShell, type Shell } from "./shell.ts";
