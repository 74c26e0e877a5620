/**
 * `ecto keys`: give each person or app a key of its own, list them, revoke
 * one. Every key is bound to one OpenClaw agent: by default ecto's confined
 * agent (no tools, no skills, its own workspace), or one of the owner's own
 * with `--agent`. The edge picks every change up on its next request.
 *
 * @module
 */
import { ensurePrivateDir } from "../core/atomic_file.ts";
import type { EctoContext } from "../core/context.ts";
import { EctoError, UsageError } from "../core/errors.ts";
import { type CreatedKey, isAgentId, type KeyRecord, KeyStore } from "./keys.ts";
import type { KeyLimits } from "./limits.ts";
import type { EctoPaths } from "../core/paths.ts";
import { locateOpenClaw } from "../openclaw/cli.ts";
import { inspectGatewaySettings } from "../openclaw/settings.ts";
import { openClawEnvLookup, resolveOpenClawLocation } from "../openclaw/location.ts";
import { readOpenClawConfig } from "../openclaw/config.ts";
import {
  addConfinedAgent,
  agentIds,
  CONFINED_AGENT_ID,
  confinedAgentConsequence,
  confinedAgentRecordPath,
  consentRequired,
  machineToolsOf,
} from "../openclaw/confined_agent.ts";
import { poll } from "../core/poll.ts";

/** Every key's record (never a secret), oldest first. */
export async function listKeys(paths: EctoPaths): Promise<KeyRecord[]> {
  await using store = await KeyStore.open(paths.keysFile);
  return await store.list();
}

/** Options of {@link addKey}. */
export interface AddKeyOptions {
  /** Limits overriding the client defaults. */
  limits?: KeyLimits | undefined;
  /** The agent the key reaches. */
  agent?: string | undefined;
  /** ISO expiry time. */
  expires?: string | undefined;
}

/** Adds a client key named `name` to the store; its cleartext is returned once and stored nowhere. */
export async function addKey(
  paths: EctoPaths,
  name: string,
  options: AddKeyOptions = {},
): Promise<CreatedKey> {
  await ensurePrivateDir(paths.stateDir);
  await using store = await KeyStore.open(paths.keysFile);
  return await store.create(name, {
    role: "client",
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.agent !== undefined ? { agent: options.agent } : {}),
    ...(options.expires !== undefined ? { expires: options.expires } : {}),
  });
}

const DURATION = /^(\d{1,6})([smhdw])$/;
const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * The expiry time for `--expires`: a duration from `now` (`30m`, `12h`,
 * `7d`, also `s` and `w`) or an ISO 8601 time in the future. Pure.
 *
 * @throws {UsageError} for anything else, or a time already past.
 */
export function parseExpiry(text: string, now: number): string {
  const trimmed = text.trim();
  const m = DURATION.exec(trimmed);
  let at: number;
  if (m) at = now + Number(m[1]) * UNIT_MS[m[2]];
  else if (/^\d{4}-\d{2}-\d{2}/.test(trimmed) && !Number.isNaN(Date.parse(trimmed))) {
    at = Date.parse(trimmed);
  } else {
    throw new UsageError(`"${text}" is not a duration or a time.`, {
      fix: "Use e.g. --expires 30m, 12h, 7d or 2026-12-31T18:00:00Z.",
    });
  }
  if (!(at > now) || m?.[1] === "0") {
    throw new UsageError(`The expiry ${new Date(at).toISOString()} is not in the future.`);
  }
  return new Date(at).toISOString();
}

/** Options of {@link addClientKey}. */
export interface AddClientKeyOptions extends AddKeyOptions {
  /** The command to repeat with `--yes` in the consent refusal. */
  command?: string;
}

/** What {@link addClientKey} did. */
export interface AddedClientKey {
  /** The new key (its cleartext is shown once). */
  created: CreatedKey;
  /** The agent the key is bound to. */
  agent: string;
  /** Whether ecto's confined agent was added to OpenClaw for it. */
  agentAdded: boolean;
  /** Warnings worth showing (machine tools on a chosen agent). */
  warnings: string[];
}

/**
 * Adds a client key bound to `options.agent` (checked against OpenClaw's
 * config, with a warning when that agent has machine tools) or, by default,
 * to ecto's confined agent, which is added to OpenClaw first when missing.
 * Adding it makes the roster multi-agent, which changes what direct callers
 * of the gateway get for `openclaw/default`: that needs the owner's consent
 * (`ctx.consent`, i.e. a prompt or `--yes`).
 *
 * @throws {ActionRequiredError} `confined_agent_consent` when consent was not given.
 * @throws {UsageError} for an agent OpenClaw does not have.
 */
export async function addClientKey(
  ctx: EctoContext,
  name: string,
  options: AddClientKeyOptions = {},
): Promise<AddedClientKey> {
  const resolved = await resolveKeyAgent(
    ctx,
    options.agent,
    options.command ?? `ecto keys add ${name}`,
  );
  const created = await addKey(ctx.paths, name, { ...options, agent: resolved.agent });
  return { created, ...resolved };
}

/** Options of {@link editKey}. */
export interface EditKeyOptions {
  /** Bind the key to this agent (`ecto-guest`: ecto's confined agent, added when missing). */
  agent?: string | undefined;
  /** A new expiry (ISO time), or `null` for none. */
  expires?: string | null | undefined;
  /** Limits and daily budgets to set; `0` removes one. */
  limits?: KeyLimits | undefined;
  /** The command to repeat with `--yes` in the consent refusal. */
  command?: string;
}

/**
 * The key `ref` names: its id, or else its name when exactly one key has it.
 *
 * @throws {UsageError} when no key, or more than one, matches.
 */
export function findKey(keys: readonly KeyRecord[], ref: string): KeyRecord {
  const byId = keys.find((k) => k.id === ref);
  if (byId) return byId;
  const named = keys.filter((k) => k.name === ref.trim());
  if (named.length === 1) return named[0];
  if (named.length > 1) {
    throw new UsageError(
      `${named.length} keys are named "${ref}" (${named.map((k) => k.id).join(", ")}).`,
      { fix: "Name the key by its id (ecto keys list)." },
    );
  }
  throw new UsageError(`There is no key with id or name "${ref}".`, { fix: "ecto keys list" });
}

/**
 * Re-binds, re-dates or re-budgets key `ref` (id or name); the edge applies
 * it from the key's next request. Returns the new record and any warning
 * about the agent's tools.
 *
 * @throws {UsageError} no such key, nothing to change, or an unknown agent.
 */
export async function editKey(
  ctx: EctoContext,
  ref: string,
  options: EditKeyOptions,
): Promise<{ record: KeyRecord; warnings: string[]; agentAdded: boolean }> {
  const hasLimits = options.limits !== undefined && Object.keys(options.limits).length > 0;
  if (options.agent === undefined && options.expires === undefined && !hasLimits) {
    throw new UsageError("Nothing to change.", {
      fix: `ecto keys edit ${ref} --agent <id> | --expires <when> | --max-tokens-per-day <n>`,
    });
  }
  await using store = await KeyStore.open(ctx.paths.keysFile);
  const current = findKey(await store.list(), ref);
  const id = current.id;
  let resolved: { agent: string; warnings: string[]; agentAdded: boolean } | undefined;
  if (options.agent !== undefined) {
    const wanted = options.agent.trim().toLowerCase();
    resolved = await resolveKeyAgent(
      ctx,
      wanted === CONFINED_AGENT_ID ? undefined : wanted,
      options.command ?? `ecto keys edit ${id} --agent ${wanted}`,
    );
  }
  const record = await store.update(id, {
    ...(resolved ? { agent: resolved.agent } : {}),
    ...(options.expires !== undefined ? { expires: options.expires } : {}),
    ...(hasLimits ? { limits: options.limits } : {}),
  });
  return {
    record: record!,
    warnings: resolved?.warnings ?? [],
    agentAdded: resolved?.agentAdded ?? false,
  };
}

/**
 * The agent a key will reach: `requested` (checked against OpenClaw's config,
 * with a warning when that agent has machine tools) or, when `undefined`,
 * ecto's confined agent, added to OpenClaw first when missing. Adding it
 * makes the roster multi-agent, which changes what direct callers of the
 * gateway get for `openclaw/default`: that needs the owner's consent
 * (`ctx.consent`, i.e. a prompt or `--yes`).
 *
 * @throws {ActionRequiredError} `confined_agent_consent` when consent was not given.
 * @throws {UsageError} for an agent OpenClaw does not have.
 */
async function resolveKeyAgent(
  ctx: EctoContext,
  requested: string | undefined,
  command: string,
): Promise<{ agent: string; warnings: string[]; agentAdded: boolean }> {
  const location = resolveOpenClawLocation(ctx.env);
  const readConfig = async () => (await readOpenClawConfig(location.configPath)).config;
  const config = await readConfig();
  const warnings: string[] = [];
  if (requested !== undefined) {
    const agent = requested.trim().toLowerCase();
    if (!isAgentId(agent)) {
      throw new UsageError(`"${requested}" is not an OpenClaw agent id.`, {
        fix: "openclaw agents list",
      });
    }
    const ids = agentIds(config);
    if (!ids.includes(agent)) {
      throw new UsageError(
        `OpenClaw has no agent "${agent}" (it has ${ids.join(", ")}).`,
        { fix: "openclaw agents list" },
      );
    }
    const tools = machineToolsOf(config, agent);
    if (tools.length > 0) {
      warnings.push(
        `The agent "${agent}" can use machine tools (${
          tools.join(", ")
        }): whoever holds this key can act on this computer through it.`,
      );
    }
    return { agent, warnings, agentAdded: false };
  }
  const agent = CONFINED_AGENT_ID;
  if (agentIds(config).includes(agent)) return { agent, warnings, agentAdded: false };
  const consequence = confinedAgentConsequence(config);
  if (consequence !== undefined) {
    const ok = await ctx.consent({
      id: "openclaw.confined_agent",
      description: consequence,
      command: `openclaw config patch (adds agents.entries.${CONFINED_AGENT_ID})`,
    });
    if (!ok) throw consentRequired(consequence, command);
  }
  const cli = await locateOpenClaw(ctx.env);
  const env = await openClawEnvLookup(ctx.env, location.stateDir);
  await ensurePrivateDir(ctx.paths.stateDir);
  const agentAdded = await addConfinedAgent({
    $: ctx.$,
    env: ctx.env,
    cli,
    readConfig,
    recordPath: confinedAgentRecordPath(ctx.paths.stateDir),
    now: ctx.now,
  }, { configPath: location.configPath, openclawStateDir: location.stateDir });
  if (agentAdded) await waitForAgent(ctx, inspectGatewaySettings(await readConfig(), env));
  return { agent, warnings, agentAdded };
}

/** Waits (bounded) until a running gateway lists the confined agent, so the key works at once. */
async function waitForAgent(
  ctx: EctoContext,
  settings: ReturnType<typeof inspectGatewaySettings>,
): Promise<void> {
  const credential = settings.credential?.value;
  if (!credential) return;
  const listed = async () => {
    try {
      const res = await ctx.fetch(`${settings.url}/v1/models`, {
        headers: { authorization: `Bearer ${credential}` },
        signal: AbortSignal.timeout(3_000),
      });
      const text = await res.text();
      return res.status !== 200 || text.includes(`"openclaw/${CONFINED_AGENT_ID}"`) || undefined;
    } catch {
      return true; // not running: the agent is there when it starts
    }
  };
  await poll(listed, { timeoutMs: 20_000, intervalMs: 250, now: ctx.now, sleep: ctx.sleep });
}

/** Revokes key `id`. The owner key is renewed with `ecto connect --regenerate-token` instead. */
export async function revokeKey(paths: EctoPaths, id: string): Promise<KeyRecord> {
  await using store = await KeyStore.open(paths.keysFile);
  const record = (await store.list()).find((k) => k.id === id);
  if (!record) {
    throw new UsageError(`There is no key with id ${id}.`, { fix: "ecto keys list" });
  }
  if (record.role === "owner") {
    throw new EctoError(
      "owner_key",
      "The owner key is not revoked on its own: connect would have no key to print.",
      {
        fix: "ecto connect --regenerate-token (issues a new owner key and revokes this one)",
      },
    );
  }
  // Durable when this returns: atomic rename plus a directory fsync (KeyStore's write).
  await store.revoke(id);
  return record;
}
