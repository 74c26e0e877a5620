/**
 * Applying a plan and undoing it: snapshot first (ecto's own 0600 file), one
 * `openclaw config patch --stdin`, then restart only if the plan needs it,
 * and probe until the change is live instead of trusting the CLI's hint.
 *
 * @module
 */
import { ensurePrivateDir, readJsonIfExists, writeJsonAtomic } from "../core/atomic_file.ts";
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import { ignoreEvents } from "../core/events.ts";
import { ectoPaths, type EnvLookup } from "../core/paths.ts";
import { type GatewaySettings, inspectGatewaySettings } from "./settings.ts";
import { type OpenClawConfigFile, readOpenClawConfig } from "./config.ts";
import { openClawEnvLookup, type OpenClawLocation, resolveOpenClawLocation } from "./location.ts";
import {
  assertConfigWritable,
  configReadOnlyError,
  locateOpenClaw,
  type OpenClawCli,
} from "./cli.ts";
import { restartAfterWrite, writeOpenClawConfig } from "./config_writer.ts";
import {
  type GatewayApiProbe,
  type GatewayDeps,
  gatewayHealth,
  LIVE_TIMEOUT_MS,
  openClawDailyLogPath,
  probeGatewayApi,
  readLogTail,
  waitFor,
  waitForGatewayReady,
} from "./gateway_health.ts";
import { restartGateway, type RestartResult } from "./gateway.ts";
import {
  applyMergePatch,
  isOpenClawSnapshot,
  mergeSnapshot,
  type OpenClawPlan,
  type OpenClawSnapshot,
  type RestartKind,
  undoPatch,
  undoRestartKind,
} from "./plan.ts";

/** Everything ecto knows about the local OpenClaw before changing it. */
export interface OpenClawState {
  /** The `openclaw` CLI. */
  cli: OpenClawCli;
  /** Where the config and state live. */
  location: OpenClawLocation;
  /** The config as read. */
  file: OpenClawConfigFile;
  /** What the config says about the gateway. */
  settings: GatewaySettings;
  /** The process environment plus `<stateDir>/.env`, as OpenClaw resolves variables. */
  env: EnvLookup;
}

/**
 * Finds the CLI and the config, reads and inspects it.
 *
 * @throws {MissingPrerequisiteError} when `openclaw` is not installed.
 * @throws {EctoError} `openclaw_config_invalid` (file, line:column, fix) or unreadable.
 */
export async function loadOpenClaw(
  deps: { env: EnvLookup },
  opts: { cli?: OpenClawCli } = {},
): Promise<OpenClawState> {
  const cli = opts.cli ?? await locateOpenClaw(deps.env);
  const location = resolveOpenClawLocation(deps.env);
  const file = await readOpenClawConfig(location.configPath);
  const env = await openClawEnvLookup(deps.env, location);
  return { cli, location, file, settings: inspectGatewaySettings(file.config, env), env };
}

/** Options of {@link applyOpenClawPlan} and {@link undoOpenClaw}. */
export interface ApplyOptions {
  /** The `openclaw` CLI. */
  cli: OpenClawCli;
  /** Bound for a hot change to show up (default 30 s). */
  liveTimeoutMs?: number;
  /** Bound for the gateway to be ready after a restart (default 120 s). */
  readyTimeoutMs?: number;
  /** The gateway pid, when known (ecto started it). */
  gatewayPid?: number;
  /** Whether ecto started `gatewayPid`. */
  startedByEcto?: boolean;
  /** Log of a gateway ecto (re)starts (default `/tmp/openclaw-gateway.log`). */
  logPath?: string;
}

/** What {@link applyOpenClawPlan} did, with timings. */
export interface ApplyResult {
  /** Whether the config was written. */
  changed: boolean;
  /** ecto's snapshot of the pre-ecto values. */
  snapshotPath: string;
  /** `openclaw config patch` wall time. */
  cliMs?: number;
  /** Who wrote the config: the running gateway's API or the CLI (`cliMs` is its time). */
  writer?: "gateway" | "cli";
  /** The CLI's hint (a prediction only). */
  cliMessage?: string;
  /** From the CLI's exit until the probe saw the change (includes any restart). */
  liveMs?: number;
  /** The restart ecto did, if any. */
  restart?: RestartResult;
  /** Whether the gateway was running; when not, the change applies when it starts. */
  gatewayRunning: boolean;
  /** The last API probe (`state: "ok"` when live). */
  probe?: GatewayApiProbe;
}

async function readSnapshot(path: string): Promise<OpenClawSnapshot | undefined> {
  let value: unknown;
  try {
    value = await readJsonIfExists<unknown>(path);
  } catch (error) {
    throw new EctoError("ecto_snapshot_invalid", `ecto's OpenClaw snapshot ${path} is corrupt.`, {
      fix: `Inspect ${path}; restore the keys it lists by hand, then delete it.`,
      cause: error,
    });
  }
  if (value === undefined) return undefined;
  if (!isOpenClawSnapshot(value)) {
    throw new EctoError("ecto_snapshot_invalid", `ecto's OpenClaw snapshot ${path} is not valid.`, {
      fix: `Inspect ${path}; restore the keys it lists by hand, then delete it.`,
    });
  }
  return value;
}

/** Reads ecto's OpenClaw snapshot (`undefined` when ecto changed nothing). */
export function readOpenClawSnapshot(env: EnvLookup): Promise<OpenClawSnapshot | undefined> {
  return readSnapshot(ectoPaths(env).openclawSnapshotFile);
}

/** Waits until the API probe is in `want` state; returns the probe and time, or throws. */
async function waitForApiState(
  deps: GatewayDeps,
  url: string,
  credential: string | undefined,
  want: GatewayApiProbe["state"],
  limitMs: number,
  step: string,
  secrets: string[],
): Promise<{ probe: GatewayApiProbe; ms: number }> {
  let last: GatewayApiProbe | undefined;
  const waited = await waitFor(
    deps,
    step,
    want === "endpoint-disabled"
      ? "waiting for the gateway to turn the API off"
      : "waiting for the gateway to apply the change",
    limitMs,
    async () => {
      last = await probeGatewayApi(deps.fetch, url, credential);
      return last.state === want ? last : undefined;
    },
    250,
  );
  if (!waited) {
    const logPath = openClawDailyLogPath(new Date((deps.now ?? Date.now)()));
    const tail = await readLogTail(logPath, 10, secrets);
    throw new EctoError(
      "openclaw_change_not_live",
      `The OpenClaw gateway at ${url} did not apply the change within ${
        Math.round(limitMs / 1000)
      } s (GET /v1/models: ${last?.withoutCredential ?? "no answer"} without credential, ${
        last?.withCredential ?? "not asked"
      } with it); its log is ${logPath}.${tail ? `\nLast lines:\n${tail}` : ""}`,
      { fix: "Restart the gateway (`openclaw gateway restart`), then run ecto again." },
    );
  }
  return { probe: waited.value, ms: waited.elapsedMs };
}

/** The probe state a config should produce. */
function expectedApiState(settings: GatewaySettings): GatewayApiProbe["state"] {
  if (!settings.chatCompletions && !settings.responses) return "endpoint-disabled";
  if (settings.effectiveAuthMode === "none") return "open";
  return "ok";
}

/** After the write: restart as needed, then wait for the expected API state. */
async function makeLive(
  deps: GatewayDeps,
  opts: ApplyOptions,
  url: string,
  restart: RestartKind,
  credential: string | undefined,
  want: GatewayApiProbe["state"],
  step: string,
  secrets: string[],
): Promise<{ restart?: RestartResult; probe: GatewayApiProbe }> {
  const liveLimit = opts.liveTimeoutMs ?? LIVE_TIMEOUT_MS;
  let restarted: RestartResult | undefined;
  const now = deps.now ?? Date.now;
  if (restart === "automatic") {
    // The gateway restarts itself in-process a moment after the write.
    const started = now();
    await waitFor(
      deps,
      step,
      "waiting for the gateway to restart itself",
      12_000,
      async () => (await gatewayHealth(deps.fetch, url)).ready ? undefined : true,
      200,
    );
    await waitForGatewayReady(deps, url, {
      limitMs: opts.readyTimeoutMs,
      logPath: openClawDailyLogPath(new Date(now())),
      step,
      secrets,
    });
    restarted = undefined;
    deps.events?.({
      kind: "progress",
      step,
      message: "the gateway restarted itself",
      elapsedMs: now() - started,
    });
  } else if (restart === "restart" || restart === "full") {
    restarted = await restartGateway(deps, {
      cli: opts.cli,
      url,
      kind: restart,
      limitMs: opts.readyTimeoutMs,
      secrets,
      ...(opts.gatewayPid !== undefined ? { pid: opts.gatewayPid } : {}),
      ...(opts.startedByEcto !== undefined ? { startedByEcto: opts.startedByEcto } : {}),
      ...(opts.logPath !== undefined ? { logPath: opts.logPath } : {}),
    });
  }
  const { probe } = await waitForApiState(deps, url, credential, want, liveLimit, step, secrets);
  return { ...(restarted ? { restart: restarted } : {}), probe };
}

/**
 * Applies a plan: refuses read-only/unwritable configs before writing
 * anything; writes the snapshot (keeping the ORIGINAL values of an earlier
 * ecto run); runs ONE `openclaw config patch --stdin`; restarts only when the
 * plan says so; then probes `GET /v1/models` until the change is live
 * (bounded, reported as progress events). When the gateway is not running the
 * change simply applies at its next start (`gatewayRunning: false`).
 *
 * @throws {ActionRequiredError} read-only/Nix-managed config (nothing written).
 * @throws {EctoError} unwritable config (nothing written), change not live in time.
 * @throws {ToolError} the CLI refused the patch (snapshot rolled back).
 */
export async function applyOpenClawPlan(
  deps: GatewayDeps,
  plan: OpenClawPlan,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const events = deps.events ?? ignoreEvents;
  const now = deps.now ?? Date.now;
  const paths = ectoPaths(deps.env);
  const secrets = [plan.credential.value];
  const step = "openclaw.configure";

  if (Object.keys(plan.patch).length === 0) {
    events({ kind: "step", step, status: "skip", detail: "OpenClaw is already configured" });
    const health = await gatewayHealth(deps.fetch, plan.url);
    return {
      changed: false,
      snapshotPath: paths.openclawSnapshotFile,
      gatewayRunning: health.live,
      ...(health.live
        ? { probe: await probeGatewayApi(deps.fetch, plan.url, plan.credential.value) }
        : {}),
    };
  }

  const readOnly = configReadOnlyError(
    deps.env,
    plan.configPath,
    plan.changes.map((c) => c.path.join(".")),
  );
  if (readOnly) throw readOnly;
  await assertConfigWritable(plan.configPath);

  events({
    kind: "step",
    step,
    status: "start",
    detail: `changing ${
      plan.changes.map((c) => c.path.join(".")).join(", ")
    } in ${plan.configPath}`,
  });

  // 1. Snapshot first.
  const previous = await readSnapshot(paths.openclawSnapshotFile);
  const snapshot = mergeSnapshot(previous, plan.snapshot, plan.configPath, new Date(now()));
  await ensurePrivateDir(paths.stateDir);
  // A take-over's changes are not undone: with nothing else changed there is nothing to restore.
  if (snapshot.entries.length > 0) await writeJsonAtomic(paths.openclawSnapshotFile, snapshot);

  // 2. One validated write.
  let patched;
  try {
    patched = await writeOpenClawConfig(
      deps,
      {
        cli: opts.cli,
        url: plan.url,
        credentials: [plan.before.credential, plan.credential],
        authNone: plan.before.effectiveAuthMode === "none",
      },
      plan.patch,
      { secrets, configPath: plan.configPath },
    );
  } catch (error) {
    if (previous) await writeJsonAtomic(paths.openclawSnapshotFile, previous);
    else await Deno.remove(paths.openclawSnapshotFile).catch(() => {});
    throw error;
  }
  const cliExit = now();
  events({ kind: "step", step, status: "done", detail: patched.message || "config patched" });

  // 3. Live?
  const health = await gatewayHealth(deps.fetch, plan.url);
  if (!health.live) {
    events({
      kind: "note",
      step,
      level: "info",
      message: "The gateway is not running; the change applies when it starts.",
    });
    return {
      changed: true,
      snapshotPath: paths.openclawSnapshotFile,
      cliMs: patched.ms,
      writer: patched.via,
      cliMessage: patched.message,
      gatewayRunning: false,
    };
  }
  const live = await makeLive(
    deps,
    opts,
    plan.url,
    restartAfterWrite(plan.restart, patched),
    plan.credential.value,
    expectedApiState(plan.after),
    "openclaw.live",
    secrets,
  );
  return {
    changed: true,
    snapshotPath: paths.openclawSnapshotFile,
    cliMs: patched.ms,
    writer: patched.via,
    cliMessage: patched.message,
    liveMs: now() - cliExit,
    gatewayRunning: true,
    probe: live.probe,
    ...(live.restart ? { restart: live.restart } : {}),
  };
}

/** What {@link undoOpenClaw} did. */
export interface UndoResult {
  /** `false`: there was no snapshot (ecto changed nothing). */
  restored: boolean;
  /** The keys written back. */
  keys: string[];
  /** `openclaw config patch` wall time. */
  cliMs?: number;
  /** Who wrote the config. */
  writer?: "gateway" | "cli";
  /** From the CLI's exit until the gateway showed the change. */
  liveMs?: number;
  /** The restart ecto did, if any. */
  restart?: RestartResult;
  /** Whether the gateway was running. */
  gatewayRunning?: boolean;
  /** The last API probe. */
  probe?: GatewayApiProbe;
}

/**
 * Restores exactly the snapshotted keys (old values back, `null` for what was
 * absent) with one patch, waits until the gateway shows it, then deletes the
 * snapshot.
 *
 * @throws {ActionRequiredError} the snapshot is for another config, or the config is read-only.
 * @throws {EctoError} unparsable/unwritable config, change not live in time.
 */
export async function undoOpenClaw(
  deps: GatewayDeps,
  opts: ApplyOptions & { state?: OpenClawState },
): Promise<UndoResult> {
  const events = deps.events ?? ignoreEvents;
  const now = deps.now ?? Date.now;
  const paths = ectoPaths(deps.env);
  const step = "openclaw.undo";
  const snapshot = await readSnapshot(paths.openclawSnapshotFile);
  if (!snapshot || snapshot.entries.length === 0) {
    if (snapshot) await Deno.remove(paths.openclawSnapshotFile).catch(() => {});
    events({ kind: "step", step, status: "skip", detail: "ecto changed nothing in OpenClaw" });
    return { restored: false, keys: [] };
  }
  const state = opts.state ?? await loadOpenClaw(deps, { cli: opts.cli });
  if (state.location.configPath !== snapshot.configPath) {
    throw new ActionRequiredError(
      "openclaw_snapshot_other_config",
      `ecto's snapshot is for ${snapshot.configPath}, but this environment's OpenClaw config is ${state.location.configPath}.`,
      {
        fix:
          `Run ecto with the OpenClaw environment of ${snapshot.configPath} (HOME / OPENCLAW_CONFIG_PATH / OPENCLAW_STATE_DIR).`,
      },
    );
  }
  const keys = snapshot.entries.map((e) => e.path.join("."));
  const readOnly = configReadOnlyError(deps.env, snapshot.configPath, keys);
  if (readOnly) throw readOnly;
  await assertConfigWritable(snapshot.configPath);

  const patch = undoPatch(snapshot);
  const restart = undoRestartKind(state.file.config, snapshot, state.env);
  const after = inspectGatewaySettings(applyMergePatch(state.file.config, patch), state.env);
  const secrets = [state.settings.credential?.value ?? "", after.credential?.value ?? ""];
  events({ kind: "step", step, status: "start", detail: `restoring ${keys.join(", ")}` });
  const patched = await writeOpenClawConfig(
    deps,
    {
      cli: opts.cli,
      url: state.settings.url,
      credentials: [state.settings.credential, after.credential],
      authNone: state.settings.effectiveAuthMode === "none",
    },
    patch,
    { secrets, configPath: snapshot.configPath },
  );
  const cliExit = now();
  events({ kind: "step", step, status: "done", detail: patched.message || "config restored" });

  const health = await gatewayHealth(deps.fetch, state.settings.url);
  let result: UndoResult = {
    restored: true,
    keys,
    cliMs: patched.ms,
    writer: patched.via,
    gatewayRunning: health.live,
  };
  if (health.live) {
    const want = expectedApiState(after);
    const live = await makeLive(
      deps,
      opts,
      after.url,
      restartAfterWrite(restart, patched),
      after.credential?.value,
      // Without a readable credential "ok" cannot be checked; 401 without one is then the sign.
      want === "ok" && !after.credential ? "unexpected" : want,
      "openclaw.undo",
      secrets,
    ); // on failure the snapshot stays, so a re-run can finish the job
    result = {
      ...result,
      liveMs: now() - cliExit,
      probe: live.probe,
      ...(live.restart ? { restart: live.restart } : {}),
    };
  }
  await Deno.remove(paths.openclawSnapshotFile).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return result;
}
