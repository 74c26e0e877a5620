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
import { preflight } from "./preflight.ts";
import type { OpenClawLocation } from "./openclaw/config.ts";
import type { GatewaySettings } from "./openclaw/config.ts";
import type { ProofResult } from "./proof.ts";
import type { GatewayExposure } from "./tailscale/serve_config.ts";

/** Every step result says what it found or did, and whether it changed anything. */
export interface StepResult {
  /** One human sentence: what was found or done. */
  detail: string;
  /** True when the step changed something (default false). */
  changed?: boolean;
}

/** The Tailscale CLI that was found. */
export interface TailscaleFound extends StepResult {
  /** Absolute path of the `tailscale` CLI. */
  path: string;
  /** Which build it is: `homebrew`, `macsys`, `appstore`, `linux` or `unknown`. */
  variant: string;
  /** Its short version, e.g. `1.90.8`, or `unknown version`. */
  version: string;
}

/** A logged-in node. */
export interface TailscaleNode extends StepResult {
  /** The node's MagicDNS name, e.g. `build-box.tail1234.ts.net`. */
  dnsName: string;
  /** The tailnet's name, when Tailscale reports it. */
  tailnet?: string | undefined;
  /** The node's Tailscale IPs (100.x and fd7a:…). */
  tailscaleIps: string[];
  /** The Funnel ports the tailnet policy allows this node (of 443, 8443, 10000). */
  funnelPorts: number[];
}

/** ecto's Funnel route. */
export interface PublishedRoute extends StepResult {
  /** The public Funnel port the route is on: 443, 8443 or 10000. */
  port: number;
}

/** The configured gateway. */
export interface GatewayConfigured extends StepResult {
  /** The gateway's local port. */
  port: number;
  /** The gateway's local base URL, e.g. `http://127.0.0.1:18789`. */
  url: string;
  /** The OpenClaw config file that was read (and patched, if needed). */
  configPath: string;
  /** The model id a client should send, e.g. `openclaw/default`. */
  model: string;
  /** Whether applying the settings restarted the gateway. */
  restarted: boolean;
  /** The public credential a take-over replaced (a secret: only for the `legacy` key). */
  retired?: string | undefined;
  /** The bearer the edge must send, when the edge cannot read it itself (a secret). */
  edgeNeedsCopy?: string | undefined;
}

/** What the OpenClaw config says, read without the CLI (status and the take-over). */
export interface GatewayInspection {
  /** Where the config and state are. */
  location: OpenClawLocation;
  /** Whether the config file exists (OpenClaw runs on defaults without one). */
  exists: boolean;
  /** The gateway settings (port, bind, auth, tailscale mode). */
  settings: GatewaySettings;
  /** The parsed config (`{}` without a file); holds secrets: never log it. */
  config: Record<string, unknown>;
  /** The environment OpenClaw resolves variables from (process env + its dotenv files). */
  env: (name: string) => string | undefined;
}

/** The routes that publish the gateway itself. */
export interface GatewayRoutes {
  /** Whether the serve config could be read at all. */
  read: boolean;
  /** Every handler, background or foreground, whose target is the gateway. */
  routes: GatewayExposure[];
  /** The gateway's ports the routes were matched against (its port + private listeners). */
  gatewayPorts: number[];
}

/** The running edge. */
export interface EdgeRunning extends StepResult {
  /** Where the edge listens, `HOST:PORT` (default `127.0.0.1:18795`). */
  listen: string;
  /** The Funnel target, `http://127.0.0.1:PORT`. */
  target: string;
  /** What keeps the edge running: `launchd`, `systemd` or `detached`. */
  supervisor: string;
  /** The edge's process id, when the supervisor reported one. */
  pid?: number | undefined;
}

/** The owner key. */
export interface OwnerKey extends StepResult {
  /** The key's public id in the key store. */
  id: string;
  /** The cleartext client key (a secret: never log it). */
  key: string;
}

/** What the proof established, and over which path (see `lib/proof.ts`). */
export type ProofOutcome = ProofResult;

/** Input to the proof. */
export interface ProofRequest {
  /** The public base URL being proven, e.g. `https://HOST:8443`. */
  url: string;
  /** The node's DNS name. */
  dnsName: string;
  /** The public Funnel port: 443, 8443 or 10000. */
  port: number;
  /** A client key the edge accepts (a secret). */
  key: string;
  /** How long to wait for public DNS and the public path, in milliseconds. */
  timeoutMs: number;
  /** The node's Tailscale IPs, for the tailnet path. */
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
  /** The `tailscale` line: installed, running, logged in. */
  tailscale: LayerStatus;
  /** The `funnel` line: ecto's route and whether Funnel is on for it. */
  funnel: LayerStatus;
  /** The node, when logged in (for the public check). */
  node?: TailscaleNode | undefined;
  /** ecto's route, when there is one. */
  route?: { port: number; url: string } | undefined;
}

/** The Tailscale layer as orchestration sees it. */
export interface TailscaleLayer {
  /** Finds the Tailscale CLI, installing it (with consent) when it is missing. */
  ensureInstalled(ctx: EctoContext): Promise<TailscaleFound>;
  /** Makes sure the daemon runs, starting it (with consent) when it does not. */
  ensureRunning(ctx: EctoContext, found: TailscaleFound): Promise<StepResult>;
  /**
   * Makes sure the node is logged in: headless with `authKey`, else through a
   * browser login, waiting up to `timeoutMs`. Without a terminal and a key it
   * surfaces the login URL at once (`ActionRequiredError`).
   */
  ensureLoggedIn(
    ctx: EctoContext,
    found: TailscaleFound,
    options: { authKey?: string | undefined; timeoutMs: number },
  ): Promise<TailscaleNode>;
  /**
   * Checks MagicDNS, HTTPS certificates, Funnel permission (running the enable
   * flow when it is missing) and port 443 in the tailnet policy.
   */
  checkFunnelReady(ctx: EctoContext, node: TailscaleNode): Promise<StepResult>;
  /** The current node without installing, starting or logging in (for `--restart`). */
  current(ctx: EctoContext): Promise<TailscaleNode>;
  /** Publishes `target` through Funnel, on `port` or ecto's current or the first free port. */
  publish(
    ctx: EctoContext,
    node: TailscaleNode,
    options: { target: string; port?: number },
  ): Promise<PublishedRoute>;
  /** Removes ecto's Funnel route to `target` (default: the edge), only on `port` when given. */
  unpublish(
    ctx: EctoContext,
    options: { port?: number | undefined; target?: string | undefined },
  ): Promise<StepResult>;
  /** Status without changing anything. */
  report(ctx: EctoContext, record: ConnectionRecord): Promise<TailscaleReport>;
  /**
   * The handlers whose target is the gateway on `port`, or on a foreground
   * session's loopback port for which `isGateway` answers true.
   */
  gatewayRoutes(
    ctx: EctoContext,
    options: { port: number; isGateway: (port: number) => Promise<boolean> },
  ): Promise<GatewayRoutes>;
  /** Removes the background `routes` (never any other handler) and reads back. */
  removeGatewayRoutes(
    ctx: EctoContext,
    options: { routes: GatewayExposure[]; gatewayPorts: number[] },
  ): Promise<StepResult>;
}

/** The OpenClaw layer as orchestration sees it. */
export interface OpenClawLayer {
  /**
   * Applies the gateway settings ecto needs, starts the gateway when it is not
   * running and probes its API. `keepBind` leaves `gateway.bind` alone.
   */
  configure(
    ctx: EctoContext,
    options: {
      keepBind: boolean;
      restart: boolean;
      /** Replace a public credential with a fresh token only the edge uses. */
      rotateCredential?: boolean;
      /** Turn `gateway.tailscale.mode` off. */
      tailscaleOff?: boolean;
    },
  ): Promise<GatewayConfigured>;
  /** Reads the config (no CLI); `undefined` settings never: defaults when there is no file. */
  inspect(ctx: EctoContext): Promise<GatewayInspection>;
  /** Whether loopback `port` answers as this OpenClaw gateway (its private Tailscale listener). */
  answersAsGateway(ctx: EctoContext, port: number): Promise<boolean>;
  /** Restores the gateway settings ecto changed, from its snapshot. */
  undo(ctx: EctoContext): Promise<StepResult>;
  /** Status from the config file and HTTP probes only (no `openclaw` CLI calls). */
  report(ctx: EctoContext): Promise<LayerStatus>;
}

/** The edge layer as orchestration sees it. */
export interface EdgeLayer {
  /**
   * Writes the edge's settings and makes sure it runs under its supervisor and
   * answers its health check; `restart` restarts it even when nothing changed.
   */
  ensureRunning(
    ctx: EctoContext,
    options: { gatewayUrl: string; configPath: string; restart: boolean },
  ): Promise<EdgeRunning>;
  /** Stops the edge and removes it from its supervisor. */
  remove(ctx: EctoContext): Promise<StepResult>;
  /** Status from the supervisor and the health endpoint, without changing anything. */
  report(ctx: EctoContext): Promise<LayerStatus>;
}

/** Client keys as orchestration sees them. */
export interface KeysLayer {
  /**
   * Reuses the owner key while it is valid; otherwise, or with `regenerate`,
   * issues a new one and revokes the old. The key is bound to `agent` (default:
   * the owner's default agent in OpenClaw's config).
   */
  ensureOwner(
    ctx: EctoContext,
    options: { regenerate: boolean; agent?: string | undefined },
  ): Promise<OwnerKey>;
  /** Deletes every client key and the owner key's file. */
  purge(ctx: EctoContext): Promise<StepResult>;
}

/** Everything connect, status and disconnect drive. */
export interface Layers {
  /** Tailscale: install, daemon, login, Funnel. */
  tailscale: TailscaleLayer;
  /** The OpenClaw gateway's settings and process. */
  openclaw: OpenClawLayer;
  /** ecto's edge proxy. */
  edge: EdgeLayer;
  /** Client keys. */
  keys: KeysLayer;
  /** Proves the URL works, over the public path or else the tailnet path. */
  proof(ctx: EctoContext, request: ProofRequest): Promise<ProofOutcome>;
  /**
   * Read-only checks connect runs before it changes anything (`lib/preflight.ts`);
   * orchestration tests with fake layers may leave it out.
   */
  preflight?(
    ctx: EctoContext,
    request: {
      authKey?: string | undefined;
      restart: boolean;
      funnelPort?: number | undefined;
      keepBind?: boolean;
    },
  ): Promise<StepResult>;
}

/** The real layers. */
export function realLayers(): Layers {
  return {
    tailscale: tailscaleLayer(),
    openclaw: openclawLayer(),
    edge: edgeLayer(),
    keys: keysLayer(),
    proof: proofLayer,
    preflight,
  };
}
