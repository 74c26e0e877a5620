/**
 * The layers connect, status and disconnect orchestrate, as narrow
 * interfaces: the one types file every layer adapter implements
 * (`lib/commands/real_layers.ts` binds the real ones; orchestration tests
 * bind fakes). It imports nothing outside `lib/core/`, so no layer can form a
 * cycle through it.
 *
 * @module
 */
import type { ConnectionRecord } from "./connection_record.ts";
import type { EctoContext } from "./context.ts";

/**
 * Where ecto publishes the edge: `public` through Funnel (the internet), or
 * `private` through Serve only (devices in the user's tailnet).
 */
export type PublishMode = "public" | "private";

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

/** ecto's route (Funnel, or Serve in private mode). */
export interface PublishedRoute extends StepResult {
  /** The HTTPS port the route is on: 443, 8443 or 10000. */
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

/** What the proof established, and over which path (see `lib/proof/mod.ts`). */
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
  /** `private`: prove over the tailnet only (no public DNS, no public claim). */
  mode?: PublishMode;
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
  /** The `funnel` line (`serve` in private mode): ecto's route and whether Funnel is on for it. */
  funnel: LayerStatus;
  /** The node, when logged in (for the public check). */
  node?: TailscaleNode | undefined;
  /** ecto's route, when there is one. */
  route?: { port: number; url: string } | undefined;
}

/** The Tailscale layer as orchestration sees it. */
export interface TailscaleLayer {
  /**
   * Finds the Tailscale CLI, installing it (with consent) when it is missing.
   * Refuses a known-broken release (one that breaks Funnel only in `public` mode).
   */
  ensureInstalled(ctx: EctoContext, options?: { mode?: PublishMode }): Promise<TailscaleFound>;
  /** Makes sure the daemon runs, starting it (with consent) when it does not. */
  ensureRunning(
    ctx: EctoContext,
    found: TailscaleFound,
    options?: { mode?: PublishMode },
  ): Promise<StepResult>;
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
   * flow when it is missing) and port 443 in the tailnet policy. In `private`
   * mode only MagicDNS and HTTPS certificates (Serve needs no Funnel permission).
   */
  checkFunnelReady(
    ctx: EctoContext,
    node: TailscaleNode,
    options?: { mode?: PublishMode },
  ): Promise<StepResult>;
  /** The current node without installing, starting or logging in (for `--restart`). */
  current(ctx: EctoContext, options?: { mode?: PublishMode }): Promise<TailscaleNode>;
  /**
   * Publishes `target` through Funnel (or, `private`, through Serve on the
   * tailnet only), on `port` or ecto's current or the first free port, and
   * removes ecto's routes on other ports, so one route is left, in that mode.
   */
  publish(
    ctx: EctoContext,
    node: TailscaleNode,
    options: { target: string; port?: number; mode?: PublishMode },
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
   * Read-only checks connect runs before it changes anything (`lib/commands/preflight.ts`);
   * orchestration tests with fake layers may leave it out.
   */
  preflight?(
    ctx: EctoContext,
    request: {
      authKey?: string | undefined;
      restart: boolean;
      funnelPort?: number | undefined;
      keepBind?: boolean;
      mode?: PublishMode;
    },
  ): Promise<StepResult>;
}

// The facts the layers report, defined here so the layer contracts import nothing.

/** Where OpenClaw keeps its config and state for a given environment. */
export interface OpenClawLocation {
  /** The active config file. */
  configPath: string;
  /** The state directory (`~/.openclaw`, `~/.clawdbot`, `$OPENCLAW_STATE_DIR`, ...). */
  stateDir: string;
  /** The home OpenClaw uses for its paths (`$OPENCLAW_HOME` or `$HOME`). */
  home: string;
  /** Which variable decided `configPath`. */
  source: "OPENCLAW_CONFIG_PATH" | "OPENCLAW_STATE_DIR" | "OPENCLAW_HOME" | "HOME";
  /** The config or state is in the legacy `~/.clawdbot` directory or named `clawdbot.json`. */
  legacy: boolean;
  /** `OPENCLAW_PROFILE` (a named profile), when set and not `default`. */
  profile: string | undefined;
}

/** A credential ecto can send as `Authorization: Bearer <value>`. Never log `value`. */
export interface GatewayCredential {
  /** Which credential it is. */
  kind: "token" | "password";
  /** The secret itself. */
  value: string;
  /** Where it comes from: the config file, or an environment variable. */
  source: "config" | "env";
  /** The variable, for `source: "env"`. */
  envVar?: string;
}

/** What the config says about one credential (`gateway.auth.token` or `.password`). */
export type CredentialState =
  | { state: "absent" }
  /** A literal string in the config. */
  | { state: "plain"; value: string }
  /** From an environment variable (env-only, a `${VAR}` template, or an env SecretRef); `value` when ecto can see it. */
  | {
    state: "env";
    envVar: string;
    origin: "env-only" | "template" | "secret-ref";
    value?: string;
  }
  /** A file/exec/store SecretRef ecto cannot resolve. */
  | { state: "secret-ref"; source: string; provider?: string; id: string }
  /** Present but unusable (blank, placeholder, not a string). */
  | { state: "invalid"; reason: string };

/** The gateway settings ecto cares about, read from the config (+ environment). */
export interface GatewaySettings {
  /** `gateway.mode` (`local` | `remote`); the gateway refuses to start unless `local`. */
  mode: string | undefined;
  /** The port the gateway listens on. */
  port: number;
  /** `OPENCLAW_GATEWAY_PORT` > `gateway.port` > the port derived for a named profile > 18789. */
  portSource: "env" | "config" | "profile" | "default";
  /** `gateway.bind`, default `loopback`. */
  bind: string;
  /** `gateway.customBindHost` (bind `custom`). */
  customBindHost: string | undefined;
  /** Where ecto reaches the gateway: `http://127.0.0.1:PORT` (or the custom host). */
  url: string;
  /** `gateway.auth.mode` as configured (`undefined` when unset). */
  authMode: string | undefined;
  /** The mode in force: the configured one, else inferred from which credential exists. */
  effectiveAuthMode: "token" | "password" | "none" | "trusted-proxy" | "ambiguous";
  /** `gateway.auth.token` (or `OPENCLAW_GATEWAY_TOKEN`). */
  token: CredentialState;
  /** `gateway.auth.password` (or `OPENCLAW_GATEWAY_PASSWORD`). */
  password: CredentialState;
  /** The credential ecto can use as the bearer, when there is one it can read. */
  credential: GatewayCredential | undefined;
  /** `gateway.http.endpoints.chatCompletions.enabled === true`. */
  chatCompletions: boolean;
  /** `gateway.http.endpoints.responses.enabled === true`. */
  responses: boolean;
  /** `gateway.trustedProxies`, `undefined` when unset. */
  trustedProxies: string[] | undefined;
  /** `gateway.reload.mode` (`hybrid` default, `off`). */
  reloadMode: string | undefined;
  /** `gateway.tailscale.mode` (`off` default, `serve`, `funnel`): the gateway publishing itself. */
  tailscaleMode: string;
}

/** One Serve/Funnel handler whose target is the gateway itself. */
export interface GatewayExposure {
  /** The HTTPS (or TCP) port it listens on. */
  port: number;
  /** `web` for an HTTP(S) handler, `tcp` for a TCP forwarder. */
  kind: "web" | "tcp";
  /** The config key, `host:port` (web only). */
  hostPort?: string;
  /** The mount point (web only), e.g. `/`. */
  mount?: string;
  /** The target exactly as stored. */
  target: string;
  /** The loopback port the target points at. */
  targetPort: number;
  /** Public (Funnel on for its `host:port`) rather than tailnet-only. */
  funnel: boolean;
  /** Whether `--https` (false: `--http`) carries it (web only). */
  https: boolean;
  /** A foreground session's (ecto cannot remove it; its process must end). */
  foreground: boolean;
  /** The foreground session id. */
  session?: string;
}

/** Which path both checks passed on. */
export type ProofPath = "public" | "tailnet" | "none";

/** Everything the proof found. Claims no more than was proven. */
export interface ProofResult {
  /** The path both checks passed on; `none` when neither path passed. */
  path: ProofPath;
  /** The public base URL that was checked. */
  url: string;
  /** Public DNS on the last public attempt. */
  publicDns: PublicDnsResult;
  /** Why the public path is not proven (absent when `path` is `public`). */
  publicError?: string;
  /** Which path `unauthenticated`/`authenticated` describe (`null`: nothing answered). */
  checkedVia: "public" | "tailnet" | null;
  /** The `ADDR:PORT` the reported checks went to. */
  target?: string;
  /** `GET /v1/models` without a key: must be 401 from ecto's edge. */
  unauthenticated: CheckResult;
  /** `GET /v1/models` with the client key: must be 200 with an OpenAI list. */
  authenticated: AuthCheckResult;
  /** Public attempts made. */
  attempts: number;
  /** Time the whole proof took, by the injected clock. */
  durationMs: number;
  /** One or two sentences for people. */
  detail: string;
}

/** What public DNS (or `ECTO_CONNECT_TO`) said, on the last attempt. */
export interface PublicDnsResult {
  /** `connect-to` when an `ECTO_CONNECT_TO` entry replaced the DNS step. */
  source: "public-dns" | "connect-to";
  /** The resolver that gave the addresses, e.g. `1.1.1.1`. */
  nameServer?: string;
  /** Addresses found (A first, then AAAA); empty when none. */
  addresses: string[];
  /** Why there were no addresses. */
  error?: string;
}

/** One check's outcome. `status` is `null` when there was no HTTP answer. */
export interface CheckResult {
  /** The HTTP status, or `null` when nothing answered (or the check was not attempted). */
  status: number | null;
  /** Whether the check passed. */
  ok: boolean;
  /** What went wrong, in words, when not ok. */
  error?: string;
}

/** The authenticated check, with the model ids the list held. */
export interface AuthCheckResult extends CheckResult {
  /** Model ids from the list (empty unless `ok`). */
  models: string[];
}
