/**
 * `ecto test`: one real chat completion through the published URL with the
 * owner key, over the proof's paths — public first (an `ECTO_CONNECT_TO`
 * rule for the name, else the name's address in public DNS), then the
 * tailnet (the node's Tailscale IPs, else the name through the system
 * resolver, i.e. MagicDNS) — and the figures of the answer.
 *
 * @module
 */
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import type { EnvLookup } from "../core/paths.ts";
import { matchConnectTo, parseConnectTo } from "../proof/connect_to.ts";
import {
  type NameServer,
  parseNameServers,
  PUBLIC_NAME_SERVERS,
  type PublicResolver,
  resolvePublic,
} from "../proof/dns.ts";
import { isPermissionError } from "../proof/verdicts.ts";
import {
  type Answer,
  firstLine,
  parseSse,
  readCompletion,
  readStream,
  type Throughput,
  throughput,
} from "./answer.ts";
import { type HttpsPost, httpsPost, type HttpsPostResponse } from "./https_post.ts";
import { LiveTestError, noAnswerError, statusError } from "./verdict.ts";

/** What `ecto test` needs from ecto's state (the credentials file). */
export interface LiveTestTarget {
  /** Base URL, e.g. `https://box.tail1234.ts.net:8443`. */
  url: string;
  /** The owner key. */
  token: string;
  /** The model to ask for. */
  model: string;
}

/** Effects; each has a real default. */
export interface LiveTestDeps {
  /** Default: `Deno.resolveDns` with the given name server. */
  resolveDns: PublicResolver;
  /** Default: {@link httpsPost}. */
  httpsPost: HttpsPost;
  /** Reads `ECTO_CA_FILE`. */
  readTextFile: (path: string) => Promise<string>;
}

/** Options of {@link runLiveTest}. */
export interface LiveTestOptions {
  /** URL, key and model. `undefined`: there is no ecto state (→ exit 3, run connect). */
  target: LiveTestTarget | undefined;
  /** Ask for an event stream. */
  stream: boolean;
  /** `ECTO_CONNECT_TO`, `ECTO_CA_FILE`, `ECTO_DNS_SERVER`. */
  env: EnvLookup;
  /** The node's Tailscale IPs, for the tailnet path (without them: the name via MagicDNS). */
  tailnetAddresses?: readonly string[];
  /** ecto published in private mode (Serve): only the tailnet path exists, so only it is tried. */
  privateMode?: boolean;
  /** The question (default: a one-line hello). */
  prompt?: string;
  /** Whole-exchange timeout (default 120 000 ms: agents think). */
  timeoutMs?: number;
  /** Effects, for tests. */
  deps?: Partial<LiveTestDeps>;
}

/** What one successful test found. */
export interface LiveTestResult {
  ok: true;
  /** `public` (from the internet's side) or `tailnet` (only the tailnet path answered). */
  path: "public" | "tailnet";
  /** How the path was reached, in words. */
  via: string;
  /** The `ADDR:PORT` connected to. */
  target: string;
  /** Why the public path was not used (only when `path` is `tailnet`). */
  publicError?: string;
  /** ecto is in private mode: the tailnet is the only path. */
  privateMode?: true;
  url: string;
  model: string;
  stream: boolean;
  status: number;
  /** Time to the first byte of the answer (its status line), ms. */
  ttfbMs: number;
  /** Stream: time to the first content, ms. */
  firstContentMs?: number;
  /** Time to the end of the answer, ms. */
  totalMs: number;
  /** Completion tokens and the rate. */
  throughput: Throughput;
  /** The answer's first line. */
  firstLine: string;
}

/** The prompt sent unless another is given: short, so the test costs little. */
export const DEFAULT_PROMPT = "Reply with one short sentence to confirm you can hear me.";

function hostPort(url: string): { host: string; port: number } {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:") throw new Error("not https");
    return { host: parsed.hostname.replace(/\.$/, ""), port: Number(parsed.port || 443) };
  } catch (cause) {
    throw new EctoError("credentials_corrupt", `The credentials file's url ${url} is not https.`, {
      fix: "Run ecto connect to write a fresh credentials file.",
      cause,
    });
  }
}

function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The error when there is no ecto state to test. */
export function notConnectedError(): ActionRequiredError {
  return new ActionRequiredError(
    "not_connected",
    "ecto is not connected on this machine (no ~/.openclaw/ecto-credentials.json): nothing to test.",
    { fix: "Run ecto connect first." },
  );
}

interface Candidate {
  path: "public" | "tailnet";
  address: string;
  port: number;
  via: string;
}

/**
 * Sends one chat completion and reads the answer. Throws
 * {@link LiveTestError} naming the layer that failed, or
 * {@link ActionRequiredError} `not_connected` without a target.
 */
export async function runLiveTest(options: LiveTestOptions): Promise<LiveTestResult> {
  if (!options.target) throw notConnectedError();
  const { url, token, model } = options.target;
  const deps: LiveTestDeps = {
    resolveDns: (name, type, nameServer, signal) =>
      Deno.resolveDns(name, type, { nameServer, signal }),
    httpsPost,
    readTextFile: (path) => Deno.readTextFile(path),
    ...options.deps,
  };
  const { host, port } = hostPort(url);
  const rules = parseConnectTo(options.env("ECTO_CONNECT_TO") ?? "");
  const dnsOverride = options.env("ECTO_DNS_SERVER");
  const nameServers: readonly NameServer[] = dnsOverride
    ? parseNameServers(dnsOverride)
    : PUBLIC_NAME_SERVERS;
  const caFile = options.env("ECTO_CA_FILE");
  let caCerts: string[] = [];
  if (caFile) {
    try {
      caCerts = [await deps.readTextFile(caFile)];
    } catch (cause) {
      throw new EctoError(
        "ca_file_unreadable",
        `ECTO_CA_FILE points to ${caFile}, which cannot be read.`,
        {
          fix: "Point ECTO_CA_FILE at a PEM certificate file, or unset it.",
          cause,
        },
      );
    }
  }

  // Public first (a connect-to rule replaces DNS, as in the proof), except in private mode.
  const candidates: Candidate[] = [];
  let publicDnsError: string | undefined;
  const redirect = options.privateMode ? undefined : matchConnectTo(rules, host, port);
  if (redirect) {
    candidates.push({
      path: "public",
      address: redirect.hostname,
      port: redirect.port,
      via: `ECTO_CONNECT_TO target ${formatHostPort(redirect.hostname, redirect.port)}`,
    });
  } else {
    if (!options.privateMode) {
      const dns = await resolvePublic(
        { resolveDns: deps.resolveDns, name: host, timeoutMs: 3_000 },
        nameServers,
      );
      if (dns.addresses.length === 0) publicDnsError = dns.error ?? `${host}: no address`;
      for (const address of dns.addresses) {
        candidates.push({
          path: "public",
          address,
          port,
          via: `public DNS address ${formatHostPort(address, port)} (from ${dns.nameServer})`,
        });
      }
    }
    // The tailnet path, as the proof takes it: the node's Tailscale IPs when known (an
    // ECTO_CONNECT_TO rule applies to them too); else the name through the system resolver
    // (MagicDNS), unless ECTO_DNS_SERVER stands in for every resolver (tests and the sandbox:
    // nothing leaves this machine).
    if (options.tailnetAddresses?.length) {
      for (const address of options.tailnetAddresses) {
        const to = matchConnectTo(rules, address, port);
        candidates.push({
          path: "tailnet",
          address: to?.hostname ?? address,
          port: to?.port ?? port,
          via: `the tailnet (${formatHostPort(address, port)}, a Tailscale IP of this node${
            to ? `, through ECTO_CONNECT_TO ${formatHostPort(to.hostname, to.port)}` : ""
          })`,
        });
      }
    } else if (!dnsOverride) {
      candidates.push({
        path: "tailnet",
        address: host,
        port,
        via: `the tailnet (${host} through the system resolver)`,
      });
    }
  }

  const body = JSON.stringify({
    model,
    messages: [{ role: "user", content: options.prompt ?? DEFAULT_PROMPT }],
    // One session for every test run, instead of a new stored session each time.
    user: "ecto-test",
    ...(options.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
  const failures: Array<{ where: string; error: unknown }> = [];
  let publicError = publicDnsError;
  for (const candidate of candidates) {
    const where = formatHostPort(candidate.address, candidate.port);
    let response: HttpsPostResponse;
    try {
      response = await deps.httpsPost({
        address: candidate.address,
        port: candidate.port,
        serverName: host,
        hostHeader: port === 443 ? host : `${host}:${port}`,
        path: "/v1/chat/completions",
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: options.stream ? "text/event-stream" : "application/json",
        },
        body,
        caCerts,
        timeoutMs: options.timeoutMs ?? 120_000,
      });
    } catch (error) {
      if (isPermissionError(error)) throw error;
      failures.push({ where, error });
      if (candidate.path === "public") publicError = `${where}: ${errorText(error)}`;
      continue;
    }
    return finish({ candidate, response, options, url, model, publicError });
  }
  throw noAnswerError(url, failures, publicDnsError);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function finish(run: {
  candidate: Candidate;
  response: HttpsPostResponse;
  options: LiveTestOptions;
  url: string;
  model: string;
  publicError: string | undefined;
}): LiveTestResult {
  const { candidate, response, options, model } = run;
  const text = response.chunks.map((c) => c.text).join("");
  if (response.status !== 200) {
    throw statusError(
      { status: response.status, body: text, retryAfter: response.headers.get("retry-after") },
      model,
    );
  }
  const isStream = /text\/event-stream/i.test(response.headers.get("content-type") ?? "");
  const answer: Answer | undefined = isStream
    ? readStream(parseSse(response.chunks))
    : readCompletion(text);
  if (!answer) {
    throw new LiveTestError(
      "gateway",
      `Gateway: the answer was 200 but not a chat completion${isStream ? " stream" : ""}.`,
      {
        code: "test_not_a_completion",
        fix: "Run ecto status: the URL may not serve the gateway's API.",
      },
    );
  }
  if (answer.error !== undefined) {
    throw new LiveTestError(
      "gateway",
      `Gateway: the model failed (${answer.error.slice(0, 200)}).`,
      {
        code: "test_model_error",
        fix: "Check the gateway's model provider (its log, or openclaw status); then try again.",
      },
    );
  }
  if (isStream && answer.done === false) {
    throw new LiveTestError("gateway", "Gateway: the stream ended without data: [DONE].", {
      code: "test_stream_cut",
      fix: "Run ecto status; a proxy in between may have cut the stream.",
    });
  }
  return {
    ok: true,
    path: candidate.path,
    via: candidate.via,
    target: formatHostPort(candidate.address, candidate.port),
    ...(candidate.path === "tailnet" && run.publicError ? { publicError: run.publicError } : {}),
    ...(options.privateMode ? { privateMode: true as const } : {}),
    url: run.url,
    model,
    stream: options.stream,
    status: response.status,
    ttfbMs: Math.round(response.headersMs),
    ...(answer.firstContentMs === undefined
      ? {}
      : { firstContentMs: Math.round(answer.firstContentMs) }),
    totalMs: Math.round(response.totalMs),
    throughput: throughput(answer, response.totalMs),
    firstLine: firstLine(answer.content),
  };
}
