/**
 * Connect's proof of the URL: over the public path when public DNS has the
 * name, else saying plainly that only the tailnet path was proven; nothing
 * proven at all is a failure. A repeat run's proof starts early, while the
 * layers are checked.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";
import { readConnectionRecord } from "../core/connection_record.ts";
import { readCredentials } from "../core/credentials.ts";
import type { Layers, ProofOutcome, PublishMode, TailscaleNode } from "../core/layer_types.ts";
import { EctoError } from "../core/errors.ts";
import { baseUrl } from "../proof/mod.ts";

/** A proof made before the checks, once it is in. */
export interface EarlyProof {
  done?: { url: string; key: string; proof: ProofOutcome };
}

/**
 * A repeat run's proof, started before the layers are checked: the URL and key of the last
 * connect (its credentials file and record), one public attempt, no events. Connect uses the
 * answer only when it is in by the time the checks are done, they changed nothing and found
 * the same URL and key; otherwise it proves as usual. Never rejects.
 */
export function proveWhileChecking(
  ctx: EctoContext,
  l: Layers,
  credentialsFile: string,
): EarlyProof {
  const early: EarlyProof = {};
  void (async () => {
    const [previous, record] = await Promise.all([
      readCredentials(credentialsFile),
      readConnectionRecord(ctx.paths),
    ]);
    if (!previous?.url || !record.dnsName || record.funnelPort === undefined) return;
    if (record.mode === "private") return; // a tailnet-only URL has no public path to prove
    if (baseUrl(record.dnsName, record.funnelPort) !== previous.url) return;
    const proof = await l.proof({ ...ctx, events: () => {} }, {
      url: previous.url,
      dnsName: record.dnsName,
      port: record.funnelPort,
      key: previous.token,
      timeoutMs: 0,
      tailnetAddresses: [],
      mode: "public",
    });
    if (proof.path === "public" && proof.unauthenticated.ok && proof.authenticated.ok) {
      early.done = { url: previous.url, key: previous.token, proof };
    }
  })().catch(() => {});
  return early;
}

/** What {@link proveConnection} proves, and what it may reuse. */
export interface ProveArgs {
  url: string;
  key: string;
  node: TailscaleNode;
  port: number;
  mode: PublishMode;
  timeoutMs: number;
  /** The early proof, if one was started. */
  early: EarlyProof | undefined;
  /** Whether this run changed anything (then the early proof does not stand). */
  changedAnything: boolean;
}

/**
 * The `proof` step: proves `url` with `key` (or takes the early proof of the same URL and key
 * when nothing changed).
 *
 * @throws {EctoError} `proof_failed` when nothing was proven.
 */
export async function proveConnection(
  ctx: EctoContext,
  l: Layers,
  args: ProveArgs,
): Promise<ProofOutcome> {
  const { url, key, node, port, mode, early } = args;
  ctx.events({
    kind: "step",
    step: "proof",
    status: "start",
    detail: mode === "private" ? "Proving the URL over the tailnet" : "Proving the public URL",
  });
  // A proof made during this run, of this URL with this key, while nothing changed, stands.
  const already = early?.done && !args.changedAnything && early.done.url === url &&
      early.done.key === key && early.done.proof.path === "public"
    ? early.done.proof
    : undefined;
  const proof = already ?? await l.proof(ctx, {
    url,
    dnsName: node.dnsName,
    port,
    key,
    timeoutMs: args.timeoutMs,
    tailnetAddresses: node.tailscaleIps,
    mode,
  });
  const proven = proof.path !== "none" && proof.unauthenticated.ok && proof.authenticated.ok;
  ctx.events({
    kind: "step",
    step: "proof",
    status: proven ? "done" : "fail",
    detail: proof.detail,
  });
  if (!proven) {
    throw new EctoError("proof_failed", proof.detail, {
      fix: "Run `ecto status` to see which layer is broken, then `ecto connect` again.",
    });
  }
  return proof;
}
