/**
 * One command's reads of Tailscale, each made at most once: where the CLI is (and its
 * version), `status --json` and the serve config. Every `tailscale` run is a process (tens of
 * ms for the real CLI, more under load), and connect and status used to ask the same question
 * up to three times; here the three runs start together as soon as the CLI's path is known,
 * and a write ({@link TailscaleProbe.forget}) makes the next read ask again.
 *
 * @module
 */
import { MissingPrerequisiteError } from "../core/errors.ts";
import type { Shell } from "../core/shell.ts";
import type { EnvLookup } from "../core/paths.ts";
import {
  findTailscaleCli,
  locateTailscale,
  type TailscaleCandidate,
  type TailscaleInstall,
} from "./locate.ts";
import {
  runTailscale,
  SERVE_CONFIG_ARGS,
  serveConfigFromResult,
  STATUS_ARGS,
  statusFromResult,
  type TailscaleCli,
  tailscaleCli,
} from "./runner.ts";
import type { ExecResult } from "./_exec.ts";
import type { ServeConfig } from "./serve_config.ts";
import type { TailscaleStatus } from "./status.ts";

/** What the probe runs with. */
export interface ProbeDeps {
  /** The injected dax `$`. */
  $: Shell;
  /** Environment lookup (`ECTO_TAILSCALE`, `PATH`, `SUDO_USER`, `USER`). */
  env: EnvLookup;
  /** `darwin`, `linux`, … */
  os: string;
  /** Builds the handle errors are phrased for (fixes name the command and the user). */
  cli: (install: TailscaleInstall) => TailscaleCli;
}

/** One command's memoised reads of Tailscale. */
export interface TailscaleProbe {
  /** The located CLI with its version; `undefined` when Tailscale is not installed. */
  install(): Promise<TailscaleInstall | undefined>;
  /** `tailscale status --json`, parsed (throws as `getStatus` does). Needs an installed CLI. */
  status(): Promise<TailscaleStatus>;
  /** `tailscale funnel status --json`, parsed (throws as `getServeConfig` does). */
  serveConfig(): Promise<ServeConfig>;
  /** Starts every read now, in parallel; their failures surface where they are used. */
  prefetch(): void;
  /** Records a status learned otherwise (e.g. login's last one). */
  knowStatus(status: TailscaleStatus): void;
  /** Forgets what a change made stale: `install` (also the rest), `status`, `serve`. */
  forget(what: "install" | "status" | "serve"): void;
}

/** Builds a probe; nothing runs until a read is asked for. */
export function tailscaleProbe(deps: ProbeDeps): TailscaleProbe {
  let candidate: Promise<TailscaleCandidate | undefined> | undefined;
  let install: Promise<TailscaleInstall | undefined> | undefined;
  let rawStatus: Promise<ExecResult> | undefined;
  let status: Promise<TailscaleStatus> | undefined;
  let rawServe: Promise<ExecResult> | undefined;
  let serve: Promise<ServeConfig> | undefined;

  const missing = () =>
    new MissingPrerequisiteError("tailscale_missing", "Tailscale is not installed.", {
      fix: "ecto connect --yes (installs it), or install it from https://tailscale.com/download",
    });
  const findCandidate = () => candidate ??= findTailscaleCli({ env: deps.env, os: deps.os });
  const located = () =>
    install ??= findCandidate().then((found) =>
      found ? locateTailscale({ $: deps.$, env: deps.env, os: deps.os }, found) : undefined
    );
  // The runs need only the path: they start while `version` still runs, and are read with the
  // handle of the located install (its variant decides how a failure is explained).
  const run = (args: readonly string[]) =>
    findCandidate().then((found) => {
      if (!found) throw missing();
      return runTailscale(
        tailscaleCli({ $: deps.$, path: found.path, platform: { os: deps.os } }),
        args,
      );
    });
  const withCli = async <T>(
    raw: Promise<ExecResult>,
    read: (cli: TailscaleCli, result: ExecResult) => T,
  ): Promise<T> => {
    raw.catch(() => {}); // awaited below, unless the CLI is missing or its version run throws
    const found = await located();
    if (!found) throw missing();
    return read(deps.cli(found), await raw);
  };
  const readStatus = () => status ??= withCli(rawStatus ??= run(STATUS_ARGS), statusFromResult);
  const readServe = () =>
    serve ??= withCli(rawServe ??= run(SERVE_CONFIG_ARGS), serveConfigFromResult);
  const quiet = (p: Promise<unknown>) => void p.catch(() => {});

  return {
    install: located,
    status: readStatus,
    serveConfig: readServe,
    prefetch() {
      quiet(located());
      quiet(readStatus());
      quiet(readServe());
    },
    knowStatus(known) {
      rawStatus = undefined;
      status = Promise.resolve(known);
    },
    forget(what) {
      if (what === "install") candidate = install = undefined;
      if (what !== "serve") rawStatus = status = undefined;
      if (what !== "status") rawServe = serve = undefined;
    },
  };
}
