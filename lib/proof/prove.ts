/**
 * Proving the public URL, and saying which path was proven: public DNS (or
 * an `ECTO_CONNECT_TO` rule) and both checks, retried within a bound while
 * DNS and the edge catch up; failing that the tailnet path (the node's
 * Tailscale IPs, then its name through the system resolver), reported as only
 * that. Every connection goes through the `ECTO_CONNECT_TO` rules, as with
 * curl's `--connect-to`.
 *
 * @module
 */
import { baseUrl } from "../core/addresses.ts";
import { EctoError } from "../core/errors.ts";
import { ignoreEvents } from "../core/events.ts";
import { type ConnectToRule, matchConnectTo, parseConnectTo } from "./connect_to.ts";
import {
  type NameServer,
  parseNameServers,
  PUBLIC_NAME_SERVERS,
  type PublicDnsResult,
  resolvePublic,
} from "./dns.ts";
import { httpsGet } from "./https_get.ts";
import type { ProofDeps, ProofResult, ProveOptions } from "./types.ts";
import {
  type Answered,
  checkTarget,
  describeOutcome,
  notAttempted,
  passed,
  type TargetOutcome,
} from "./verdicts.ts";
import { sleep } from "../core/poll.ts";

/** One proof run: settings read once, and the check every path uses. */
interface Run {
  deps: ProofDeps;
  options: ProveOptions;
  dnsName: string;
  url: string;
  rules: ConnectToRule[];
  nameServers: readonly NameServer[];
  check: (address: string, port: number) => Promise<TargetOutcome>;
  elapsed: () => number;
}

/** An address that answered, and what it said. */
interface Found {
  target: string;
  outcome: Answered;
}

function defaultDeps(overrides: Partial<ProofDeps> | undefined): ProofDeps {
  return {
    resolveDns: (name, type, nameServer, signal) =>
      Deno.resolveDns(name, type, { nameServer, signal }),
    httpsGet,
    now: () => Date.now(),
    sleep,
    readTextFile: (path) => Deno.readTextFile(path),
    ...overrides,
  };
}

async function readCaFile(deps: ProofDeps, caFile: string | undefined): Promise<string[]> {
  if (!caFile) return [];
  try {
    return [await deps.readTextFile(caFile)];
  } catch (error) {
    throw new EctoError(
      "ca_file_unreadable",
      `ECTO_CA_FILE points to ${caFile}, which cannot be read.`,
      { fix: "Point ECTO_CA_FILE at a PEM certificate file, or unset it.", cause: error },
    );
  }
}

async function startRun(options: ProveOptions): Promise<Run> {
  const deps = defaultDeps(options.deps);
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const dnsName = options.dnsName.replace(/\.$/, "");
  const port = options.port;
  const rules = parseConnectTo(env("ECTO_CONNECT_TO") ?? "");
  const dnsOverride = env("ECTO_DNS_SERVER");
  const nameServers = options.nameServers ??
    (dnsOverride ? parseNameServers(dnsOverride) : PUBLIC_NAME_SERVERS);
  const caCerts = await readCaFile(deps, env("ECTO_CA_FILE"));
  const start = deps.now();
  return {
    deps,
    options,
    dnsName,
    url: baseUrl(dnsName, port),
    rules,
    nameServers,
    elapsed: () => deps.now() - start,
    check: (address, targetPort) =>
      checkTarget({
        httpsGet: deps.httpsGet,
        clientKey: options.clientKey,
        request: {
          address,
          port: targetPort,
          serverName: dnsName,
          hostHeader: port === 443 ? dnsName : `${dnsName}:${port}`,
          path: "/v1/models",
          caCerts,
          timeoutMs: options.requestTimeoutMs ?? 10_000,
        },
      }),
  };
}

function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function modelCount(models: string[]): string {
  return models.length === 1 ? "1 model" : `${models.length} models`;
}

/** Tries `addresses` in order; the first that answers at all is the answer. */
async function firstAnswer(
  run: Run,
  addresses: string[],
  port: number,
): Promise<{ found?: Found; failures: string[] }> {
  const failures: string[] = [];
  for (const address of addresses) {
    const outcome = await run.check(address, port);
    const target = formatHostPort(address, port);
    if (outcome.kind === "answered") return { found: { target, outcome }, failures };
    failures.push(`${target}: ${outcome.error}`);
  }
  return { failures };
}

interface PublicPath {
  attempts: number;
  publicDns: PublicDnsResult;
  found?: Found;
  error: string;
}

/** The public path, retried (with progress events) while DNS or the edge is not ready. */
async function publicPath(run: Run): Promise<PublicPath> {
  const { deps, options, dnsName } = run;
  const waitMs = options.waitMs ?? 60_000;
  const retryMs = options.retryIntervalMs ?? 3_000;
  const redirect = matchConnectTo(run.rules, dnsName, options.port);
  const port = redirect?.port ?? options.port;
  let attempts = 0;
  for (;;) {
    attempts++;
    const publicDns: PublicDnsResult = redirect
      ? { source: "connect-to", addresses: [redirect.hostname] }
      : await resolvePublic(
        { resolveDns: deps.resolveDns, name: dnsName, timeoutMs: options.dnsTimeoutMs ?? 3_000 },
        run.nameServers,
      );
    const { found, failures } = await firstAnswer(run, publicDns.addresses, port);
    const error = found
      ? describeOutcome(found.outcome)
      : publicDns.addresses.length === 0
      ? (publicDns.error ?? "no address")
      : `no answer from ${failures.join("; ")}`;
    const result = { attempts, publicDns, ...(found ? { found } : {}), error };
    if (found && !found.outcome.transient) return result;
    if (run.elapsed() + retryMs > waitMs) return result;
    options.events?.({
      kind: "progress",
      step: "proof.public",
      message: `Waiting for ${run.url} to answer from the internet: ${error}`,
      elapsedMs: run.elapsed(),
      limitMs: waitMs,
    });
    await deps.sleep(retryMs);
  }
}

/** The tailnet path: the node's Tailscale IPs, then its name, each through the connect-to rules. */
async function tailnetPath(run: Run): Promise<{ found?: Found; failures: string[] }> {
  const port = run.options.port;
  const targets = [...(run.options.tailnetAddresses ?? []), run.dnsName].map((address) =>
    matchConnectTo(run.rules, address, port) ?? { hostname: address, port }
  );
  const failures: string[] = [];
  let found: Found | undefined;
  for (const target of targets) {
    const outcome = await run.check(target.hostname, target.port);
    const where = formatHostPort(target.hostname, target.port);
    if (outcome.kind === "unreachable") {
      failures.push(`${where}: ${outcome.error}`);
      continue;
    }
    found = { target: where, outcome };
    if (passed(outcome)) break;
    failures.push(`${where} ${describeOutcome(outcome)}`);
  }
  return { ...(found ? { found } : {}), failures };
}

function proven(run: Run, path: "public" | "tailnet", found: Found) {
  const { unauthenticated, authenticated } = found.outcome;
  return {
    path,
    url: run.url,
    checkedVia: path,
    target: found.target,
    unauthenticated,
    authenticated,
    durationMs: run.elapsed(),
  };
}

/**
 * Proves that `baseUrl(dnsName, port)` serves ecto's edge from the internet,
 * or failing that over the tailnet, and says which. Never throws for a failed
 * check (the result says what failed); throws {@link EctoError} for bad
 * `ECTO_CONNECT_TO` / `ECTO_CA_FILE` / `ECTO_DNS_SERVER` settings, and
 * rethrows a permission error (an address the permission set forbids).
 */
export async function provePublicUrl(options: ProveOptions): Promise<ProofResult> {
  const run = await startRun(options);
  const events = options.events ?? ignoreEvents;
  if (options.tailnetOnly) return await proveTailnetOnly(run);
  const pub = await publicPath(run);
  const { attempts, publicDns } = pub;
  if (pub.found && passed(pub.found.outcome)) {
    const via = publicDns.source === "connect-to"
      ? `ECTO_CONNECT_TO target ${pub.found.target}`
      : `public DNS address ${pub.found.target}`;
    return {
      ...proven(run, "public", pub.found),
      publicDns,
      attempts,
      detail:
        `Proven from the internet via ${via}: ${run.url}/v1/models refused a request without a key ` +
        `(401 from ecto's edge) and listed ${
          modelCount(pub.found.outcome.authenticated.models)
        } with the client key.`,
    };
  }
  const publicError = pub.found ? `${pub.found.target} ${pub.error}` : pub.error;

  events({
    kind: "note",
    step: "proof.public",
    level: "warn",
    message: `The public path is not proven (${publicError}); checking the tailnet path instead.`,
  });
  const tailnet = await tailnetPath(run);
  if (tailnet.found && passed(tailnet.found.outcome)) {
    return {
      ...proven(run, "tailnet", tailnet.found),
      publicDns,
      publicError,
      attempts,
      detail:
        `Only the tailnet path was proven (via ${tailnet.found.target}): the edge refused a ` +
        `request without a key and listed ${
          modelCount(tailnet.found.outcome.authenticated.models)
        } with the client key. ` +
        `The public path is not proven: ${publicError}. Devices outside your tailnet may not reach ` +
        `${run.url} until public DNS has the name.`,
    };
  }

  // Neither: report the checks of whichever path answered at all.
  const shown = pub.found
    ? { via: "public" as const, ...pub.found }
    : tailnet.found
    ? { via: "tailnet" as const, ...tailnet.found }
    : undefined;
  return {
    path: "none",
    url: run.url,
    publicDns,
    publicError,
    checkedVia: shown?.via ?? null,
    ...(shown ? { target: shown.target } : {}),
    unauthenticated: shown?.outcome.unauthenticated ??
      { status: null, ok: false, error: "nothing answered" },
    authenticated: shown?.outcome.authenticated ?? notAttempted("nothing answered"),
    attempts,
    durationMs: run.elapsed(),
    detail: `Not proven on any path. Public: ${publicError}. Tailnet: ${
      tailnet.failures.join("; ")
    }.`,
  };
}

/**
 * Private mode: the tailnet path alone, retried within the bound while the
 * edge or the certificate catches up. Public DNS is not asked: the URL is
 * not meant to be public, and the result says so.
 */
async function proveTailnetOnly(run: Run): Promise<ProofResult> {
  const { deps, options } = run;
  const waitMs = options.waitMs ?? 60_000;
  const retryMs = options.retryIntervalMs ?? 3_000;
  const publicDns: PublicDnsResult = {
    source: "public-dns",
    addresses: [],
    error: "not asked: private mode (tailnet only)",
  };
  let attempts = 0;
  for (;;) {
    attempts++;
    const tailnet = await tailnetPath(run);
    if (tailnet.found && passed(tailnet.found.outcome)) {
      return {
        ...proven(run, "tailnet", tailnet.found),
        publicDns,
        publicError: "not checked: private mode publishes on the tailnet only",
        attempts,
        detail: `Proven over the tailnet (via ${tailnet.found.target}): the edge refused a ` +
          `request without a key and listed ${
            modelCount(tailnet.found.outcome.authenticated.models)
          } with the client key. ${run.url} works only on devices in your tailnet ` +
          `(Tailscale Serve, no Funnel).`,
      };
    }
    const failures = tailnet.failures.join("; ") || "no tailnet address to try";
    const transient = !tailnet.found || tailnet.found.outcome.transient;
    if (!transient || run.elapsed() + retryMs > waitMs) {
      const shown = tailnet.found;
      return {
        path: "none",
        url: run.url,
        publicDns,
        publicError: "not checked: private mode publishes on the tailnet only",
        checkedVia: shown ? "tailnet" : null,
        ...(shown ? { target: shown.target } : {}),
        unauthenticated: shown?.outcome.unauthenticated ??
          { status: null, ok: false, error: "nothing answered" },
        authenticated: shown?.outcome.authenticated ?? notAttempted("nothing answered"),
        attempts,
        durationMs: run.elapsed(),
        detail: `Not proven over the tailnet: ${failures}.`,
      };
    }
    options.events?.({
      kind: "progress",
      step: "proof.tailnet",
      message: `Waiting for ${run.url} to answer on the tailnet: ${failures}`,
      elapsedMs: run.elapsed(),
      limitMs: waitMs,
    });
    await deps.sleep(retryMs);
  }
}
