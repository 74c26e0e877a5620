/**
 * Pure planning: from a parsed OpenClaw config, the minimal `config patch`
 * that turns on the OpenAI-compatible API behind token auth on loopback, the
 * snapshot of every key it touches (for undo), and whether the change needs
 * a restart. Also the reverse: the patch that restores a snapshot.
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
  credentialUnavailableError,
  type GatewayCredential,
  type GatewaySettings,
  inspectGatewaySettings,
  isLoopbackBind,
} from "./settings.ts";
import { getPath, hasPath, isRecord } from "./config.ts";

/**
 * What it takes for a config change to be live:
 * - `none`: hot reload applies it;
 * - `automatic`: the gateway restarts itself in-process after the write (auth mode change);
 * - `restart`: ecto must restart the gateway (a token added to a gateway running on a
 *   runtime-generated one);
 * - `full`: stop the process and start a new one (`gateway.bind`).
 */
export type RestartKind = "none" | "automatic" | "restart" | "full";

const RESTART_ORDER: RestartKind[] = ["none", "automatic", "restart", "full"];

function maxRestart(a: RestartKind, b: RestartKind): RestartKind {
  return RESTART_ORDER.indexOf(a) >= RESTART_ORDER.indexOf(b) ? a : b;
}

/** One key ecto changes, with its value before (for undo). Secrets never appear. */
export interface SnapshotEntry {
  /** Config path as keys, e.g. `["gateway","http","endpoints","chatCompletions","enabled"]`. */
  path: string[];
  /** The key did not exist before ecto (undo deletes it). */
  absent?: true;
  /** The old value was a secret; it is not stored (undo deletes the key). */
  redacted?: true;
  /** The old value (when neither `absent` nor `redacted`). */
  value?: unknown;
}

/** ecto's own record of the pre-ecto values of every OpenClaw key it changed. */
export interface OpenClawSnapshot {
  /** Format version. */
  version: 1;
  /** The config file these values belong to. */
  configPath: string;
  /** When ecto first changed the config (ISO time). */
  createdAt: string;
  /** When ecto last added to the snapshot (ISO time). */
  updatedAt: string;
  /** One entry per key ecto changed. */
  entries: SnapshotEntry[];
}

/** One change of the plan, for display. Secret values are replaced by a description. */
export interface PlannedChange {
  /** Config path as keys. */
  path: string[];
  /** Old value, `undefined` when absent, `"<redacted>"` for a secret. */
  from: unknown;
  /** New value, `"<new 64-hex token>"` for a generated token. */
  to: unknown;
}

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

/** A fresh gateway token: 32 random bytes as 64 lowercase hex characters. */
export function generateGatewayToken(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    if (!/^\d+$/.test(token)) return token; // an all-digit token would parse as a number
  }
}

const P = {
  chatCompletions: ["gateway", "http", "endpoints", "chatCompletions", "enabled"],
  responses: ["gateway", "http", "endpoints", "responses", "enabled"],
  authMode: ["gateway", "auth", "mode"],
  token: ["gateway", "auth", "token"],
  bind: ["gateway", "bind"],
  trustedProxies: ["gateway", "trustedProxies"],
  password: ["gateway", "auth", "password"],
  tailscaleMode: ["gateway", "tailscale", "mode"],
} as const;

/** Sets `value` at `path` in a patch document, creating objects on the way. */
export function setPath(
  target: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isRecord(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/**
 * Applies a merge patch the way `openclaw config patch` does: objects merge
 * recursively, arrays and scalars replace, `null` deletes. Pure.
 */
export function applyMergePatch(
  config: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isRecord(value)) {
      out[key] = applyMergePatch(
        isRecord(out[key]) ? out[key] as Record<string, unknown> : {},
        value,
      );
    } else out[key] = value;
  }
  return out;
}

/** The snapshot entry for changing `path` in `config`: its old value, or its topmost absent ancestor. */
function snapshotEntryFor(
  config: Record<string, unknown>,
  path: readonly string[],
  secret: boolean,
): SnapshotEntry {
  for (let i = 1; i <= path.length; i++) {
    if (!hasPath(config, path.slice(0, i))) return { path: path.slice(0, i), absent: true };
  }
  if (secret) return { path: [...path], redacted: true };
  return { path: [...path], value: structuredClone(getPath(config, path)) };
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function isPrefix(prefix: readonly string[], path: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((k, i) => k === path[i]);
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
  const patch: Record<string, unknown> = {};
  const changes: PlannedChange[] = [];
  const snapshot: SnapshotEntry[] = [];
  const notes: string[] = [];
  let restart: RestartKind = "none";
  const reasons: string[] = [];

  const permanent: string[][] = [];
  const change = (
    path: readonly string[],
    to: unknown,
    opts: { secret?: boolean; permanent?: boolean } = {},
  ) => {
    setPath(patch, path, to);
    const from = getPath(config, path);
    changes.push({
      path: [...path],
      from: opts.secret && from !== undefined ? "<redacted>" : from,
      to: opts.secret ? (to === null ? null : "<new 64-hex token>") : to,
    });
    if (opts.permanent) {
      permanent.push([...path]);
      return;
    }
    const entry = snapshotEntryFor(config, path, opts.secret === true);
    if (!snapshot.some((e) => samePath(e.path, entry.path))) snapshot.push(entry);
  };

  if (before.mode === "remote") {
    throw new ActionRequiredError(
      "openclaw_gateway_remote",
      `OpenClaw is configured as a client of a remote gateway (gateway.mode "remote" in ${options.configPath}); ecto must run on the gateway's own host.`,
      { fix: "Run ecto on the machine where `openclaw gateway` runs." },
    );
  }
  if (before.mode === undefined) {
    notes.push(
      `gateway.mode is not set in ${options.configPath}; the gateway only starts with gateway.mode "local" (run \`openclaw onboard\` or \`openclaw config set gateway.mode local\`).`,
    );
  }

  // 1. The endpoint.
  if (!before.chatCompletions) change(P.chatCompletions, true);
  if (options.responses === true && !before.responses) change(P.responses, true);

  // 2. Auth: keep a working credential, otherwise token auth with a new token.
  let credential = before.credential;
  let tokenGenerated = false;
  const newToken = () => {
    const value = (options.generateToken ?? generateGatewayToken)();
    tokenGenerated = true;
    credential = { kind: "token", value, source: "config" };
    return value;
  };
  let retired: GatewayCredential | undefined;
  const rotate = options.rotateCredential === true && before.effectiveAuthMode !== "trusted-proxy";
  if (rotate) {
    // The old credential was public: a fresh token only the edge knows, the password gone.
    retired = before.credential;
    if (before.authMode !== "token") change(P.authMode, "token", { permanent: true });
    change(P.token, newToken(), { secret: true, permanent: true });
    if (hasPath(config, P.password)) change(P.password, null, { secret: true, permanent: true });
    restart = maxRestart(restart, "automatic");
    reasons.push("changing gateway auth makes the gateway restart itself");
    if (before.password.state === "env" || before.token.state === "env") {
      notes.push(
        "OPENCLAW_GATEWAY_TOKEN/PASSWORD in the gateway's environment no longer apply: the config token wins.",
      );
    }
  }
  if (options.tailscaleOff === true && before.tailscaleMode !== "off") {
    change(P.tailscaleMode, "off", { permanent: true });
    restart = maxRestart(restart, "automatic");
    reasons.push("a gateway.tailscale.mode change makes the gateway restart (and drop its route)");
  }
  switch (rotate ? "rotated" : before.effectiveAuthMode) {
    case "rotated":
      break;
    case "trusted-proxy":
      throw new ActionRequiredError(
        "openclaw_auth_trusted_proxy",
        `The OpenClaw gateway uses trusted-proxy auth (${options.configPath}), which cannot be combined with the bearer token ecto's edge sends.`,
        {
          fix:
            "Switch the gateway to token auth (`openclaw config set gateway.auth.mode token`) if you want ecto to publish it, then run ecto again.",
        },
      );
    case "ambiguous":
      throw new ActionRequiredError(
        "openclaw_auth_ambiguous",
        `Both gateway.auth.token and gateway.auth.password are set in ${options.configPath} but gateway.auth.mode is not, so the gateway refuses to start.`,
        { fix: "openclaw config set gateway.auth.mode token   (or password)" },
      );
    case "token":
      if (!credential) {
        const state = before.token;
        if (state.state === "env" || state.state === "secret-ref") {
          throw credentialUnavailableError("token", state, options.configPath);
        }
        // Absent or unusable: generate one. Mode stays (or becomes explicitly) token.
        if (before.authMode === undefined) {
          change(P.authMode, "token");
          restart = maxRestart(restart, "automatic");
          reasons.push("setting gateway.auth.mode makes the gateway restart itself");
        }
        change(P.token, newToken(), { secret: true });
        if (before.authMode === "token") {
          restart = maxRestart(restart, "restart");
          reasons.push(
            "a gateway started without a token runs on a runtime-generated one until it restarts",
          );
        }
        if (state.state === "invalid") {
          notes.push(
            `The old gateway.auth.token was unusable (${state.reason}); ecto replaced it.`,
          );
        }
      }
      break;
    case "password":
      if (!credential) {
        const state = before.password;
        if (state.state === "env" || state.state === "secret-ref") {
          throw credentialUnavailableError("password", state, options.configPath);
        }
        if (state.state === "absent") {
          // Password mode with no password in the config: it comes from the gateway's env.
          throw credentialUnavailableError("password", {
            state: "env",
            envVar: "OPENCLAW_GATEWAY_PASSWORD",
            origin: "env-only",
          }, options.configPath);
        }
        // Password mode without a password: move to token auth.
        change(P.authMode, "token");
        restart = maxRestart(restart, "automatic");
        reasons.push("changing gateway.auth.mode makes the gateway restart itself");
        const token = before.token.state === "plain" ? before.token.value : undefined;
        if (token) credential = { kind: "token", value: token, source: "config" };
        else change(P.token, newToken(), { secret: true });
      } else {
        notes.push(
          "The gateway uses password auth; ecto sends the password as the bearer credential and leaves auth unchanged.",
        );
      }
      break;
    case "none": {
      // No auth at all: the API would be open to anything that reaches it.
      const pw = before.password;
      if (pw.state === "plain" || (pw.state === "env" && pw.value !== undefined)) {
        // Switching to token mode would make OpenClaw delete the password; use it instead.
        change(P.authMode, "password");
        credential = {
          kind: "password",
          value: pw.state === "plain" ? pw.value : pw.value!,
          source: pw.state === "plain" ? "config" : "env",
          ...(pw.state === "env" ? { envVar: pw.envVar } : {}),
        };
      } else {
        change(P.authMode, "token");
        const token = before.token.state === "plain" ? before.token.value : undefined;
        if (token) credential = { kind: "token", value: token, source: "config" };
        else change(P.token, newToken(), { secret: true });
      }
      restart = maxRestart(restart, "automatic");
      reasons.push("changing gateway.auth.mode makes the gateway restart itself");
      break;
    }
  }

  // 3. Bind.
  if (!isLoopbackBind(before.bind, before.customBindHost)) {
    if (options.allowNonLoopback) {
      notes.push(
        `The gateway stays bound to "${before.bind}" (allowNonLoopback): it is reachable without ecto's edge.`,
      );
    } else {
      change(P.bind, "loopback");
      restart = maxRestart(restart, "full");
      reasons.push(
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
    if (merged.length !== existing.length) change(P.trustedProxies, merged);
  }

  if (!credential) {
    // Unreachable: every branch above either found, generated or refused a credential.
    throw new Error("planOpenClaw: no credential");
  }
  // With reload.mode=off nothing is applied live, not even endpoint switches: ecto restarts.
  if (before.reloadMode === "off" && changes.length > 0 && RESTART_ORDER.indexOf(restart) < 2) {
    restart = "restart";
    reasons.push("gateway.reload.mode is off, so nothing applies until the gateway restarts");
  }
  const after = inspectGatewaySettings(applyMergePatch(config, patch), env);
  return {
    configPath: options.configPath,
    before,
    after,
    patch,
    changes,
    snapshot,
    restart,
    restartReason: reasons.length ? reasons.join("; ") : undefined,
    credential,
    tokenGenerated,
    url: after.url,
    notes,
    retired,
    permanent,
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

/**
 * Merges new snapshot entries into the snapshot of an earlier ecto run: an
 * entry already recorded keeps its ORIGINAL (pre-ecto) value; a new entry
 * overlapping a recorded one is dropped. Pure.
 *
 * @throws {ActionRequiredError} when the earlier snapshot is for another config file.
 */
export function mergeSnapshot(
  existing: OpenClawSnapshot | undefined,
  entries: SnapshotEntry[],
  configPath: string,
  now: Date,
): OpenClawSnapshot {
  if (existing && existing.configPath !== configPath) {
    throw new ActionRequiredError(
      "openclaw_snapshot_other_config",
      `ecto already changed another OpenClaw config (${existing.configPath}); undo that first.`,
      { fix: "Run `ecto disconnect` with that OpenClaw environment, then connect again." },
    );
  }
  const merged: SnapshotEntry[] = existing ? existing.entries.map((e) => structuredClone(e)) : [];
  for (const entry of entries) {
    const overlaps = merged.some((e) =>
      isPrefix(e.path, entry.path) || isPrefix(entry.path, e.path)
    );
    if (!overlaps) merged.push(structuredClone(entry));
  }
  return {
    version: 1,
    configPath,
    createdAt: existing?.createdAt ?? now.toISOString(),
    updatedAt: now.toISOString(),
    entries: merged,
  };
}

/** The `config patch` document that restores a snapshot: old values back, `null` for absent. Pure. */
export function undoPatch(snapshot: OpenClawSnapshot): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const entry of snapshot.entries) {
    setPath(
      patch,
      entry.path,
      entry.absent || entry.redacted ? null : structuredClone(entry.value),
    );
  }
  return patch;
}

/**
 * What restoring the snapshot needs to be live (same rules as the plan): bind
 * change → `full`; a token removed while token auth stays → `restart` (a
 * running gateway refuses to hot-reload a token-mode config without a token:
 * "config reload failed: gateway auth mode is token, but no token was
 * configured", and keeps the old config); auth mode change → `automatic`;
 * otherwise `none`. Pure.
 */
export function undoRestartKind(
  config: Record<string, unknown>,
  snapshot: OpenClawSnapshot,
  env: EnvLookup = () => undefined,
): RestartKind {
  const restored = applyMergePatch(config, undoPatch(snapshot));
  const a = inspectGatewaySettings(config, env);
  const b = inspectGatewaySettings(restored, env);
  if (a.bind !== b.bind || a.customBindHost !== b.customBindHost) return "full";
  if (b.effectiveAuthMode === "token" && b.token.state === "absent" && a.token.state !== "absent") {
    return "restart";
  }
  if (getPath(config, P.authMode) !== getPath(restored, P.authMode)) return "automatic";
  return "none";
}

/** Validates a snapshot read from disk (shape only). */
export function isOpenClawSnapshot(value: unknown): value is OpenClawSnapshot {
  return isRecord(value) && value.version === 1 && typeof value.configPath === "string" &&
    Array.isArray(value.entries) &&
    value.entries.every((e) =>
      isRecord(e) && Array.isArray(e.path) && e.path.every((k) => typeof k === "string")
    );
}
