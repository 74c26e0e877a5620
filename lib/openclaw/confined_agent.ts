/**
 * ecto's confined agent: the OpenClaw agent client keys reach by default. No
 * tools at all (`tools.deny: ["*"]`, so no exec, processes, files, patches,
 * browser, gateway, cron, nodes or messaging), no skills, its own workspace
 * (so none of the owner's memory or bootstrap files reach its prompt). Added
 * with one validated `openclaw config patch` (hot-applied, ~0.5 s after the
 * CLI returns), removed with `openclaw agents delete` on `disconnect --purge`.
 *
 * The catch, verified on OpenClaw 2026.9.6: a second agent makes the roster
 * multi-agent. OpenClaw then stamps `agents.ownership: "explicit"` (and
 * `agents.defaults.systemAgent.agentId`, `heartbeat.agentId`, `talk.agentId`
 * for the existing agent), and answers `model: "openclaw"` /
 * `"openclaw/default"` with 400 "Multiple agents are configured…" for anyone
 * calling the gateway directly. `systemAgent` does not feed the HTTP default,
 * and a `default: true` marker is deleted at load ("Removed retired
 * agents.entries.*.default markers"), so there is no supported way to keep
 * that default. Calls through ecto's edge are unaffected (the edge maps
 * `openclaw/default` to the key's agent). ecto therefore asks before adding
 * the agent ({@link confinedAgentConsequence}).
 *
 * @module
 */
import { readJsonIfExists, removeIfExists, writeJsonAtomic } from "../core/atomic_file.ts";
import { ActionRequiredError, EctoError, ToolError } from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { Shell } from "../core/shell.ts";
import { getPath, isRecord } from "./config.ts";
import { type OpenClawCli, patchOpenClawConfig, runOpenClaw } from "./cli.ts";

/** The confined agent's id in OpenClaw's `agents.entries`. */
export const CONFINED_AGENT_ID = "ecto-guest";

/** The tools the issue calls "machine tools": any of them reaches the owner's computer. */
export const MACHINE_TOOLS: readonly string[] = [
  "exec",
  "process",
  "code_execution",
  "read",
  "write",
  "edit",
  "apply_patch",
  "browser",
  "gateway",
  "cron",
  "nodes",
  "computer",
  "message",
  "openclaw",
];

const TOOL_GROUPS: Record<string, string> = {
  exec: "group:runtime",
  process: "group:runtime",
  code_execution: "group:runtime",
  read: "group:fs",
  write: "group:fs",
  edit: "group:fs",
  apply_patch: "group:fs",
  browser: "group:ui",
  gateway: "group:automation",
  cron: "group:automation",
  openclaw: "group:automation",
  nodes: "group:nodes",
  computer: "group:nodes",
  message: "group:messaging",
};

/** The `agents.entries.<id>` value ecto writes for its confined agent. */
export function confinedAgentEntry(openclawStateDir: string): Record<string, unknown> {
  return {
    name: "ecto guest (confined: no tools, no skills)",
    workspace: `${openclawStateDir}/workspace-${CONFINED_AGENT_ID}`,
    skills: [],
    tools: { profile: "minimal", deny: ["*"] },
  };
}

/** The configured agent ids (lower case); a config without `agents.entries` has the implicit `main`. */
export function agentIds(config: Record<string, unknown>): string[] {
  const entries = getPath(config, ["agents", "entries"]);
  if (!isRecord(entries)) return ["main"];
  return Object.keys(entries).map((id) => id.toLowerCase());
}

/**
 * The owner's agent: the sole configured agent, else
 * `agents.defaults.systemAgent.agentId`, else `main`, ignoring ecto's own
 * agent; `undefined` when none of those exists.
 */
export function ownerAgentId(config: Record<string, unknown>): string | undefined {
  const ids = agentIds(config).filter((id) => id !== CONFINED_AGENT_ID);
  if (ids.length === 1) return ids[0];
  const system = getPath(config, ["agents", "defaults", "systemAgent", "agentId"]);
  if (typeof system === "string" && ids.includes(system.toLowerCase())) return system.toLowerCase();
  return ids.includes("main") ? "main" : undefined;
}

function list(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === "string").map((v) => v.toLowerCase())
    : [];
}

/**
 * The machine tools agent `id` may still be offered by its tool policy
 * (global and per-agent `tools.profile`/`deny`). Conservative: an `allow`
 * list is not trusted to exclude anything. Pure.
 */
export function machineToolsOf(config: Record<string, unknown>, id: string): string[] {
  const entries = getPath(config, ["agents", "entries"]);
  const entry = isRecord(entries)
    ? Object.entries(entries).find(([k]) => k.toLowerCase() === id)?.[1]
    : undefined;
  const agentTools = isRecord(entry) ? entry.tools : undefined;
  const globalTools = getPath(config, ["tools"]);
  const deny = [
    ...list(isRecord(agentTools) ? agentTools.deny : undefined),
    ...list(isRecord(globalTools) ? globalTools.deny : undefined),
  ];
  const profile =
    (isRecord(agentTools) && typeof agentTools.profile === "string"
      ? agentTools.profile
      : isRecord(globalTools) && typeof globalTools.profile === "string"
      ? globalTools.profile
      : "full").toLowerCase();
  if (deny.includes("*")) return [];
  return MACHINE_TOOLS.filter((tool) => {
    if (deny.includes(tool) || deny.includes(TOOL_GROUPS[tool] ?? "")) return false;
    if (profile === "minimal") return tool === "gateway";
    if (profile === "messaging") return tool === "gateway" || tool === "message";
    return true;
  });
}

/**
 * What adding the confined agent changes for the owner, in one paragraph, or
 * `undefined` when the roster is already multi-agent (nothing changes for
 * direct callers). Pure.
 */
export function confinedAgentConsequence(config: Record<string, unknown>): string | undefined {
  const ids = agentIds(config).filter((id) => id !== CONFINED_AGENT_ID);
  if (ids.length !== 1) return undefined;
  return `ecto will add the agent "${CONFINED_AGENT_ID}" (no tools, no skills, its own workspace) to OpenClaw for keys you hand out. With a second agent, OpenClaw answers 400 to model "openclaw" and "openclaw/default" for anything that calls the gateway directly (not through ecto): such clients must send model "openclaw/${
    ids[0]
  }" instead. OpenClaw also records agents.ownership "explicit" and "${
    ids[0]
  }" as the system, heartbeat and talk agent. Calls through ecto keep working unchanged.`;
}

/** Where ecto records the confined agent it added, in its state directory. */
export function confinedAgentRecordPath(ectoStateDir: string): string {
  return `${ectoStateDir}/confined-agent.json`;
}

/** What ecto recorded when it added the agent (so `--purge` removes exactly that). */
export interface ConfinedAgentRecord {
  /** Format version. */
  version: 1;
  /** The OpenClaw config the agent was added to. */
  configPath: string;
  /** The agent id. */
  agentId: string;
  /** When (ISO time). */
  created: string;
  /** Config paths OpenClaw added alongside (absent before), with the value it wrote. */
  inserted: Array<{ path: string[]; value: unknown }>;
}

/** Paths OpenClaw's writer adds when a roster becomes multi-agent (measured on 2026.9.6). */
const SIDE_EFFECT_PATHS: string[][] = [
  ["agents", "ownership"],
  ["agents", "defaults", "systemAgent", "agentId"],
  ["agents", "defaults", "heartbeat", "agentId"],
  ["talk", "agentId"],
];

/** The side-effect paths that were absent in `before` and are set in `after`. Pure. */
export function insertedPaths(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Array<{ path: string[]; value: unknown }> {
  const out: Array<{ path: string[]; value: unknown }> = [];
  for (const path of SIDE_EFFECT_PATHS) {
    const was = getPath(before, path);
    const now = getPath(after, path);
    if (was === undefined && now !== undefined) out.push({ path, value: now });
  }
  return out;
}

/** What the agent operations need. */
export interface ConfinedAgentDeps {
  /** The injected dax `$`. */
  $: Shell;
  /** The OpenClaw environment. */
  env: EnvLookup;
  /** The `openclaw` CLI. */
  cli: OpenClawCli;
  /** Reads the OpenClaw config as it is now. */
  readConfig: () => Promise<Record<string, unknown>>;
  /** Where ecto records the agent it added. */
  recordPath: string;
  /** Clock (ms). */
  now: () => number;
}

/**
 * Adds the confined agent when it is missing (one `config patch`), and
 * records what OpenClaw changed alongside. Returns whether it was added.
 *
 * @throws {ToolError} when OpenClaw refuses the patch.
 */
export async function addConfinedAgent(
  deps: ConfinedAgentDeps,
  opts: { configPath: string; openclawStateDir: string },
): Promise<boolean> {
  const before = await deps.readConfig();
  if (agentIds(before).includes(CONFINED_AGENT_ID)) return false;
  await patchOpenClawConfig(deps.$, deps.cli, deps.env, {
    agents: { entries: { [CONFINED_AGENT_ID]: confinedAgentEntry(opts.openclawStateDir) } },
  }, { configPath: opts.configPath, now: deps.now });
  const after = await deps.readConfig();
  if (!agentIds(after).includes(CONFINED_AGENT_ID)) {
    throw new EctoError(
      "confined_agent_missing",
      `OpenClaw accepted the patch but ${opts.configPath} has no agent "${CONFINED_AGENT_ID}".`,
      { fix: "openclaw agents list" },
    );
  }
  const record: ConfinedAgentRecord = {
    version: 1,
    configPath: opts.configPath,
    agentId: CONFINED_AGENT_ID,
    created: new Date(deps.now()).toISOString(),
    inserted: insertedPaths(before, after),
  };
  await writeJsonAtomic(deps.recordPath, record);
  return true;
}

/**
 * Removes the agent ecto added (`openclaw agents delete --force`, which moves
 * its workspace and sessions to the trash), then unsets the keys OpenClaw
 * added alongside when they still hold what it wrote and one agent is left.
 * Returns a sentence, or `undefined` when ecto added no agent.
 */
export async function removeConfinedAgent(deps: ConfinedAgentDeps): Promise<string | undefined> {
  const record = await readJsonIfExists<ConfinedAgentRecord>(deps.recordPath);
  if (record === undefined) return undefined;
  // Through a busy gateway the CLI can time out with "outcome unknown" although the delete
  // went through: what counts is the config afterwards (one retry when it still has the agent).
  let last: { code: number; stdout: string; stderr: string } | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!agentIds(await deps.readConfig()).includes(record.agentId)) {
      last = undefined;
      break;
    }
    last = await runOpenClaw(deps.$, deps.cli, deps.env, [
      "agents",
      "delete",
      record.agentId,
      "--force",
      "--json",
    ]);
  }
  if (last && agentIds(await deps.readConfig()).includes(record.agentId)) {
    const output = last.stderr || last.stdout;
    throw new ToolError(
      "openclaw",
      last.code,
      output,
      `\`openclaw agents delete ${record.agentId}\` failed: ${
        output.trim().split("\n").at(-1) ?? `exit ${last.code}`
      }`,
      { fix: `openclaw agents delete ${record.agentId} --force` },
    );
  }
  const after = await deps.readConfig();
  const undo: Record<string, unknown> = {};
  const restored: string[] = [];
  if (agentIds(after).length === 1) {
    for (const { path, value } of record.inserted) {
      if (JSON.stringify(getPath(after, path)) !== JSON.stringify(value)) continue;
      let node = undo;
      for (const key of path.slice(0, -1)) {
        node[key] = isRecord(node[key]) ? node[key] : {};
        node = node[key] as Record<string, unknown>;
      }
      node[path[path.length - 1]] = null;
      restored.push(path.join("."));
    }
  }
  if (restored.length > 0) {
    await patchOpenClawConfig(deps.$, deps.cli, deps.env, undo, {
      configPath: record.configPath,
      now: deps.now,
    });
  }
  await removeIfExists(deps.recordPath);
  return `Removed ecto's agent "${record.agentId}"${
    restored.length ? ` and unset ${restored.join(", ")}` : ""
  }.`;
}

/** The refusal when adding the agent needs the owner's consent. */
export function consentRequired(consequence: string, command: string): ActionRequiredError {
  return new ActionRequiredError("confined_agent_consent", consequence, {
    fix: `${command} --yes   (or --agent <id> to bind the key to one of your own agents)`,
  });
}
