/**
 * Taking over a machine where the gateway publishes itself: the old
 * `ecto-connection` skill's Funnel route straight to the gateway, OpenClaw's
 * own `gateway.tailscale.mode`, a gateway password handed out as the public
 * token. {@link planTakeover} decides (pure) what must change; connect asks
 * for consent, removes only those routes, lets the gateway drop its own,
 * rotates the public credential into an ecto key named `legacy`, and
 * publishes the edge on the port the old route used.
 *
 * @module
 */
import { removeIfExists, writeFileAtomic } from "../core/atomic_file.ts";
import type { Consent, EctoContext } from "../core/context.ts";
import { readCredentials } from "../core/credentials.ts";
import { gatewayCredentialFile } from "../edge/token_source.ts";
import { KeyStore } from "../edge/keys.ts";
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import type { GatewayRoutes, Layers } from "../core/layer_types.ts";
import { blockedLegacyMigration } from "../openclaw/location.ts";
import { type GatewaySettings, isLoopbackBind } from "../openclaw/settings.ts";
import { planOpenClaw } from "../openclaw/plan.ts";
import { describeExposure, exposureOffArgs, type GatewayExposure } from "../tailscale/exposures.ts";
import { FUNNEL_PORTS } from "../tailscale/serve_config.ts";

/** The name of the key the old public credential becomes. */
export const LEGACY_KEY_NAME = "legacy";

/** What a take-over changes. Empty lists and `false` everywhere: nothing to take over. */
export interface TakeoverPlan {
  /** Something publishes the gateway or its credential was handed out. */
  needed: boolean;
  /** Background handlers straight to the gateway: ecto removes exactly these. */
  routes: GatewayExposure[];
  /** OpenClaw's own foreground claim: it ends when `tailscale.mode` is off and the gateway restarts. */
  openclawClaims: GatewayExposure[];
  /** Someone else's foreground session straight to the gateway (ecto cannot end it). */
  foreign: GatewayExposure[];
  /** Turn `gateway.tailscale.mode` off. */
  tailscaleOff: boolean;
  /** Replace the gateway's credential (it was public) with a fresh token only the edge uses. */
  rotateCredential: boolean;
  /** Why the credential is rotated, for the summary. */
  rotateReason: string | undefined;
  /** The Funnel port the old public URL used (the edge goes there). */
  publishPort: number | undefined;
  /** A non-loopback bind connect moves back to loopback (or keeps, with `--keep-bind`). */
  bindExposed: boolean;
  /** The ports matched as the gateway's. */
  gatewayPorts: number[];
  /** One line per change, for the consent prompt and the exit-3 message. */
  changes: string[];
  /** The commands, for the consent prompt. */
  commands: string[];
}

/** Input of {@link planTakeover}. */
export interface TakeoverInput {
  /** The routes whose target is the gateway. */
  routes: GatewayRoutes;
  /** The gateway's settings. */
  settings: GatewaySettings;
  /** `--keep-bind`. */
  keepBind: boolean;
  /** The token in an old-format credentials file (the old skill wrote the gateway's password there). */
  oldCredentialsToken?: string | undefined;
}

/** Decides what a take-over changes. Pure. */
export function planTakeover(input: TakeoverInput): TakeoverPlan {
  const { settings } = input;
  const all = input.routes.routes;
  const routes = all.filter((e) => !e.foreground);
  const fg = all.filter((e) => e.foreground);
  // A claim on a private listener is OpenClaw's (only the gateway makes those); one on the
  // gateway's own port is someone's `tailscale funnel <port>` in a terminal, unless OpenClaw
  // is configured to claim a route itself.
  const openclawClaims = fg.filter((e) =>
    e.targetPort !== settings.port || settings.tailscaleMode !== "off"
  );
  const foreign = fg.filter((e) => !openclawClaims.includes(e));
  const tailscaleOff = settings.tailscaleMode !== "off";
  const handedOut = input.oldCredentialsToken !== undefined &&
    settings.credential?.value === input.oldCredentialsToken;
  const rotateReason = all.length > 0
    ? "it was reachable through a route straight to the gateway"
    : tailscaleOff
    ? `gateway.tailscale.mode was ${settings.tailscaleMode}`
    : handedOut
    ? "the old skill handed it out as the public token"
    : undefined;
  const rotateCredential = rotateReason !== undefined &&
    settings.effectiveAuthMode !== "trusted-proxy";
  const publicFirst = [...routes, ...openclawClaims].sort((a, b) =>
    Number(b.funnel) - Number(a.funnel)
  );
  const publishPort = publicFirst.map((e) => e.port).find((p) => FUNNEL_PORTS.includes(p)) ??
    (tailscaleOff && settings.tailscaleMode === "funnel" ? 443 : undefined);
  const bindExposed = !isLoopbackBind(settings.bind, settings.customBindHost);

  const changes: string[] = [];
  const commands: string[] = [];
  for (const r of routes) {
    changes.push(`remove the route ${describeExposure(r)}`);
    commands.push(`tailscale ${exposureOffArgs(r).join(" ")}`);
  }
  if (tailscaleOff) {
    changes.push(
      `set gateway.tailscale.mode ${settings.tailscaleMode} → off, so the gateway stops publishing itself${
        openclawClaims.length ? ` (it drops its route on port ${openclawClaims[0].port})` : ""
      }`,
    );
  }
  if (rotateCredential) {
    changes.push(
      `move the gateway to token auth with a fresh token only ecto's edge uses (the old ${
        settings.effectiveAuthMode === "password" ? "password" : "token"
      } stops working at the gateway and keeps working through the edge as the key "${LEGACY_KEY_NAME}", confined to the OpenAI endpoints)`,
    );
  }
  if (tailscaleOff || rotateCredential) {
    commands.push(
      `openclaw config patch (${
        [
          tailscaleOff ? "gateway.tailscale.mode=off" : "",
          rotateCredential ? "gateway.auth.mode=token, a new gateway.auth.token" : "",
          rotateCredential && settings.password.state !== "absent"
            ? "gateway.auth.password removed"
            : "",
        ].filter(Boolean).join(", ")
      }), then one gateway restart`,
    );
  }
  const exposed = routes.length > 0 || openclawClaims.length > 0 || tailscaleOff ||
    rotateCredential;
  if (exposed && bindExposed && !input.keepBind) {
    changes.push(`move gateway.bind ${settings.bind} → loopback`);
  }
  if (publishPort !== undefined && (routes.length > 0 || openclawClaims.length > 0)) {
    changes.push(`publish ecto's edge on port ${publishPort}, so the old URL keeps working`);
  }
  return {
    needed: exposed || foreign.length > 0,
    routes,
    openclawClaims,
    foreign,
    tailscaleOff,
    rotateCredential,
    rotateReason,
    publishPort,
    bindExposed,
    gatewayPorts: input.routes.gatewayPorts,
    changes,
    commands,
  };
}

/**
 * Asks for consent to `plan` (a terminal prompt; `--yes` answers for the
 * user). Without it: exit 3 whose message and fix say exactly what would
 * change. A foreign foreground session is refused before anything changes.
 */
export async function consentToTakeover(consent: Consent, plan: TakeoverPlan): Promise<void> {
  if (plan.foreign.length > 0) {
    throw new ActionRequiredError(
      "gateway_foreground_route",
      `A \`tailscale serve/funnel\` session running in the foreground publishes the gateway: ${
        plan.foreign.map(describeExposure).join("; ")
      }. ecto cannot end another program's session.`,
      {
        fix:
          "Stop that `tailscale funnel`/`tailscale serve` (Ctrl+C in its terminal), then run ecto connect again.",
      },
    );
  }
  if (plan.changes.length === 0) return;
  const description =
    `The gateway is published directly, which exposes its full operator API. ecto will:\n` +
    plan.changes.map((c) => `  - ${c}`).join("\n");
  const ok = await consent({
    id: "openclaw.takeover",
    description,
    command: plan.commands.join("\n  "),
  });
  if (!ok) {
    throw new ActionRequiredError(
      "takeover_needs_consent",
      `${description}\nNothing was changed.`,
      { fix: `ecto connect --yes   (consents to: ${plan.changes.join("; ")})` },
    );
  }
}

/** What {@link inspectTakeover} found. */
export interface TakeoverInspection {
  /** The plan (maybe `needed: false`). */
  plan: TakeoverPlan;
  /** One sentence for the step line. */
  detail: string;
  /** The gateway's current credential (a secret: the `legacy` key when it is rotated). */
  credential: string | undefined;
  /**
   * Where the edge's upstream will be, when configuring the gateway changes nothing the edge
   * depends on (same URL, the same credential read from the config file, no restart): then
   * connect starts the edge while the gateway is configured. Absent for a take-over.
   */
  edgeUpstream?: { url: string; configPath: string } | undefined;
}

/**
 * Reads how the gateway is exposed (serve config, OpenClaw config, the old
 * credentials file) and plans the take-over. Changes nothing.
 */
export async function inspectTakeover(
  ctx: EctoContext,
  l: Layers,
  options: { keepBind: boolean; credentialsFile: string },
): Promise<TakeoverInspection> {
  const blocked = blockedLegacyMigration(ctx.env);
  if (blocked) {
    throw new ActionRequiredError(
      "openclaw_legacy_migration_blocked",
      `OpenClaw keeps its state in the legacy ${blocked.source}, but ${blocked.target} also exists, so OpenClaw's own migration refuses and the gateway will not start.`,
      {
        fix:
          `Move what is in ${blocked.target} (usually only ecto-credentials.json from the old skill) into ${blocked.source}, remove the empty ${blocked.target}, then run ecto connect again (OpenClaw migrates ${blocked.source} when the gateway starts).`,
      },
    );
  }
  const gateway = await l.openclaw.inspect(ctx);
  const routes = await l.tailscale.gatewayRoutes(ctx, {
    port: gateway.settings.port,
    isGateway: (port) => l.openclaw.answersAsGateway(ctx, port),
  });
  const old = await readCredentials(options.credentialsFile).catch(() => undefined);
  const plan = planTakeover({
    routes,
    settings: gateway.settings,
    keepBind: options.keepBind,
    oldCredentialsToken: old?.legacy ? old.token : undefined,
  });
  // A dry run of the gateway change: a credential ecto cannot give the edge (a file/exec
  // SecretRef, a variable not set here) is refused now, before anything changes.
  const dryRun = planOpenClaw(gateway.config, {
    configPath: gateway.location.configPath,
    env: gateway.env,
    allowNonLoopback: options.keepBind,
    rotateCredential: plan.rotateCredential,
    tailscaleOff: plan.tailscaleOff,
  });
  const credentialKept = dryRun.credential.source === "config" &&
    dryRun.credential.value === gateway.settings.credential?.value &&
    !dryRun.changes.some((c) => c.path[1] === "auth");
  const edgeIndependent = !plan.needed && credentialKept && dryRun.restart === "none" &&
    dryRun.url === gateway.settings.url;
  return {
    plan,
    credential: gateway.settings.credential?.value,
    ...(edgeIndependent
      ? { edgeUpstream: { url: dryRun.url, configPath: gateway.location.configPath } }
      : {}),
    detail: plan.needed
      ? `The gateway is exposed: ${plan.changes.length} change(s) needed.`
      : "Nothing publishes the gateway directly.",
  };
}

/**
 * After the gateway change: reads the serve config back until no route,
 * background or foreground, targets the gateway (OpenClaw drops its claim a
 * moment after its restart). Bounded; throws when one is left.
 */
export async function verifyNoGatewayRoute(
  ctx: EctoContext,
  l: Layers,
  options: { port: number; limitMs?: number },
): Promise<{ detail: string; changed?: boolean }> {
  const limit = options.limitMs ?? 30_000;
  const started = ctx.now();
  for (;;) {
    const routes = await l.tailscale.gatewayRoutes(ctx, {
      port: options.port,
      isGateway: (port) => l.openclaw.answersAsGateway(ctx, port),
    });
    if (routes.routes.length === 0) {
      return { detail: "No route anywhere targets the gateway (read back from Tailscale)." };
    }
    if (ctx.now() - started >= limit) {
      const left = routes.routes[0];
      throw new EctoError(
        "gateway_still_published",
        `A route still publishes the gateway after the take-over: ${describeExposure(left)}.`,
        {
          fix: left.foreground
            ? "Restart the gateway (openclaw gateway restart), then run ecto connect again."
            : `tailscale ${exposureOffArgs(left).join(" ")}`,
        },
      );
    }
    await ctx.sleep(500);
  }
}

/**
 * The old public credential becomes the ecto key `legacy` (owner role,
 * confined like every key), so clients set up with the old URL and token keep
 * working through the edge; `retire` (`--regenerate-token`) revokes it
 * instead. Returns a note for the summary, or `undefined`.
 */
export async function adoptLegacyKey(
  ctx: EctoContext,
  options: { secret: string | undefined; retire: boolean },
): Promise<{ id?: string; note?: string }> {
  await using store = await KeyStore.open(ctx.paths.keysFile);
  const legacy = (await store.list()).filter((k) => k.imported && k.name === LEGACY_KEY_NAME);
  if (options.retire) {
    for (const k of legacy) await store.revoke(k.id);
    return legacy.length > 0 || options.secret !== undefined
      ? { note: "The old token was retired (--regenerate-token): it no longer works anywhere." }
      : {};
  }
  // The legacy key reaches what the owner key reaches (bound just before), and only that.
  const agent = (await store.owner())?.agent;
  for (const k of legacy) {
    if (agent !== undefined && k.agent !== agent) await store.update(k.id, { agent });
  }
  if (options.secret === undefined) return legacy[0] ? { id: legacy[0].id } : {};
  const record = await store.importKey(LEGACY_KEY_NAME, options.secret, {
    role: "owner",
    ...(agent === undefined ? {} : { agent }),
  });
  return {
    id: record.id,
    note:
      `The old token no longer opens the gateway itself; it keeps working through ecto's edge as the key "${LEGACY_KEY_NAME}" (${record.id}), for the OpenAI endpoints only. Retire it with \`ecto connect --regenerate-token\`.`,
  };
}

/**
 * Gives the edge the gateway credential when it cannot resolve it itself (it
 * lived only in the environment ecto runs in): a 0600 file in ecto's 0700
 * state dir, never argv, a unit file or the edge's environment. Removes a
 * stale copy otherwise.
 */
export async function syncGatewayCredentialCopy(
  ctx: EctoContext,
  secret: string | undefined,
): Promise<void> {
  const file = gatewayCredentialFile(ctx.paths.stateDir);
  if (secret === undefined) await removeIfExists(file);
  else await writeFileAtomic(file, secret + "\n", 0o600);
}
