/**
 * The ecto command line: the only impure entry point. It parses arguments,
 * builds the real dependencies, renders results and events, and returns an
 * exit code. Everything else lives in `lib/`.
 *
 * @module
 */
import { Command, CommanderError, InvalidArgumentError } from "@commander-js/extra-typings";
import { build$ } from "dax";
import denoJson from "./deno.json" with { type: "json" };
import type { Consent, EctoContext } from "./lib/context.ts";
import { connect, type ConnectOptions } from "./lib/connect.ts";
import { disconnect } from "./lib/disconnect.ts";
import { status } from "./lib/status.ts";
import { runEdgeCommand } from "./lib/edge_command.ts";
import { causeChain, EctoError, ExitCode, exitCodeFor, ToolError } from "./lib/errors.ts";
import type { EctoEvent } from "./lib/events.ts";
import { addKey, listKeys, revokeKey } from "./lib/keys_admin.ts";
import { ectoPaths } from "./lib/paths.ts";
import { DEFAULT_MODEL, readCredentials } from "./lib/credentials.ts";
import {
  auditFiles,
  followAuditLog,
  formatHeader,
  formatRow,
  formatSummary,
  type LogFilter,
  matchesFilter,
  parseAuditLines,
  parseSince,
  readAuditLines,
  readRotatedLines,
} from "./lib/logs/mod.ts";
import { LiveTestError, renderLiveTest, runLiveTest } from "./lib/live_test/mod.ts";
import {
  renderConnectHuman,
  renderDisconnectHuman,
  renderErrorHuman,
  renderEventHuman,
  renderKeysHuman,
  renderStatusHuman,
  type Style,
} from "./lib/render.ts";

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
 * `deno run` it is deno with the same permission set and config.
 */
function selfCommand(): string[] {
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

const FUNNEL_PORTS = [443, 8443, 10000];

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
  let exitCode: number = ExitCode.ok;
  const colour = deps.isTerminal && deps.env("NO_COLOR") === undefined;
  const style: Style = { colour, terminal: deps.isTerminal };

  const makeContext = (json: boolean, yes: boolean): EctoContext => {
    const interactive = deps.isTerminal && !json;
    const consent: Consent = async (request) => {
      if (yes) return true;
      if (!interactive) return false;
      const answer = await deps.readLine(
        `${request.description}\n  ${request.command}\nProceed? [y/N]`,
      );
      return /^y(es)?$/i.test((answer ?? "").trim());
    };
    const onEvent = (event: EctoEvent) => {
      if (json) deps.stderr(JSON.stringify({ event: event.kind, ...event }) + "\n");
      else deps.stderr(renderEventHuman(event, style));
    };
    return {
      $: build$({}),
      env: deps.env,
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
install it without consent (--yes).

Environment: ECTO_TAILSCALE, ECTO_OPENCLAW (program paths), ECTO_STATE_DIR
(default ~/.ecto), TS_AUTHKEY (Tailscale auth key for headless login).`,
    );

  program
    .command("connect")
    .summary("publish the gateway's API at an HTTPS URL with a key")
    .description(
      "Check first (OpenClaw, the gateway port, the Tailscale version and variant: 1.102.0-1.102.1 " +
        "break Funnel and are refused), then install and log in to Tailscale if needed, configure " +
        "the gateway, start the edge, publish it through Funnel, prove the public URL works, and " +
        "print URL, key and an example.",
    )
    .option("-y, --yes", "consent to installing and starting Tailscale; never prompt")
    .option("--json", "print one JSON document on stdout; progress as JSON lines on stderr")
    .option(
      "--auth-key <key>",
      "Tailscale auth key for headless login (prefer TS_AUTHKEY or file:PATH)",
    )
    .option("--regenerate-token", "issue a new owner key and revoke the old one")
    .option("--restart", "re-apply the gateway settings and restart the edge; Tailscale untouched")
    .option("--funnel-port <port>", "publish on this Funnel port (443, 8443 or 10000)", parsePort)
    .option("--keep-bind", "leave gateway.bind as it is instead of forcing loopback")
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
      const ctx = makeContext(json, opts.yes ?? false);
      try {
        const options: ConnectOptions = {
          authKey: opts.authKey ?? deps.env("TS_AUTHKEY"),
          regenerateToken: opts.regenerateToken ?? false,
          restart: opts.restart ?? false,
          keepBind: opts.keepBind ?? false,
          ...(opts.funnelPort === undefined ? {} : { funnelPort: opts.funnelPort }),
          proofTimeoutMs: (opts.proofTimeout ?? 60) * 1000,
          loginTimeoutMs: (opts.loginTimeout ?? 300) * 1000,
        };
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
      "Show every layer: Tailscale, Funnel route, edge, gateway, credentials, public check.",
    )
    .option("--json", "print one JSON document on stdout")
    .option("--no-public", "skip the public check")
    .option("-v, --verbose", "on errors, show causes and a failed tool's stderr")
    .action(async (opts) => {
      const json = opts.json ?? false;
      const ctx = makeContext(json, false);
      try {
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
      "Remove ecto's Funnel route and stop the edge; keys and gateway settings stay for a quick " +
        "reconnect. --purge also restores the gateway settings and deletes keys and credentials.",
    )
    .option("--purge", "also restore the OpenClaw snapshot and delete ecto's keys and credentials")
    .option("--json", "print one JSON document on stdout; progress as JSON lines on stderr")
    .option("-y, --yes", "never prompt")
    .option("-v, --verbose", "on errors, show causes and a failed tool's stderr")
    .action(async (opts) => {
      const json = opts.json ?? false;
      const ctx = makeContext(json, opts.yes ?? false);
      try {
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
        await runEdgeCommand(ctx, {
          ...(opts.config === undefined ? {} : { configFile: opts.config }),
          ...(opts.listen === undefined ? {} : { listen: opts.listen }),
          ...(opts.upstream === undefined ? {} : { upstream: opts.upstream }),
        }, (line) => deps.stderr(line + "\n"));
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
    .description("List the keys (ids, names, roles, last use; never a secret).")
    .option("--json", "print one JSON document on stdout")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
        const records = await listKeys(ectoPaths(deps.env));
        if (json) deps.stdout(JSON.stringify({ ok: true, keys: records }, null, 2) + "\n");
        else deps.stdout(renderKeysHuman(records, style));
      } catch (error) {
        fail(error, json, false);
      }
    });
  keys
    .command("add")
    .description("Add a key for a person or app; it is printed once and stored only as a hash.")
    .argument("<name>", 'a label, e.g. "alice-laptop"')
    .option("--rpm <n>", "requests per minute (default 120)", parseCount)
    .option("--concurrency <n>", "requests at once (default 16)", parseCount)
    .option("--json", "print one JSON document on stdout")
    .action(async (name, opts) => {
      const json = opts.json ?? false;
      try {
        const limits = {
          ...(opts.rpm === undefined ? {} : { requestsPerMinute: opts.rpm }),
          ...(opts.concurrency === undefined ? {} : { maxConcurrent: opts.concurrency }),
        };
        const created = await addKey(
          ectoPaths(deps.env),
          name,
          Object.keys(limits).length ? limits : undefined,
        );
        if (json) {
          deps.stdout(
            JSON.stringify(
              { ok: true, id: created.id, name: created.record.name, key: created.key },
              null,
              2,
            ) + "\n",
          );
        } else {
          deps.stdout(
            `Key ${created.id} for ${created.record.name} (shown once):\n\n  ${created.key}\n`,
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
        const record = await revokeKey(ectoPaths(deps.env), id);
        if (json) deps.stdout(JSON.stringify({ ok: true, revoked: record.id }, null, 2) + "\n");
        else deps.stdout(`Revoked ${record.id} (${record.name}).\n`);
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
    .option("--since <when>", "only requests since 30m, 1h, 7d, or an ISO date")
    .option("--json", "print the records as JSON lines, one per line, unchanged")
    .action(async (opts) => {
      const json = opts.json ?? false;
      try {
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
          const stop = new AbortController();
          const onSignal = () => stop.abort();
          Deno.addSignalListener("SIGINT", onSignal);
          Deno.addSignalListener("SIGTERM", onSignal);
          try {
            await followAuditLog({ path, signal: stop.signal, onLines: show });
          } finally {
            Deno.removeSignalListener("SIGINT", onSignal);
            Deno.removeSignalListener("SIGTERM", onSignal);
          }
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
        "path taken (public DNS or ECTO_CONNECT_TO first, the tailnet as fallback), time to first " +
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
      try {
        const creds = await readCredentials(ectoPaths(deps.env).credentialsFile);
        const result = await runLiveTest({
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

if (import.meta.main) Deno.exit(await main(Deno.args, realDeps()));
