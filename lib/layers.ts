/**
 * The layers connect, status and disconnect orchestrate, as narrow
 * interfaces. {@link realLayers} binds them to the Tailscale, OpenClaw, edge
 * and proof modules; orchestration tests bind them to fakes.
 *
 * @module
 */
import type { ConnectionRecord } from "./connection_record.ts";
import type { EctoContext } from "./context.ts";
import { edgeLayer } from "./layers/edge_layer.ts";
import { keysLayer } from "./layers/keys_layer.ts";
import { openclawLayer } from "./layers/openclaw_layer.ts";
import { proofLayer } from "./layers/proof_layer.ts";
import { tailscaleLayer } from "./layers/tailscale_layer.ts";
import type { ProofResult } from "./proof.ts";

/** Every step result says what it found or did, and whether it changed anything. */
export interface StepResult {
  detail: string;
  changed?: boolean;
}

/** The Tailscale CLI that was found. */
export interface TailscaleFound extends StepResult {
  path: string;
  variant: string;
  version: string;
}

/** A logged-in node. */
export interface TailscaleNode extends StepResult {
  dnsName: string;
  tailnet?: string | undefined;
  tailscaleIps: string[];
  funnelPorts: number[];
}

/** ecto's Funnel route. */
export interface PublishedRoute extends StepResult {
  port: number;
}

/** The configured gateway. */
export interface GatewayConfigured extends StepResult {
  port: number;
  url: string;
  configPath: string;
  model: string;
  restarted: boolean;
}

/** The running edge. */
export interface EdgeRunning extends StepResult {
  listen: string;
  /** The Funnel target, `http://127.0.0.1:PORT`. */
  target: string;
  supervisor: string;
  pid?: number | undefined;
}

/** The owner key. */
export interface OwnerKey extends StepResult {
  id: string;
  key: string;
}

/** What the proof established, and over which path (see `lib/proof.ts`). */
export type ProofOutcome = ProofResult;

/** Input to the proof. */
export interface ProofRequest {
  url: string;
  dnsName: string;
  port: number;
  key: string;
  timeoutMs: number;
  tailnetAddresses: string[];
}

/** One layer's line in `ecto status`. */
export interface LayerStatus {
  /** `tailscale`, `funnel`, `edge`, `gateway`, `credentials`, `public`. */
  name: string;
  /** true: holds; false: broken; null: not checked. */
  ok: boolean | null;
  /** One line. */
  summary: string;
  /** Facts worth showing (never a secret). */
  details: Record<string, string | number | boolean | null | undefined>;
  /** When broken: what is wrong and the fix. */
  problem?: { message: string; fix?: string | undefined };
}

/** What the Tailscale layer reports for status. */
export interface TailscaleReport {
  tailscale: LayerStatus;
  funnel: LayerStatus;
  /** The node, when logged in (for the public check). */
  node?: TailscaleNode | undefined;
  /** ecto's route, when there is one. */
  route?: { port: number; url: string } | undefined;
}

/** The Tailscale layer as orchestration sees it. */
export interface TailscaleLayer {
  ensureInstalled(ctx: EctoContext): Promise<TailscaleFound>;
  ensureRunning(ctx: EctoContext, found: TailscaleFound): Promise<StepResult>;
  ensureLoggedIn(
    ctx: EctoContext,
    found: TailscaleFound,
    options: { authKey?: string | undefined; timeoutMs: number },
  ): Promise<TailscaleNode>;
  checkFunnelReady(ctx: EctoContext, node: TailscaleNode): Promise<StepResult>;
  /** The current node without installing, starting or logging in (for `--restart`). */
  current(ctx: EctoContext): Promise<TailscaleNode>;
  publish(
    ctx: EctoContext,
    node: TailscaleNode,
    options: { target: string; port?: number },
  ): Promise<PublishedRoute>;
  unpublish(
    ctx: EctoContext,
    options: { port?: number | undefined; target?: string | undefined },
  ): Promise<StepResult>;
  /** Status without changing anything. */
  report(ctx: EctoContext, record: ConnectionRecord): Promise<TailscaleReport>;
}

/** The OpenClaw layer as orchestration sees it. */
export interface OpenClawLayer {
  configure(
    ctx: EctoContext,
    options: { keepBind: boolean; restart: boolean },
  ): Promise<GatewayConfigured>;
  undo(ctx: EctoContext): Promise<StepResult>;
  /** Status from the config file and HTTP probes only (no `openclaw` CLI calls). */
  report(ctx: EctoContext): Promise<LayerStatus>;
}

/** The edge layer as orchestration sees it. */
export interface EdgeLayer {
  ensureRunning(
    ctx: EctoContext,
    options: { gatewayUrl: string; configPath: string; restart: boolean },
  ): Promise<EdgeRunning>;
  remove(ctx: EctoContext): Promise<StepResult>;
  report(ctx: EctoContext): Promise<LayerStatus>;
}

/** Client keys as orchestration sees them. */
export interface KeysLayer {
  ensureOwner(ctx: EctoContext, options: { regenerate: boolean }): Promise<OwnerKey>;
  purge(ctx: EctoContext): Promise<StepResult>;
}

/** Everything connect, status and disconnect drive. */
export interface Layers {
  tailscale: TailscaleLayer;
  openclaw: OpenClawLayer;
  edge: EdgeLayer;
  keys: KeysLayer;
  proof(ctx: EctoContext, request: ProofRequest): Promise<ProofOutcome>;
}

/** The real layers. */
export function realLayers(): Layers {
  return {
    tailscale: tailscaleLayer(),
    openclaw: openclawLayer(),
    edge: edgeLayer(),
    keys: keysLayer(),
    proof: proofLayer,
  };
}
