/**
 * `ecto connect`: from "OpenClaw on my machine" to "my assistant's API at a
 * public HTTPS URL with a key". Idempotent steps, each checking before acting
 * and reporting what it found or did; re-running on a connected machine
 * changes nothing, proves the path again and returns the same summary.
 *
 * Orchestration only: it never parses tool output. The layers do the work
 * (see {@link Layers}); `lib/core/layer_types.ts` builds the real ones.
 *
 * @module
 */
import { ensurePrivateDir } from "../core/atomic_file.ts";
import type { EctoContext } from "../core/context.ts";
import { readConnectionRecord, updateConnectionRecord } from "../core/connection_record.ts";
import { credentialsFileFor, readCredentials, writeCredentials } from "../core/credentials.ts";
import type {
  EdgeRunning,
  GatewayConfigured,
  Layers,
  ProofOutcome,
  PublishedRoute,
  PublishMode,
  TailscaleNode,
} from "../core/layer_types.ts";
import { realLayers } from "./real_layers.ts";
import { acquireLock } from "../core/lock.ts";
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import { baseUrl } from "../proof/mod.ts";
import {
  adoptLegacyKey,
  consentToTakeover,
  inspectTakeover,
  syncGatewayCredentialCopy,
  type TakeoverPlan,
  verifyNoGatewayRoute,
} from "./takeover.ts";

/** What the user asked for. */
export interface ConnectOptions {
  /** Tailscale auth key for headless login (from `--auth-key` or `TS_AUTHKEY`). */
  authKey?: string | undefined;
  /** Issue a new owner key and revoke the old one. */
  regenerateToken: boolean;
  /** The OpenClaw agent the owner key reaches (default: the owner's default agent). */
  agent?: string | undefined;
  /** Re-apply gateway settings and restart the edge without touching Tailscale. */
  restart: boolean;
  /** Leave `gateway.bind` alone instead of forcing loopback. */
  keepBind: boolean;
  /** The Funnel port to publish on (443, 8443, 10000); default: ecto's current or the first free. */
  funnelPort?: number;
  /** How long to wait for public DNS before settling for the tailnet path. */
  proofTimeoutMs: number;
  /** How long to wait for a browser login on a terminal. */
  loginTimeoutMs: number;
  /**
   * `private` (`--private`): Serve on the tailnet only, no Funnel. Default `public`, except
   * that `restart` keeps the recorded mode.
   */
  mode?: PublishMode;
}

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

/**
 * A context whose step events become progress lines under the enclosing
 * step, so a layer's own "done" does not read as a second step.
 */
function nested(ctx: EctoContext, parent: string): EctoContext {
  return {
    ...ctx,
    events: (event) =>
      ctx.events(
        event.kind === "step"
          ? { kind: "progress", step: parent, message: event.detail ?? event.step }
          : event,
      ),
  };
}

/** Runs connect with the real layers or the ones given. */
export async function connect(
  ctx: EctoContext,
  options: ConnectOptions,
  layers?: Layers,
): Promise<ConnectResult> {
  const l = layers ?? realLayers();
  await ensurePrivateDir(ctx.paths.stateDir);
  await using _lock = await acquireLock(ctx.paths.lockFile, { command: "connect", $: ctx.$ });
  // --restart leaves Tailscale alone, so it keeps the recorded mode (never turns private public).
  const mode: PublishMode = options.mode ??
    (options.restart ? (await readConnectionRecord(ctx.paths)).mode : undefined) ?? "public";
  const priv = mode === "private";
  const changed: string[] = [];
  const step = async <T extends { changed?: boolean; detail: string }>(
    id: string,
    start: string,
    run: (inner: EctoContext) => Promise<T>,
  ): Promise<T> => {
    ctx.events({ kind: "step", step: id, status: "start", detail: start });
    try {
      const result = await run(nested(ctx, id));
      if (result.changed) changed.push(id);
      ctx.events({
        kind: "step",
        step: id,
        status: result.changed ? "done" : "skip",
        detail: result.detail,
      });
      return result;
    } catch (error) {
      ctx.events({
        kind: "step",
        step: id,
        status: "fail",
        detail: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
  };

  const credentialsFile = credentialsFileFor(ctx.paths);
  // (private mode has no public path to prove early)
  const earlyProof = options.restart || priv
    ? undefined
    : proveWhileChecking(ctx, l, credentialsFile);

  // Preflight: every cheap, read-only check first; nothing is installed or changed until
  // connect knows it can finish (or has said what the user must do first).
  if (l.preflight) {
    await step(
      "preflight",
      "Checking what connect needs",
      (c) =>
        l.preflight!(c, {
          authKey: options.authKey,
          restart: options.restart,
          funnelPort: options.funnelPort,
          keepBind: options.keepBind,
          mode,
        }),
    );
  }

  // Tailscale: installed, running, logged in, allowed to Funnel. --restart leaves it alone
  // except for reading where we are published.
  const ts = options.restart
    ? await step(
      "tailscale.check",
      "Reading Tailscale state",
      (c) => l.tailscale.current(c, { mode }),
    )
    : await (async () => {
      const installed = await step(
        "tailscale.install",
        "Looking for Tailscale",
        (c) => l.tailscale.ensureInstalled(c, { mode }),
      );
      await step(
        "tailscale.daemon",
        "Checking the Tailscale daemon",
        (c) => l.tailscale.ensureRunning(c, installed, { mode }),
      );
      const login = await step(
        "tailscale.login",
        "Checking the Tailscale login",
        (c) =>
          l.tailscale.ensureLoggedIn(c, installed, {
            authKey: options.authKey,
            timeoutMs: options.loginTimeoutMs,
          }),
      );
      await step(
        priv ? "tailscale.serve" : "tailscale.funnel",
        priv ? "Checking Serve prerequisites (MagicDNS, HTTPS)" : "Checking Funnel prerequisites",
        (c) => l.tailscale.checkFunnelReady(c, login, { mode }),
      );
      return login;
    })();

  const takeover = await step(
    "takeover.inspect",
    "Looking for routes that publish the gateway itself",
    (c) => inspectTakeover(c, l, { keepBind: options.keepBind, credentialsFile }),
  );
  await takeoverConsent(ctx, takeover.plan, options);

  const owner = await step(
    "keys.owner",
    "Checking the owner key",
    (c) => l.keys.ensureOwner(c, { regenerate: options.regenerateToken, agent: options.agent }),
  );

  const plan = takeover.plan;
  const notes: string[] = [];
  let legacyKeyId: string | undefined;
  if (plan.rotateCredential || options.regenerateToken) {
    // Before the gateway stops accepting it, so an interrupted run cannot lose it.
    const legacy = await adoptLegacyKey(ctx, {
      secret: plan.rotateCredential ? takeover.credential : undefined,
      retire: options.regenerateToken,
    });
    legacyKeyId = legacy.id;
    if (legacy.note) notes.push(legacy.note);
    if (plan.rotateCredential && takeover.credential === undefined) {
      notes.push(
        "ecto could not read the gateway's old credential, so clients that used it must switch to the new key.",
      );
    }
  }
  if (plan.routes.length > 0) {
    await step(
      "takeover.routes",
      "Removing the routes straight to the gateway",
      (c) =>
        l.tailscale.removeGatewayRoutes(c, {
          routes: plan.routes,
          gatewayPorts: plan.gatewayPorts,
        }),
    );
  }
  const configure = () =>
    step(
      "openclaw.configure",
      "Configuring the OpenClaw gateway",
      (c) =>
        l.openclaw.configure(c, {
          keepBind: options.keepBind,
          restart: options.restart,
          rotateCredential: plan.rotateCredential,
          tailscaleOff: plan.tailscaleOff,
        }),
    );
  const startEdge = (upstream: { url: string; configPath: string }) =>
    step(
      "edge.run",
      "Starting the edge",
      (c) =>
        l.edge.ensureRunning(c, {
          gatewayUrl: upstream.url,
          configPath: upstream.configPath,
          restart: options.restart,
        }),
    );
  const publish = (edge: EdgeRunning) =>
    step(
      priv ? "serve.route" : "funnel.route",
      priv
        ? "Publishing the edge on your tailnet only (Serve)"
        : "Publishing the edge through Funnel",
      (c) =>
        publishEdge(c, l, { node: ts, target: edge.target, options: { ...options, mode }, plan }),
    );

  let gateway: GatewayConfigured;
  let edge: EdgeRunning;
  let route: PublishedRoute;
  const early = takeover.edgeUpstream;
  if (early) {
    // Configuring the gateway changes nothing the edge depends on (the take-over inspection's
    // dry run says so): the edge starts and is published while the gateway applies its patch.
    const configuring = configure();
    const edgeRoute = (async () => {
      const started = await startEdge(early);
      return { edge: started, route: await publish(started) };
    })();
    const [configured, published] = await Promise.allSettled([configuring, edgeRoute]);
    if (configured.status === "rejected") throw configured.reason;
    if (published.status === "rejected") throw published.reason;
    gateway = configured.value;
    ({ edge, route } = published.value);
    await syncGatewayCredentialCopy(ctx, gateway.edgeNeedsCopy);
    if (gateway.url !== early.url || gateway.configPath !== early.configPath) {
      edge = await startEdge(gateway); // the dry run was wrong: the edge follows the gateway
    }
    await updateConnectionRecord(ctx.paths, {
      gatewayPort: gateway.port,
      edgeListen: edge.listen,
      supervisor: edge.supervisor,
    });
  } else {
    gateway = await configure();
    await updateConnectionRecord(ctx.paths, { gatewayPort: gateway.port });
    if (plan.needed) {
      await step(
        "takeover.verify",
        "Checking that nothing publishes the gateway any more",
        () => verifyNoGatewayRoute(ctx, l, { port: gateway.port }),
      );
    }
    await syncGatewayCredentialCopy(ctx, gateway.edgeNeedsCopy);
    edge = await startEdge(gateway);
    await updateConnectionRecord(ctx.paths, {
      edgeListen: edge.listen,
      supervisor: edge.supervisor,
    });
    route = await publish(edge);
  }
  const now = new Date(ctx.now()).toISOString();
  const record = await updateConnectionRecord(ctx.paths, {
    dnsName: ts.dnsName,
    funnelPort: route.port,
    funnelTarget: edge.target,
    mode,
    updated: now,
    ...(plan.needed
      ? {
        takeover: {
          at: now,
          removedRoutes: plan.routes.length + plan.openclawClaims.length,
          tailscaleModeOff: plan.tailscaleOff,
          credentialRotated: plan.rotateCredential,
        },
      }
      : {}),
  });
  if (plan.needed && plan.publishPort !== undefined && route.port !== plan.publishPort) {
    notes.push(
      `The old URL's port ${plan.publishPort} could not be reused; the URL is now on port ${route.port}.`,
    );
  }
  if (!record.created) await updateConnectionRecord(ctx.paths, { created: now });
  if (priv) {
    notes.push(
      `Private mode: ${
        baseUrl(ts.dnsName, route.port)
      } works only on devices in your tailnet (Tailscale Serve, no Funnel); \`ecto connect\` makes it public.`,
    );
  }

  const url = baseUrl(ts.dnsName, route.port);
  const model = gateway.model;
  const endpoint = `${url}/v1/chat/completions`;
  // The proof: over the public path when public DNS has the name, else say plainly that
  // only the tailnet path was proven. Nothing proven at all is a failure.
  ctx.events({
    kind: "step",
    step: "proof",
    status: "start",
    detail: priv ? "Proving the URL over the tailnet" : "Proving the public URL",
  });
  // A proof made during this run, of this URL with this key, while nothing changed, stands.
  const already = earlyProof?.done && changed.length === 0 && earlyProof.done.url === url &&
      earlyProof.done.key === owner.key && earlyProof.done.proof.path === "public"
    ? earlyProof.done.proof
    : undefined;
  const proof = already ?? await l.proof(ctx, {
    url,
    dnsName: ts.dnsName,
    port: route.port,
    key: owner.key,
    timeoutMs: options.proofTimeoutMs,
    tailnetAddresses: ts.tailscaleIps,
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

  // Only a proven URL and key reach the file the old skill's scripts read; a failed or
  // interrupted run leaves the previous file as it was (atomic rename).
  await step("credentials", "Writing the credentials file", async () => {
    const previous = await readCredentials(credentialsFile).catch(() => undefined);
    const same = previous?.token === owner.key && previous.url === url &&
      previous.port === gateway.port && previous.model === model &&
      (previous.mode ?? "public") === mode;
    if (same) return { detail: `Credentials unchanged in ${credentialsFile}.` };
    const keepCreated = previous?.token === owner.key && previous.created !== "";
    await writeCredentials(credentialsFile, {
      token: owner.key,
      url,
      port: gateway.port,
      model,
      mode,
      created: keepCreated ? new Date(previous.created) : new Date(ctx.now()),
    });
    return {
      changed: true,
      detail: `Credentials written to ${credentialsFile} (mode 0600).`,
    };
  });

  return {
    ok: true,
    url,
    endpoint,
    token: owner.key,
    model,
    funnelPort: route.port,
    mode,
    credentialsFile,
    proof,
    changed,
    notes,
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

/**
 * A repeat run's proof, started before the layers are checked: the URL and key of the last
 * connect (its credentials file and record), one public attempt, no events. Connect uses the
 * answer only when it is in by the time the checks are done, they changed nothing and found
 * the same URL and key; otherwise it proves as usual. Never rejects.
 */
function proveWhileChecking(
  ctx: EctoContext,
  l: Layers,
  credentialsFile: string,
): { done?: { url: string; key: string; proof: ProofOutcome } } {
  const early: { done?: { url: string; key: string; proof: ProofOutcome } } = {};
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

/**
 * The take-over's consent, and the refusals that come before any change:
 * `--restart` does not touch Tailscale, so it cannot take over.
 */
async function takeoverConsent(
  ctx: EctoContext,
  plan: TakeoverPlan,
  options: ConnectOptions,
): Promise<void> {
  if (!plan.needed) return;
  if (options.restart) {
    throw new ActionRequiredError(
      "takeover_needs_connect",
      "The gateway is published directly; --restart leaves Tailscale alone and cannot take that over.",
      { fix: "ecto connect --yes" },
    );
  }
  await consentToTakeover(ctx.consent, plan);
}

/**
 * Publishes the edge on `--funnel-port`, else on the port the old direct route used (so the
 * URL does not change), else ecto's usual choice. When the old port still carries someone
 * else's handler, ecto leaves it alone and takes the first free port instead.
 */
async function publishEdge(
  ctx: EctoContext,
  l: Layers,
  args: { node: TailscaleNode; target: string; options: ConnectOptions; plan: TakeoverPlan },
): Promise<PublishedRoute> {
  const { options, plan } = args;
  const port = options.funnelPort ?? (plan.needed ? plan.publishPort : undefined);
  try {
    return await l.tailscale.publish(ctx, args.node, {
      target: args.target,
      ...(port === undefined ? {} : { port }),
      mode: options.mode ?? "public",
    });
  } catch (error) {
    const busy = error instanceof EctoError &&
      ["funnel_port_busy", "funnel_port_not_allowed", "serve_port_busy"].includes(error.code);
    if (!busy || options.funnelPort !== undefined || port === undefined) throw error;
    return await l.tailscale.publish(ctx, args.node, {
      target: args.target,
      mode: options.mode ?? "public",
    });
  }
}
