/**
 * The summary `ecto connect` prints (and `--json` returns), and how a
 * proven run assembles it.
 *
 * @module
 */
import type { ProofOutcome, PublishMode } from "../core/layer_types.ts";
import type { TakeoverPlan } from "./takeover.ts";

/** The summary connect prints (and `--json` returns). */
export interface ConnectResult {
  /** Always true: connect throws instead of returning a failure. */
  ok: true;
  /** Base URL: `https://HOST` or `https://HOST:8443`. */
  url: string;
  /** `<url>/v1/chat/completions`. */
  endpoint: string;
  /** The owner's client key. */
  token: string;
  /** The model id a client should send. */
  model: string;
  /** The HTTPS port ecto's route is on (Funnel, or Serve in private mode). */
  funnelPort: number;
  /** `public` (Funnel, the internet) or `private` (Serve: only devices in the tailnet). */
  mode: PublishMode;
  /** Where the credentials are. */
  credentialsFile: string;
  /** What was proven, over which path. */
  proof: ProofOutcome;
  /** What this run changed (empty on a repeat run of a connected machine). */
  changed: string[];
  /** Things the user must know (the take-over, the `legacy` key). */
  notes: string[];
  /** What the take-over of a directly published gateway did, when there was one. */
  takeover?: {
    /** The routes straight to the gateway that were removed (descriptions, no secrets). */
    removedRoutes: string[];
    /** `gateway.tailscale.mode` was turned off. */
    tailscaleModeOff: boolean;
    /** The public gateway credential was replaced by a token only the edge uses. */
    credentialRotated: boolean;
    /** The id of the `legacy` key the old credential became, if it did. */
    legacyKeyId?: string | undefined;
  } | undefined;
}

/** The summary of a proven run; the take-over part only when there was one. */
export function connectResult(
  result: Omit<ConnectResult, "ok" | "endpoint" | "takeover">,
  takeover: { plan: TakeoverPlan; legacyKeyId: string | undefined },
): ConnectResult {
  const { plan, legacyKeyId } = takeover;
  return {
    ok: true,
    url: result.url,
    endpoint: `${result.url}/v1/chat/completions`,
    token: result.token,
    model: result.model,
    funnelPort: result.funnelPort,
    mode: result.mode,
    credentialsFile: result.credentialsFile,
    proof: result.proof,
    changed: result.changed,
    notes: result.notes,
    ...(plan.needed
      ? {
        takeover: {
          removedRoutes: plan.routes.map((r) => r.target + " on port " + r.port),
          tailscaleModeOff: plan.tailscaleOff,
          credentialRotated: plan.rotateCredential,
          legacyKeyId,
        },
      }
      : {}),
  };
}
