/**
 * The proof as connect and status see it: `provePublicUrl` with the run's
 * environment (ECTO_CONNECT_TO, ECTO_CA_FILE), events and bound.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import type { ProofOutcome, ProofRequest } from "../core/layer_types.ts";
import { provePublicUrl } from "./mod.ts";

/** Proves the URL over the public path, or says plainly what was proven instead. */
export function proofLayer(ctx: EctoContext, request: ProofRequest): Promise<ProofOutcome> {
  return provePublicUrl({
    dnsName: request.dnsName,
    port: request.port,
    clientKey: request.key,
    tailnetAddresses: request.tailnetAddresses,
    env: ctx.env,
    waitMs: request.timeoutMs,
    tailnetOnly: request.mode === "private",
    events: ctx.events,
  });
}
