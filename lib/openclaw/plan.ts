/**
 * Pure planning: from a parsed OpenClaw config, the minimal `config patch`
 * that turns on the OpenAI-compatible API behind token auth on loopback, the
 * snapshot of every key it touches (for undo), and whether the change needs
 * a restart. The auth part is `plan_auth.ts`; recording a change,
 * `plan_changes.ts`; the reverse (restoring a snapshot), `undo_patch.ts`.
 *
 * Measured on OpenClaw 2026.9.6 (see docs/ and the e2e tests): endpoint and
 * token changes hot-apply (~0.5 s after the write); an `auth.mode` change
 * makes the gateway restart itself in-process (~7–11 s); a token added to a
 * gateway that started without one is NOT applied until a restart (it runs on
 * a runtime-generated token); a `bind` change needs a full stop + start.
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import {
  type GatewayCredential,
  type GatewaySettings,
  inspectGatewaySettings,
  isLoopbackBind,
} from "./settings.ts";
import { applyMergePatch } from "./merge_patch.ts";
import type { SnapshotEntry } from "./snapshot.ts";
import {
  GATEWAY_PATHS as P,
  type PlannedChange,
  planRecorder,
  type RestartKind,
} from "./plan_changes.ts";
import { planAuth } from "./plan_auth.ts";

/** Options of {@link planOpenClaw}. */
export interface PlanOptions {
  /** The config file the plan is for (recorded in the plan and the snapshot). */
  configPath: string;
  /** Environment OpenClaw resolves variables from (port override, env tokens). */
  env?: EnvLookup;
  /** Keep a non-loopback `gateway.bind` (default: move the gateway back to loopback). */
  allowNonLoopback?: boolean;
  /** Addresses to add to `gateway.trustedProxies` (merged with the existing list). Default none. */
  trustedProxies?: string[];
  /** Also turn on `/v1/responses`. Default `false` (never turned off either). */
  responses?: boolean;
  /** Token generator (tests); default 32 random bytes as 64 hex chars. */
  generateToken?: () => string;
  /**
   * The gateway's credential was public (a Funnel route straight to the
   * gateway, `gateway.tailscale.mode`, or the old skill's credentials file):
   * move to token auth with a fresh token only the edge uses, delete a
   * password, and hand the old credential back as `retired`. Not undone.
   */
  rotateCredential?: boolean;
  /** Turn `gateway.tailscale.mode` off (the gateway publishing itself). Not undone. */
  tailscaleOff?: boolean;
}

/**
 * The plan. It holds the gateway credential (`patch`, `credential`): never
 * log or print it as a whole; use {@link describePlan}.
 */
export interface OpenClawPlan {
  /** The config file the plan is for. */
  configPath: string;
  /** The settings before the change. */
  before: GatewaySettings;
  /** The settings once the patch is applied. */
  after: GatewaySettings;
  /** The `openclaw config patch` document; `{}` when nothing needs to change. */
  patch: Record<string, unknown>;
  /** The changes, for display (no secrets). */
  changes: PlannedChange[];
  /** Pre-change values of every key the patch touches. */
  snapshot: SnapshotEntry[];
  /** What it takes for the change to be live. */
  restart: RestartKind;
  /** Why a restart is needed (one sentence), when it is. */
  restartReason: string | undefined;
  /** The bearer credential ecto will use once the plan is applied. */
  credential: GatewayCredential;
  /** Whether `credential` is a token ecto generated. */
  tokenGenerated: boolean;
  /** Where ecto reaches the gateway, `http://127.0.0.1:PORT`. */
  url: string;
  /** Things worth telling the user. */
  notes: string[];
  /** The credential `rotateCredential` replaced (a secret: for the `legacy` key only). */
  retired: GatewayCredential | undefined;
  /** Paths changed for safety that undo leaves as they are (tailscale mode, rotated auth). */
  permanent: string[][];
}

/**
 * Computes the minimal change. Pure: reads nothing, writes nothing.
 *
 * - `gateway.http.endpoints.chatCompletions.enabled` → `true`;
 * - token auth with a 64-hex token generated only when no usable credential
 *   exists — a working token (or password, in password mode) is never replaced,
 *   and an env-only token is never shadowed by a config token;
 * - `gateway.bind` → `loopback` unless `allowNonLoopback`;
 * - optional `trustedProxies` / `responses`.
 *
 * @throws {ActionRequiredError} when the gateway's credential exists but ecto
 *   cannot read it (SecretRef, env var not set here), when auth is
 *   `trusted-proxy` or ambiguous, or when `gateway.mode` is `remote`.
 */
export function planOpenClaw(config: Record<string, unknown>, options: PlanOptions): OpenClawPlan {
  const env = options.env ?? (() => undefined);
  const before = inspectGatewaySettings(config, env);
  const rec = planRecorder(config);

  if (before.mode === "remote") {
    throw new ActionRequiredError(
      "openclaw_gateway_remote",
      `OpenClaw is configured as a client of a remote gateway (gateway.mode "remote" in ${options.configPath}); ecto must run on the gateway's own host.`,
      { fix: "Run ecto on the machine where `openclaw gateway` runs." },
    );
  }
  if (before.mode === undefined) {
    rec.notes.push(
      `gateway.mode is not set in ${options.configPath}; the gateway only starts with gateway.mode "local" (run \`openclaw onboard\` or \`openclaw config set gateway.mode local\`).`,
    );
  }

  // 1. The endpoint.
  if (!before.chatCompletions) rec.change(P.chatCompletions, true);
  if (options.responses === true && !before.responses) rec.change(P.responses, true);

  // 2. Auth: keep a working credential, otherwise token auth with a new token.
  const { credential, tokenGenerated, retired } = planAuth(rec, before, options);

  // 3. Bind.
  if (!isLoopbackBind(before.bind, before.customBindHost)) {
    if (options.allowNonLoopback) {
      rec.notes.push(
        `The gateway stays bound to "${before.bind}" (allowNonLoopback): it is reachable without ecto's edge.`,
      );
    } else {
      rec.change(P.bind, "loopback");
      rec.needs(
        "full",
        "a gateway.bind change only takes effect when the gateway process is stopped and started again",
      );
    }
  }

  // 4. Trusted proxies (arrays replace, so merge).
  if (options.trustedProxies && options.trustedProxies.length > 0) {
    const existing = before.trustedProxies ?? [];
    const merged = [...existing];
    for (const address of options.trustedProxies) {
      if (!merged.includes(address)) merged.push(address);
    }
    if (merged.length !== existing.length) rec.change(P.trustedProxies, merged);
  }

  if (!credential) {
    // Unreachable: every branch above either found, generated or refused a credential.
    throw new Error("planOpenClaw: no credential");
  }
  // With reload.mode=off nothing is applied live, not even endpoint switches: ecto restarts.
  if (
    before.reloadMode === "off" && rec.changes.length > 0 &&
    (rec.restart === "none" || rec.restart === "automatic")
  ) {
    rec.needs(
      "restart",
      "gateway.reload.mode is off, so nothing applies until the gateway restarts",
    );
  }
  const after = inspectGatewaySettings(applyMergePatch(config, rec.patch), env);
  return {
    configPath: options.configPath,
    before,
    after,
    patch: rec.patch,
    changes: rec.changes,
    snapshot: rec.snapshot,
    restart: rec.restart,
    restartReason: rec.reasons.length ? rec.reasons.join("; ") : undefined,
    credential,
    tokenGenerated,
    url: after.url,
    notes: rec.notes,
    retired,
    permanent: rec.permanent,
  };
}

/** A one-line-per-change description of a plan, without secrets. */
export function describePlan(plan: OpenClawPlan): string[] {
  return plan.changes.map((c) =>
    `${c.path.join(".")}: ${c.from === undefined ? "(absent)" : JSON.stringify(c.from)} → ${
      JSON.stringify(c.to)
    }`
  );
}
