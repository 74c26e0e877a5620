/**
 * The ecto command line: the only impure entry point. It parses arguments,
 * builds the real dependencies, renders results and events, and returns an
 * exit code. Everything else lives in `lib/`.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };
import type { Consent, EctoContext } from "./lib/core/context.ts";
import { causeChain, EctoError, ExitCode, exitCodeFor, ToolError } from "./lib/core/errors.ts";
import { ectoPaths } from "./lib/core/paths.ts";
import { FUNNEL_PORTS } from "./lib/core/addresses.ts";
import type { ConnectOptions } from "./lib/commands/connect_options.ts";
import type { EctoEvent } from "./lib/core/events.ts";
import type { Style } from "./lib/cli/render.ts";
import type { LogFilter } from "./lib/logs/mod.ts";

// Runtime imports are dynamic (in `main`): `ecto edge run` is dispatched before any of them
// loads, so the supervised edge carries neither commander, dax nor the orchestration
// (tests/cli_imports_test.ts keeps it that way).

/** What `main` needs from the outside world. Tests pass their own. */
export interface CliDeps {
  /** Environment lookup. */
  env: (name: string) => string | undefined;
  /** The whole environment (for child processes). */
  envAll: () => Record<string, string>;
  /** Writes to stdout (no newline added). */
  stdout: (text: string) => void;
  /** Writes to stderr (no newline added). */
  stderr: (text: string) => void;
  /** Whether stdin and stdout are a terminal (prompts, colours, QR codes). */
  isTerminal: boolean;
  /** Reads one line from the terminal (consent prompts); undefined at EOF. */
  readLine: (prompt: string) => Promise<string | undefined>;
  /** The argv that starts this ecto again (the edge supervisor runs it). */
  selfCommand: string[];
  /** HTTP client. */
  fetch: typeof fetch;
}

/** The real dependencies. */
export function realDeps(): CliDeps {
  const enc = new TextEncoder();
  return {
    env: (name) => Deno.env.get(name),
    envAll: () => Deno.env.toObject(),
    stdout: (text) => void writeAll(Deno.stdout, enc.encode(text)),
    stderr: (text) => void writeAll(Deno.stderr, enc.encode(text)),
    isTerminal: Deno.stdin.isTerminal() && Deno.stdout.isTerminal(),
    readLine: (question) => Promise.resolve(prompt(question) ?? undefined),
    selfCommand: selfCommand(),
    fetch: globalThis.fetch,
  };
}

function writeAll(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += target.writeSync(bytes.subarray(written));
}

/**
 * How to start this ecto again: the compiled binary is its own argv[0]; under
 * `deno run` it is deno with the same permission set and config. Exported for
 * the edge benchmark, which starts the edge exactly as the supervisor does.
 */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  const base = exe.slice(exe.lastIndexOf("/") + 1);
  if (base !== "deno" && base !== "deno.exe") return [exe];
  const config = new URL("./deno.json", import.meta.url);
  if (config.protocol !== "file:") return [exe, "run", "-A", import.meta.url];
  return [
    exe,
    "run",
    "--quiet",
    `--config=${config.pathname}`,
    "-P=ecto",
    new URL(import.meta.url).pathname,
  ];
}

/** The ecto version, from deno.json (one version source). */
export const VERSION: string = denoJson.version;

/** How many commands now end themselves on SIGINT/SIGTERM; while any does, the default exit waits. */
let ownSignalHandlers = 0;

/**
 * Runs `fn` as a command that ends itself on SIGINT/SIGTERM (`logs --follow`, `edge run`): the
 * default "wait for atomic writes, exit 130/143" steps aside, and `onSignal` (if given) is called
 * instead. The listeners and the step-aside end with `fn`, however it ends.
 */
async function withOwnSignals<T>(fn: () => Promise<T>, onSignal?: () => void): Promise<T> {
  ownSignalHandlers++;
  if (onSignal) {
    for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, onSignal);
  }
  try {
    return await fn();
  } finally {
    ownSignalHandlers--;
    if (onSignal) {
      for (const s of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(s, onSignal);
    }
  }
}

/** Commander's refusal of an option value; set by `main` once commander is loaded. */
let InvalidArgumentError: new (message: string) => Error = Error;

function parsePort(value: string): number {
  const port = Number(value);
  if (!FUNNEL_PORTS.includes(port)) {
    throw new InvalidArgumentError(`Funnel only serves ports ${FUNNEL_PORTS.join(", ")}.`);
  }
  return port;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("Expected a whole number.");
  return n;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new InvalidArgumentError("Expected a number of seconds.");
  }
  return seconds;
}

/** Runs ecto with `args` and returns the exit code. Never exits the process. */
export async function main(args: string[], deps: CliDeps): Promise<number> {
  // Only what every command needs loads here; each command imports its own modules when it
  // runs, so `status` does not pay for connect, keys, usage, logs or the live test.
  const [
    { Command, CommanderError, InvalidArgumentError: CommanderInvalidArgument },
    { build$ },
    { withProfileEnv },
    { renderErrorHuman, renderEventHuman },
  ] = await Promise.all([
    import("@commander-js/extra-typings"),
    import("dax"),
    import("./lib/openclaw/location.ts"),
    import("./lib/cli/render.ts"),
  ]);
  InvalidArgumentError = CommanderInvalidArgument;
  // ECTO_TRACE=1: when each phase ended and each event came, in ms since the process started
  // (`performance.now()`), on stderr: how much of a command is start-up and module loading.
  const tracing = deps.env("ECTO_TRACE") === "1";
  const trace = (what: string) => {
    if (tracing) deps.stderr(`trace ${Math.round(performance.now())} ms: ${what}\n`);
  };
  trace("shared modules loaded");
  let exitCode: number = ExitCode.ok;
  const colour = deps.isTerminal && deps.env("NO_COLOR") === undefined;
  const style: Style = { colour, terminal: deps.isTerminal };

  const makeContext = (
    json: boolean,
    yes: boolean,
    profile?: string,
    quiet = false,
  ): EctoContext => {
    const interactive = deps.isTerminal && !json;
    // `--profile` selects an OpenClaw profile exactly as `openclaw --profile` does.
    const env = profile === undefined ? deps.env : withProfileEnv(deps.env, profile);
    const consent: Consent = async (request) => {
      if (yes) return true;
      if (!interactive) return false;
      const answer = await deps.readLine(
        `${request.description}\n  ${request.command}\nProceed? [y/N]`,
      );
      return /^y(es)?$/i.test((answer ?? "").trim());
    };
    const onEvent = (event: EctoEvent) => {
      trace(`event ${event.kind} ${event.step}`);
      // --quiet: the agent running the skill reads stdout and stderr as one stream.
      if (quiet) return;
      if (json) deps.stderr(JSON.stringify({ event: event.kind, ...event }) + "\n");
      else deps.stderr(renderEventHuman(event, style));
    };
    return {
      $: build$({}),
      env,
      envAll: deps.envAll,
      fetch: deps.fetch,
      now: () => Date.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      events: onEvent,
      consent,
      paths: ectoPaths(deps.env),
      selfCommand: deps.selfCommand,
      os: Deno.build.os,
      interactive,
    };
  };

  const fail = (error: unknown, json: boolean, verbose: boolean) => {
    exitCode = exitCodeFor(error);
    if (json) {
      deps.stdout(JSON.stringify({ ok: false, error: errorJson(error, verbose) }, null, 2) + "\n");
    } else {
      deps.stderr(renderErrorHuman(error, style, verbose));
    }
  };

  const program = new Command()
    .name("ecto")
    .description(
      "Publish your OpenClaw assistant's OpenAI-compatible API at a stable HTTPS URL with a key.\n\n" +
        "ecto puts a small proxy (the edge) in front of the gateway on loopback, publishes only " +
        "the edge through Tailscale Funnel, and gives you a URL and a client key.",
    )
    .version(VERSION, "-V, --version", "print the ecto version")
    .exitOverride()
    .configureOutput({ writeOut: deps.stdout, writeErr: deps.stderr })
    .showHelpAfterError("(run `ecto --help` for usage)")
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 failed, 2 usage, 3 you must act (log in, enable Funnel,
grant sudo: the message says how), 4 a prerequisite is missing and ecto will not
install it without consent (--yes), 130 interrupted (Ctrl-C; writes in flight
finish first).

Environment: ECTO_TAILSCALE, ECTO_OPENCLAW (program paths), ECTO_STATE_DIR
(default ~/.ecto), TS_AUTHKEY (Tailscale auth key for headless login),
ECTO_CONFIG_WRITER=cli (write OpenClaw's config with \`openclaw config patch\`
instead of the running gateway's API), ECTO_GATEWAY_READY_TIMEOUT and
ECTO_GATEWAY_LIVE_TIMEOUT (seconds to wait for the gateway to be ready, default
120, and for a change to go live, default 30), ECTO_TRACE=1 (timings on stderr).`,
    );

  program
    .command("connect")
    .summary("publish the gateway's API at an HTTPS URL with a key")
    .description(
      "Check first (OpenClaw, the gateway port, the Tailscale version and variant: 1.102.0-1.102.1 " +
        "break Funnel and are refused unless --private), then install and log in to Tailscale if needed, configure " +
        "the gateway, start the edge, publish it through Funnel, prove the public URL works, and " +
        "print URL, key and an example. A gateway published directly (the old skill's Funnel " +
        "route, gateway.tailscale.mode) is taken over with consent: its routes removed, its " +
        "public token kept as the key `legacy`, the edge on the same URL. --private publishes " +
        "through Tailscale Serve instead: the same edge and keys, reachable only from devices in " +
        "your tailnet (needs MagicDNS and HTTPS certificates, not Funnel); connect and connect " +
        "--private switch between the two and leave no route behind.",
    )
    .option(
      "-y, --yes",
      "consent to installing and starting Tailscale and to taking over a directly published gateway; never prompt",
    )
    .option("--json", "print one JSON document on stdout; progress as JSON lines on stderr")
    .option("-q, --quiet", "no progress on stderr (with --json, the output is only the result)")
    .option(
      "--auth-key <key>",
      "Tailscale auth key for headless login (prefer TS_AUTHKEY or file:PATH)",
    )
    .option(
      "--regenerate-token",
      "issue a new owner key and revoke the old one (and retire the `legacy` key of a take-over)",
    )
    .option("--restart", "re-apply the gateway settings and restart the edge; Tailscale untouched")
    .option("--funnel-port <port>", "publish on this Funnel port (443, 8443 or 10000)", parsePort)
    .option(
      "--private",
      "publish on your tailnet only (Tailscale Serve, no Funnel): only your own devices reach the URL; `ecto connect` without it (except --restart) makes it public again",
    )
    .option("--keep-bind", "leave gateway.bind as it is instead of forcing loopback")
    .option(
      "--agent <id>",
      "the OpenClaw agent the owner key reaches (default: your default agent)",
    )
    .option(
      "--profile <name>",
      "the OpenClaw profile (~/.openclaw-<name>), as `openclaw --profile`",
    )
    .option(
      "--proof-timeout <seconds>",
      "how long to wait for public DNS (default 60)",
      parseSeconds,
    )
    .option(
      "--login-timeout <seconds>",
      "how long to wait for a browser login (default 300)",
      parseSeconds,
    )
    .option("-v, --verbose", "on errors, show causes and a failed tool's stderr")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
        const ctx = makeContext(json, opts.yes ?? false, opts.profile, opts.quiet ?? false);
        const options: ConnectOptions = {
          authKey: opts.authKey ?? deps.env("TS_AUTHKEY"),
          regenerateToken: opts.regenerateToken ?? false,
          restart: opts.restart ?? false,
          keepBind: opts.keepBind ?? false,
          ...(opts.agent === undefined ? {} : { agent: opts.agent }),
          ...(opts.funnelPort === undefined ? {} : { funnelPort: opts.funnelPort }),
          ...(opts.private ? { mode: "private" as const } : {}),
          proofTimeoutMs: (opts.proofTimeout ?? 60) * 1000,
          loginTimeoutMs: (opts.loginTimeout ?? 300) * 1000,
        };
        const [{ connect }, { renderConnectHuman }] = await Promise.all([
          import("./lib/commands/connect.ts"),
          import("./lib/cli/render.ts"),
        ]);
        trace("connect modules loaded");
        const result = await connect(ctx, options);
        if (json) deps.stdout(JSON.stringify(result, null, 2) + "\n");
        else deps.stdout(renderConnectHuman(result, style));
      } catch (error) {
        fail(error, json, opts.verbose ?? false);
      }
    });

  program
    .command("status")
    .summary("show every layer and the first problem with its fix")
    .description(
      "Show every layer: Tailscale, Funnel route, edge, gateway, credentials, public check. " +
        "In private mode (connect --private) the route line is `serve` and the check runs over " +
        "the tailnet (`tailnet`), never public DNS.",
    )
    .option("--json", "print one JSON document on stdout")
    .option("-q, --quiet", "no progress on stderr (with --json, the output is only the result)")
    .option("--no-public", "skip the public check")
    .option(
      "--profile <name>",
      "the OpenClaw profile (~/.openclaw-<name>), as `openclaw --profile`",
    )
    .option("-v, --verbose", "on errors, show causes and a failed tool's stderr")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
        const ctx = makeContext(json, false, opts.profile, opts.quiet ?? false);
        const [{ status }, { renderStatusHuman }] = await Promise.all([
          import("./lib/commands/status.ts"),
          import("./lib/cli/render.ts"),
        ]);
        trace("status modules loaded");
        const report = await status(ctx, { publicCheck: opts.public });
        if (json) deps.stdout(JSON.stringify(report, null, 2) + "\n");
        else deps.stdout(renderStatusHuman(report, style));
        exitCode = report.ok ? ExitCode.ok : ExitCode.failed;
      } catch (error) {
        fail(error, json, opts.verbose ?? false);
      }
    });

  program
    .command("disconnect")
    .summary("remove ecto's Funnel route and stop the edge")
    .description(
      "Remove ecto's Funnel (or private Serve) route and stop the edge; keys and gateway settings stay for a quick " +
        "reconnect. --purge also restores the gateway settings, removes ecto's device pairing " +
        "from the gateway, and deletes keys and credentials.",
    )
    .option("--purge", "also restore the OpenClaw snapshot and delete ecto's keys and credentials")
    .option("--json", "print one JSON document on stdout; progress as JSON lines on stderr")
    .option("-q, --quiet", "no progress on stderr (with --json, the output is only the result)")
    .option("-y, --yes", "never prompt")
    .option(
      "--profile <name>",
      "the OpenClaw profile (~/.openclaw-<name>), as `openclaw --profile`",
    )
    .option("-v, --verbose", "on errors, show causes and a failed tool's stderr")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
        const ctx = makeContext(json, opts.yes ?? false, opts.profile, opts.quiet ?? false);
        const [{ disconnect }, { renderDisconnectHuman }] = await Promise.all([
          import("./lib/commands/disconnect.ts"),
          import("./lib/cli/render.ts"),
        ]);
        trace("disconnect modules loaded");
        const result = await disconnect(ctx, { purge: opts.purge ?? false });
        if (json) deps.stdout(JSON.stringify(result, null, 2) + "\n");
        else deps.stdout(renderDisconnectHuman(result, style));
      } catch (error) {
        fail(error, json, opts.verbose ?? false);
      }
    });

  const edge = program.command("edge").summary("ecto's loopback proxy (run by the supervisor)")
    .description(
      "The edge: ecto's loopback proxy in front of the gateway.",
    );
  edge
    .command("run")
    .description("Run the edge in the foreground (the supervisor runs this).")
    .option("--config <file>", "edge settings written by connect (default: ~/.ecto/edge.json)")
    .option("--listen <addr>", "loopback address to listen on (default 127.0.0.1:18795)")
    .option("--upstream <url>", "the gateway (default http://127.0.0.1:<gateway port>)")
    .option("-v, --verbose", "on errors, show causes and a failed tool's stderr")
    .action(async (opts) => {
      const ctx = makeContext(false, false);
      try {
        const { runEdgeCommand } = await import("./lib/edge/command.ts");
        // The edge drains its streams and stops on SIGTERM/SIGINT itself.
        await withOwnSignals(() =>
          runEdgeCommand(ctx, {
            ...(opts.config === undefined ? {} : { configFile: opts.config }),
            ...(opts.listen === undefined ? {} : { listen: opts.listen }),
            ...(opts.upstream === undefined ? {} : { upstream: opts.upstream }),
          }, (line) => deps.stderr(line + "\n"))
        );
      } catch (error) {
        fail(error, false, opts.verbose ?? false);
      }
    });

  const keys = program
    .command("keys")
    .summary("add, list and revoke client keys")
    .description("Client keys: one per person or app, each revocable on its own.");
  keys
    .command("list")
    .summary("list the keys with today's usage, expiry and last use")
    .description(
      "List the keys (ids, names, roles, agents, today's requests and tokens against their " +
        "budgets, expiry, last use; never a secret).",
    )
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
        const [{ listKeys }, { usageToday }, { renderKeysHuman }] = await Promise.all([
          import("./lib/edge/keys_admin.ts"),
          import("./lib/usage/report.ts"),
          import("./lib/cli/render.ts"),
        ]);
        const paths = ectoPaths(deps.env);
        const records = await listKeys(paths);
        let today: ReturnType<typeof usageToday>;
        try {
          today = usageToday(paths.usageDb, Date.now());
        } catch (error) {
          // The keys are worth listing even when the usage database is unreadable.
          deps.stderr(`warning: ${error instanceof Error ? error.message : String(error)}\n`);
          today = new Map();
        }
        if (json) {
          const keys = records.map((k) => {
            const row = today.get(k.id);
            const use = {
              requests: row?.requests ?? 0,
              promptTokens: row?.promptTokens ?? 0,
              completionTokens: row?.completionTokens ?? 0,
              errors: row?.errors ?? 0,
              refused: row?.refused ?? 0,
              ...(row?.lastUsed ? { lastUsed: row.lastUsed } : {}),
            };
            return { ...k, today: use };
          });
          deps.stdout(JSON.stringify({ ok: true, keys }, null, 2) + "\n");
        } else deps.stdout(renderKeysHuman(records, style, today));
      } catch (error) {
        fail(error, json, false);
      }
    });
  keys
    .command("add")
    .summary("add a key (bound to one agent; --share prints a card for a friend)")
    .description(
      "Add a key for a person or app (`ecto_` + 64 hex characters); it is printed once and " +
        "stored only as a hash. " +
        "The key reaches one agent only: by default ecto's confined agent (no tools, no skills, " +
        "its own workspace), which ecto adds to OpenClaw on first use (asking first: with a " +
        "second agent, direct gateway calls with model openclaw/default get 400). " +
        "Daily budgets count per UTC day; over one the key gets 429 budget_exceeded until " +
        "00:00 UTC (a stream that crosses it finishes). --share prints a card to hand over: " +
        "base URL, key, model, curl, OPENAI_* exports, Python and JavaScript snippets, and a QR " +
        "code on a terminal.",
    )
    .argument("<name>", 'a label, e.g. "alice-laptop"')
    .option(
      "--agent <id>",
      "bind the key to one of your own agents instead (warns when it has machine tools)",
    )
    .option("--expires <when>", "expire after 30m, 12h, 7d ... or at an ISO time")
    .option("--rpm <n>", "requests per minute (default 120)", parseCount)
    .option("--concurrency <n>", "requests at once (default 16)", parseCount)
    .option("--max-tokens-per-day <n>", "daily token budget (UTC day); over it: 429", parseCount)
    .option(
      "--max-requests-per-day <n>",
      "daily request budget (UTC day); over it: 429",
      parseCount,
    )
    .option(
      "--share",
      "print a share card: base URL, key, model, curl, SDK snippets, QR on a terminal",
    )
    .option("-y, --yes", "consent to adding ecto's confined agent to OpenClaw; never prompt")
    .option("--json", "print one JSON document on stdout")
    .action(async (name, opts) => {
      const json = opts.json ?? false;
      const ctx = makeContext(json, opts.yes ?? false);
      try {
        const [
          { addClientKey, parseExpiry },
          { buildShareCard, publishedBaseUrl },
          { renderShareCard },
        ] = await Promise.all([
          import("./lib/edge/keys_admin.ts"),
          import("./lib/edge/share_card.ts"),
          import("./lib/cli/render.ts"),
        ]);
        const limits = {
          ...(opts.rpm === undefined ? {} : { requestsPerMinute: opts.rpm }),
          ...(opts.concurrency === undefined ? {} : { maxConcurrent: opts.concurrency }),
          ...(opts.maxTokensPerDay ? { maxTokensPerDay: opts.maxTokensPerDay } : {}),
          ...(opts.maxRequestsPerDay ? { maxRequestsPerDay: opts.maxRequestsPerDay } : {}),
        };
        const added = await addClientKey(ctx, name, {
          ...(Object.keys(limits).length ? { limits } : {}),
          ...(opts.agent === undefined ? {} : { agent: opts.agent }),
          ...(opts.expires === undefined ? {} : { expires: parseExpiry(opts.expires, ctx.now()) }),
          command: `ecto keys add ${JSON.stringify(name)}`,
        });
        const { created } = added;
        for (const warning of added.warnings) deps.stderr(`warning: ${warning}\n`);
        if (opts.share) {
          const card = buildShareCard(created, added.agent, await publishedBaseUrl(ctx.paths));
          if (json) {
            deps.stdout(
              JSON.stringify(
                { ok: true, ...card, agentAdded: added.agentAdded, warnings: added.warnings },
                null,
                2,
              ) + "\n",
            );
          } else deps.stdout(renderShareCard(card, style));
        } else if (json) {
          deps.stdout(
            JSON.stringify(
              {
                ok: true,
                id: created.id,
                name: created.record.name,
                key: created.key,
                agent: added.agent,
                model: `openclaw/${added.agent}`,
                ...(created.record.expires ? { expires: created.record.expires } : {}),
                agentAdded: added.agentAdded,
                warnings: added.warnings,
              },
              null,
              2,
            ) + "\n",
          );
        } else {
          deps.stdout(
            `Key ${created.id} for ${created.record.name}, agent ${added.agent}${
              created.record.expires ? `, expires ${created.record.expires}` : ""
            } (shown once):\n\n  ${created.key}\n\nModel: openclaw/${added.agent}\n`,
          );
        }
      } catch (error) {
        fail(error, json, false);
      }
    });
  keys
    .command("edit")
    .alias("set")
    .summary("change a key's agent, expiry or daily budgets")
    .description(
      "Re-bind a key to another agent, change its expiry or its daily budgets; applies from " +
        "its next request. `keys set` is the same command.",
    )
    .argument("<key>", "the key's id (or its name, when unique) from `ecto keys list`")
    .option("--agent <id>", "bind it to this agent (ecto-guest: ecto's confined agent)")
    .option(
      "--expires <when>",
      "expire after 30m, 12h, 7d ... or at an ISO time; `never` clears it",
    )
    .option("--max-tokens-per-day <n>", "daily token budget (UTC day); 0 removes it", parseCount)
    .option(
      "--max-requests-per-day <n>",
      "daily request budget (UTC day); 0 removes it",
      parseCount,
    )
    .option("-y, --yes", "consent to adding ecto's confined agent to OpenClaw; never prompt")
    .option("--json", "print one JSON document on stdout")
    .action(async (id, opts) => {
      const json = opts.json ?? false;
      const ctx = makeContext(json, opts.yes ?? false);
      try {
        const { editKey, parseExpiry } = await import("./lib/edge/keys_admin.ts");
        const limits = {
          ...(opts.maxTokensPerDay === undefined ? {} : { maxTokensPerDay: opts.maxTokensPerDay }),
          ...(opts.maxRequestsPerDay === undefined
            ? {}
            : { maxRequestsPerDay: opts.maxRequestsPerDay }),
        };
        const edited = await editKey(ctx, id, {
          ...(Object.keys(limits).length ? { limits } : {}),
          ...(opts.agent === undefined ? {} : { agent: opts.agent }),
          ...(opts.expires === undefined
            ? {}
            : { expires: opts.expires === "never" ? null : parseExpiry(opts.expires, ctx.now()) }),
          command: `ecto keys edit ${id}`,
        });
        for (const warning of edited.warnings) deps.stderr(`warning: ${warning}\n`);
        if (json) {
          deps.stdout(JSON.stringify({ ok: true, key: edited.record }, null, 2) + "\n");
        } else {
          const r = edited.record;
          const budgets = [
            r.limits?.maxRequestsPerDay ? `${r.limits.maxRequestsPerDay} requests` : "",
            r.limits?.maxTokensPerDay ? `${r.limits.maxTokensPerDay} tokens` : "",
          ].filter(Boolean);
          deps.stdout(
            `Key ${r.id} (${r.name}): agent ${r.agent ?? "(none)"}, ${
              r.expires ? `expires ${r.expires}` : "no expiry"
            }, ${budgets.length ? `budget ${budgets.join(" and ")} per UTC day` : "no budget"}.\n`,
          );
        }
      } catch (error) {
        fail(error, json, false);
      }
    });
  keys
    .command("revoke")
    .description("Revoke a key by id; it gets 401 from its next request on.")
    .argument("<id>", "the key's id from `ecto keys list`")
    .option("--json", "print one JSON document on stdout")
    .action(async (id, opts) => {
      const json = opts.json ?? false;
      try {
        const { revokeKey } = await import("./lib/edge/keys_admin.ts");
        const record = await revokeKey(ectoPaths(deps.env), id);
        if (json) deps.stdout(JSON.stringify({ ok: true, revoked: record.id }, null, 2) + "\n");
        else deps.stdout(`Revoked ${record.id} (${record.name}).\n`);
      } catch (error) {
        fail(error, json, false);
      }
    });

  program
    .command("usage")
    .summary("requests, tokens, errors and bytes per key per day")
    .description(
      "Usage per key and UTC day from ~/.ecto/usage.db: requests forwarded, prompt and " +
        "completion tokens, errors, requests refused by the edge, bytes. The edge writes it " +
        "every second; this reads it read-only, also while the edge runs.",
    )
    .option("--since <when>", "from 7d, 2w or 1h ago, today, or YYYY-MM-DD (UTC days)", "7d")
    .option("--key <key>", "only this key (id, or name when unique)")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
        const [{ findKey, listKeys }, { readUsage, sinceDay }, { renderUsageHuman }] = await Promise
          .all([
            import("./lib/edge/keys_admin.ts"),
            import("./lib/usage/report.ts"),
            import("./lib/cli/render.ts"),
          ]);
        const paths = ectoPaths(deps.env);
        const since = sinceDay(opts.since, Date.now());
        let keyId: string | undefined;
        if (opts.key !== undefined) {
          const keys = await listKeys(paths);
          const ref = opts.key;
          // A revoked key is no longer in the store but still has usage: take its id as given.
          keyId = keys.some((k) => k.id === ref || k.name === ref.trim())
            ? findKey(keys, ref).id
            : ref;
        }
        const rows = readUsage(paths.usageDb, { since, ...(keyId ? { keyId } : {}) });
        if (json) deps.stdout(JSON.stringify({ ok: true, since, usage: rows }, null, 2) + "\n");
        else deps.stdout(renderUsageHuman(rows, style, since));
      } catch (error) {
        fail(error, json, false);
      }
    });

  program
    .command("logs")
    .summary("show who used the assistant: the edge's audit log")
    .description(
      "The edge's audit log (~/.ecto/audit.log and its rotations) as a table: time (UTC), key " +
        "name, client, method, path, status, duration, tokens (– when not recorded). No secret " +
        "is ever logged.",
    )
    .option("-f, --follow", "keep printing requests as they come (across rotations) until Ctrl-C")
    .option("--key <id-or-name>", "only requests made with this key (id or name)")
    .option("--since <when>", "only requests since 30m, 1h or 7d ago, today, or an ISO date")
    .option("--json", "print the records as JSON lines, one per line, unchanged")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
        const {
          auditFiles,
          followAuditLog,
          formatHeader,
          formatRow,
          formatSummary,
          matchesFilter,
          parseAuditLines,
          parseSince,
          readAuditLines,
          readRotatedLines,
        } = await import("./lib/logs/mod.ts");
        const path = ectoPaths(deps.env).auditLog;
        const filter: LogFilter = {
          ...(opts.key === undefined ? {} : { key: opts.key }),
          ...(opts.since === undefined ? {} : { sinceMs: parseSince(opts.since, Date.now()) }),
        };
        let malformed = 0;
        let shown = 0;
        const show = (lines: string[]) => {
          const parsed = parseAuditLines(lines);
          malformed += parsed.malformed;
          const rows = parsed.entries.filter((e) => matchesFilter(e, filter));
          shown += rows.length;
          if (rows.length === 0) return;
          deps.stdout(rows.map((e) => (json ? e.raw : formatRow(e)) + "\n").join(""));
        };
        if (!json) deps.stdout(formatHeader() + "\n");
        if (opts.follow) {
          show(await readRotatedLines(path));
          // Ctrl-C ends the follow, and the command exits 0 with its summary.
          const stop = new AbortController();
          await withOwnSignals(
            () => followAuditLog({ path, signal: stop.signal, onLines: show }),
            () => stop.abort(),
          );
        } else {
          // One file at a time: a full log is 3 × 5 MiB, never all in memory at once.
          for (const file of [...await auditFiles(path), path]) show(await readAuditLines(file, 0));
        }
        if (!json) deps.stderr(formatSummary(shown, malformed) + ` (${path})\n`);
        else if (malformed > 0) deps.stderr(`skipped ${malformed} malformed line(s) in ${path}\n`);
      } catch (error) {
        fail(error, json, false);
      }
    });

  program
    .command("test")
    .summary("send one real chat completion through the public URL (costs tokens)")
    .description(
      "Send one real chat completion through the published URL with the owner key and print the " +
        "path taken (public DNS or ECTO_CONNECT_TO first, the tailnet as fallback; in private mode " +
        "only the tailnet), time to first " +
        "byte, tokens per second and the answer's first line. Opt-in: it runs your assistant's " +
        "model once and so costs tokens. Exit 1 names the layer that failed (DNS, TLS, edge " +
        "401/403/429, gateway 5xx, timeout) and its fix; exit 3 when ecto is not connected.",
    )
    .option("--stream", "ask for a streamed answer (SSE) and time its chunks")
    .option("--json", "print one JSON document on stdout")
    .option("--timeout <seconds>", "how long to wait for the answer (default 120)", parseSeconds)
    .option("-v, --verbose", "on errors, show causes")
    .action(async (opts) => {
      const json = opts.json ?? false;
      const [
        { DEFAULT_MODEL, readCredentials },
        { LiveTestError, renderLiveTest, runLiveTest },
        { realLayers },
      ] = await Promise.all([
        import("./lib/core/credentials.ts"),
        import("./lib/live_test/mod.ts"),
        import("./lib/commands/real_layers.ts"),
      ]);
      try {
        const creds = await readCredentials(ectoPaths(deps.env).credentialsFile);
        // The tailnet path dials this node's Tailscale IPs, as the proof does (none: MagicDNS).
        const node = creds
          ? await realLayers().tailscale.current(makeContext(true, false)).catch(() => undefined)
          : undefined;
        const result = await runLiveTest({
          ...(node ? { tailnetAddresses: node.tailscaleIps } : {}),
          ...(creds?.mode === "private" ? { privateMode: true } : {}),
          target: creds
            ? { url: creds.url, token: creds.token, model: creds.model ?? DEFAULT_MODEL }
            : undefined,
          stream: opts.stream ?? false,
          env: deps.env,
          timeoutMs: (opts.timeout ?? 120) * 1000,
        });
        if (json) deps.stdout(JSON.stringify(result, null, 2) + "\n");
        else deps.stdout(renderLiveTest(result));
      } catch (error) {
        if (json && error instanceof LiveTestError) {
          exitCode = exitCodeFor(error);
          const doc = {
            ok: false,
            layer: error.layer,
            ...(error.status === undefined ? {} : { status: error.status }),
            error: errorJson(error, opts.verbose ?? false),
          };
          deps.stdout(JSON.stringify(doc, null, 2) + "\n");
        } else {
          fail(error, json, opts.verbose ?? false);
        }
      }
    });

  program.command("version").description("print the ecto version").action(() => {
    deps.stdout(`${VERSION}\n`);
  });

  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      const ok = ["commander.helpDisplayed", "commander.version", "commander.help"];
      return ok.includes(error.code) ? ExitCode.ok : ExitCode.usage;
    }
    fail(error, false, false);
  }
  trace("done");
  return exitCode;
}

/** The JSON shape of an error for `--json` output; `verbose` adds the tool's stderr and the causes. */
function errorJson(error: unknown, verbose = false): Record<string, unknown> {
  if (error instanceof EctoError) {
    const chain = causeChain(error);
    const tool = chain.find((e): e is ToolError => e instanceof ToolError);
    return {
      code: error.code,
      message: error.message,
      ...(error.fix === undefined ? {} : { fix: error.fix }),
      ...("url" in error && error.url !== undefined ? { url: error.url } : {}),
      exitCode: error.exitCode,
      ...(verbose && tool
        ? { tool: { name: tool.tool, exitCode: tool.toolExitCode, stderrTail: tool.stderrTail } }
        : {}),
      ...(verbose && chain.length > 1
        ? { causes: chain.slice(1).map((e) => e instanceof Error ? e.message : String(e)) }
        : {}),
    };
  }
  return {
    code: "internal",
    message: error instanceof Error ? error.message : String(error),
    exitCode: ExitCode.failed,
  };
}

if (import.meta.main) {
  // `edge run` first, through its own small entry (`--help` and the like fall through).
  const edge = Deno.args[0] === "edge" && Deno.args[1] === "run"
    ? await (await import("./lib/cli/edge_main.ts")).edgeRunMain(Deno.args.slice(2))
    : undefined;
  if (edge !== undefined) Deno.exit(edge);
  // Ctrl-C (or SIGTERM) ends the run once no atomic write is in flight: steps that run in
  // parallel never leave a temp file or half a file behind (exit 130 / 143, as a shell reports).
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, () => {
      if (ownSignalHandlers > 0) return;
      void import("./lib/core/atomic_file.ts").then((m) => m.closeAtomicWrites())
        .finally(() => Deno.exit(code));
    });
  }
  Deno.exit(await main(Deno.args, realDeps()));
}
