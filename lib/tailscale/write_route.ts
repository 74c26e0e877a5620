/**
 * The one write loop behind ecto's public (Funnel) and private (Serve) route:
 * re-check the port right before writing (never replace someone else's
 * handler), run the CLI, read the config back, and on an etag race read
 * afresh, re-plan and write once more. What differs by mode (the enable
 * prompt, what a read-back must show) comes in as hooks.
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import type { PublishMode } from "../core/layer_types.ts";
import type { ExecResult } from "./_exec.ts";
import {
  classifyServeFailure,
  type EnablePrompt,
  isEtagRace,
  parseEnablePrompt,
} from "./diagnose.ts";
import { getServeConfig, type TailscaleCli, toolError } from "./runner.ts";
import { type EctoRoute, findEctoRoutes, portHasForeignHandler } from "./serve_config.ts";
import type { ServeConfig } from "./serve_config.ts";

/** One run of the write: its result, and the enable link when the CLI showed one. */
export interface RouteRun {
  /** How the CLI ended. */
  result: ExecResult;
  /** The enable link the CLI printed before ecto stopped it (a refusal, not a write). */
  promptUrl?: string;
}

/** What a run that exited 0 left, for {@link WriteRouteOptions.confirm}. */
export interface RouteWritten<P> {
  /** The plan this run wrote. */
  plan: P;
  /** The config the write was decided on. */
  before: ServeConfig;
  /** The config read back after it. */
  after: ServeConfig;
  /** ecto's route on the plan's port in `after`, if any. */
  route: EctoRoute | undefined;
  /** The enable prompt in the run's output, if any. */
  prompt: EnablePrompt | undefined;
  /** The run. */
  result: ExecResult;
}

/** Options for {@link writeRoute}. */
export interface WriteRouteOptions<P extends { port: number }, R> {
  /** `public` writes with `tailscale funnel`, `private` with `tailscale serve`. */
  mode: PublishMode;
  /** This node's DNS name. */
  host: string;
  /** ecto's edge address, exactly as stored. */
  target: string;
  /** The first plan (its `port` is written). */
  plan: P;
  /** What Tailscale held when `plan` was made. */
  config: ServeConfig;
  /** A plan made on a config read afresh (after an etag race, or a confirm's "again"). */
  replan(config: ServeConfig): P;
  /** Runs the CLI's write for `port`. */
  run(port: number): Promise<RouteRun>;
  /** After exit 0: the route, or `"again"` to write once more on the read-back; else throws. */
  confirm(written: RouteWritten<P>): Promise<R | "again">;
  /** After a failed run, before the etag retry: the enable prompt's error, if it is one. */
  refused(run: RouteRun, prompt: EnablePrompt | undefined): Error | undefined;
  /** After the etag retry, before the generic diagnosis: a mode's own failure, if it is one. */
  failed?(result: ExecResult): Error | undefined;
}

/**
 * Writes ecto's route per the plan. Throws `ActionRequiredError`
 * `funnel_port_busy` / `serve_port_busy` when the port now carries someone
 * else's handler, the hooks' errors, {@link classifyServeFailure}'s, or the
 * tool error; one etag race is retried on a fresh read.
 */
export async function writeRoute<P extends { port: number }, R>(
  cli: TailscaleCli,
  options: WriteRouteOptions<P, R>,
): Promise<R> {
  const tool = options.mode === "public" ? "funnel" : "serve";
  let { plan, config } = options;
  let etagRetried = false;
  for (;;) {
    // Re-check right before writing: never replace someone else's handler.
    if (portHasForeignHandler(config, options.host, plan.port, options.target)) {
      throw new ActionRequiredError(
        `${tool}_port_busy`,
        `Port ${plan.port} now carries another Serve or Funnel route; ecto will not replace it.`,
        { fix: `tailscale ${tool} status` },
      );
    }
    const run = await options.run(plan.port);
    const { result } = run;
    const prompt = parseEnablePrompt(result.stdout);
    if (result.code === 0 && !result.killed) {
      const after = await getServeConfig(cli);
      const port = plan.port;
      const route = findEctoRoutes(after, options.host, options.target).find((r) =>
        r.port === port
      );
      const done = await options.confirm({ plan, before: config, after, route, prompt, result });
      if (done !== "again") return done;
      config = after;
      plan = options.replan(config);
      continue;
    }
    const refusal = options.refused(run, prompt);
    if (refusal) throw refusal;
    if (!etagRetried && isEtagRace(result.stderr)) {
      etagRetried = true;
      config = await getServeConfig(cli);
      plan = options.replan(config);
      continue;
    }
    throw options.failed?.(result) ??
      classifyServeFailure(result.stderr, cli.platform, result.stdout) ??
      toolError(tool, result);
  }
}
