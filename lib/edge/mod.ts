/**
 * The edge: a small reverse proxy on loopback that is the only thing ecto
 * publishes through Tailscale Funnel. It accepts ecto client keys, forwards
 * an allowlist of OpenAI-compatible routes to the local OpenClaw gateway with
 * the gateway's own token, and never exposes the gateway's Control UI,
 * WebSocket control or `/tools/invoke`.
 *
 * @example
 * ```ts
 * import { loadEdgeConfig, runEdge } from "./lib/edge/mod.ts";
 *
 * // what `ecto edge run --config <file>` does:
 * await runEdge(await loadEdgeConfig(ectoPaths(Deno.env.get).edgeConfigFile));
 * ```
 *
 * @module
 */
export {
  bearer,
  createEdgeHandler,
  type EdgeFetch,
  type EdgeHandler,
  type EdgeHandlerOptions,
  type GatewayState,
} from "./handler.ts";
export { createHttp1Upstream, type Http1UpstreamOptions } from "./http1_upstream.ts";
export {
  type FetchLike,
  fetchUpstream,
  type FetchUpstreamOptions,
  isStaleConnectionError,
  NoResponseError,
  type UpstreamClient,
  UpstreamProtocolError,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./upstream.ts";
export { serveEdge } from "./serve.ts";
export {
  DEFAULT_EDGE_HOSTNAME,
  DEFAULT_EDGE_PORT,
  type EdgeServer,
  isLoopbackHostname,
  type ListenAddress,
  parseListen,
  type ServeEdgeOptions,
} from "./serve.ts";
export {
  DEFAULT_EDGE_LISTEN,
  DEFAULT_EDGE_UPSTREAM,
  type EdgeConfig,
  loadEdgeConfig,
  runEdge,
  type RunEdgeOptions,
  saveEdgeConfig,
  validateEdgeConfig,
} from "./run.ts";
export {
  allowedModelIds,
  type BodyDecision,
  type BodyRefusal,
  filterModelList,
  modelAgent,
  modelAllowed,
  scopeBody,
  userNamespace,
} from "./binding.ts";
export {
  constantTimeEqual,
  type CreatedKey,
  type CreateKeyOptions,
  generateKey,
  hashKey,
  isAgentId,
  isExpired,
  type KeyEdit,
  type KeyFile,
  type KeyRecord,
  type KeyRole,
  KeyStore,
  type KeyStoreOptions,
  type KeyVerifier,
  looksLikeKey,
  parseKeyFile,
  type StoredKey,
} from "./keys.ts";
export {
  clientAddress,
  DEFAULT_FAILED_AUTH,
  DEFAULT_KEY_LIMITS,
  DEFAULT_REQUEST_LIMITS,
  FailedAuthLimiter,
  type FailedAuthOptions,
  forwardedClient,
  KeyLimiter,
  type KeyLimits,
  limiterKey,
  type LimitGrant,
  type LimitRefusal,
  type RequestLimits,
  type ResolvedKeyLimits,
  resolveKeyLimits,
  TokenBucket,
} from "./limits.ts";
export {
  AuditLog,
  type AuditLogOptions,
  auditPath,
  type AuditRecord,
  type AuditSink,
  ignoreAudit,
  redactKeys,
  redactRecord,
} from "./audit.ts";
export {
  type ConfigTokenSourceOptions,
  createConfigTokenSource,
  staticTokenSource,
  substituteEnv,
  tokenFromConfig,
  type TokenSource,
} from "./token_source.ts";
export {
  errorResponse,
  type ForwardedHeaders,
  forwardRequestHeaders,
  forwardResponseHeaders,
  type HeaderPairs,
  HEALTH_PATH,
  matchRoute,
  rawTarget,
  type Route,
} from "./routes.ts";
export { EdgeConfigError, EdgeListenError, KeyStoreError } from "./errors.ts";
// Shared types the edge's API refers to, re-exported so this facade documents itself.
export {
  EctoError,
  type EctoErrorOptions,
  ExitCode,
  type ExitCodeValue,
  UsageError,
} from "../core/errors.ts";
export type { EnvLookup } from "../core/paths.ts";
export type {
  ActionEvent,
  EctoEvent,
  EventSink,
  NoteEvent,
  ProgressEvent,
  StepEvent,
} from "../core/events.ts";
export { type OpenAiError } from "./routes.ts";
