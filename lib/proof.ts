/**
 * The proof's old front door, kept so existing imports keep working: see
 * {@link ./proof/mod.ts}.
 *
 * @module
 */
export {
  type AuthCheckResult,
  baseUrl,
  type CheckResult,
  type ConnectToRule,
  describeFailure,
  type HttpsGet,
  httpsGet,
  type HttpsGetRequest,
  type HttpsGetResponse,
  isEdgeUnauthorized,
  matchConnectTo,
  type NameServer,
  parseConnectTo,
  parseModelList,
  parseNameServers,
  type ProofDeps,
  type ProofPath,
  type ProofResult,
  type ProveOptions,
  provePublicUrl,
  PUBLIC_NAME_SERVERS,
  type PublicDnsResult,
  type PublicResolver,
} from "./proof/mod.ts";
