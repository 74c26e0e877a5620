/**
 * Proof that the public URL works, and which path was proven.
 *
 * A check from the host itself would normally go through the tailnet (the
 * system resolver is MagicDNS), not the internet. So the public check resolves
 * the node's DNS name with public DNS servers ({@link PUBLIC_NAME_SERVERS}, or
 * `ECTO_DNS_SERVER`), connects to that address and speaks TLS for the real
 * name (SNI and certificate verification). On that connection `GET /v1/models`
 * without a key must get 401 with ecto's edge error, and only then, with the
 * client key, 200 and an OpenAI list. While public DNS has not caught up the
 * check is retried within a bound; then it falls back to the tailnet path and
 * says plainly that only the tailnet path was proven.
 *
 * Sandbox and test contract: `ECTO_CONNECT_TO=HOST:PORT:ADDR:PORT[,…]` (curl's
 * `--connect-to`, applied to every connection; a rule for the public name
 * replaces the DNS step and counts as the public path), `ECTO_CA_FILE=PEM`
 * (an extra trusted CA) and `ECTO_DNS_SERVER=IP[:PORT][,…]` (resolvers to ask
 * instead of the public ones).
 *
 * @example
 * ```ts
 * import { provePublicUrl } from "./mod.ts";
 * const result = await provePublicUrl({ dnsName: "box.tail1234.ts.net", port: 443, clientKey: "ecto_…" });
 * result.path; // "public" | "tailnet" | "none"
 * ```
 *
 * @module
 */
export { type ConnectToRule, matchConnectTo, parseConnectTo } from "./connect_to.ts";
export {
  type NameServer,
  parseNameServers,
  PUBLIC_NAME_SERVERS,
  type PublicDnsResult,
  type PublicResolver,
} from "./dns.ts";
export {
  type HttpsGet,
  httpsGet,
  type HttpsGetRequest,
  type HttpsGetResponse,
} from "./https_get.ts";
export { provePublicUrl } from "./prove.ts";
export { baseUrl } from "../core/addresses.ts";
export type { ProofDeps, ProofPath, ProofResult, ProveOptions } from "./types.ts";
export {
  type AuthCheckResult,
  type CheckResult,
  describeFailure,
  isEdgeUnauthorized,
  parseModelList,
} from "./verdicts.ts";
