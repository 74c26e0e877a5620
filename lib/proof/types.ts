/**
 * The proof's options, effects and result.
 *
 * @module
 */
import type { EventSink } from "../events.ts";
import type { EnvLookup } from "../paths.ts";
import type { NameServer, PublicDnsResult, PublicResolver } from "./dns.ts";
import type { HttpsGet } from "./https_get.ts";
import type { AuthCheckResult, CheckResult } from "./verdicts.ts";

/** The effects the proof uses; every one has a real default. */
export interface ProofDeps {
  /** Default: `Deno.resolveDns(name, type, { nameServer, signal })`. */
  resolveDns: PublicResolver;
  /** Default: {@link httpsGet}. */
  httpsGet: HttpsGet;
  /** Milliseconds clock. Default: `Date.now`. */
  now: () => number;
  /** Default: a `setTimeout` promise. */
  sleep: (ms: number) => Promise<void>;
  /** Reads `ECTO_CA_FILE`. Default: `Deno.readTextFile`. */
  readTextFile: (path: string) => Promise<string>;
}

/** Options for {@link provePublicUrl}. */
export interface ProveOptions {
  /** The node's DNS name, e.g. `build-box.tail1234.ts.net` (a trailing dot is fine). */
  dnsName: string;
  /** The public Funnel port: 443, 8443 or 10000. */
  port: number;
  /** A client key the edge accepts. Sent only after the edge has been recognised. */
  clientKey: string;
  /** The node's Tailscale IPs (100.x, fd7a:…), tried first on the tailnet path. */
  tailnetAddresses?: string[];
  /** Environment for `ECTO_CONNECT_TO`, `ECTO_CA_FILE` and `ECTO_DNS_SERVER`. Default: `Deno.env.get`. */
  env?: EnvLookup;
  /** How long to wait for public DNS / the public path (default 60 000 ms). */
  waitMs?: number;
  /** Pause between public attempts (default 3 000 ms). */
  retryIntervalMs?: number;
  /** Timeout of one HTTPS exchange (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Timeout of one DNS query (default 3 000 ms). */
  dnsTimeoutMs?: number;
  /** Public resolvers to ask (default `ECTO_DNS_SERVER`, else {@link PUBLIC_NAME_SERVERS}). */
  nameServers?: readonly NameServer[];
  /** Progress while waiting, a note on fallback. */
  events?: EventSink;
  /** Effects, for tests. */
  deps?: Partial<ProofDeps>;
}

/** Which path both checks passed on. */
export type ProofPath = "public" | "tailnet" | "none";

/** Everything the proof found. Claims no more than was proven. */
export interface ProofResult {
  /** The path both checks passed on; `none` when neither path passed. */
  path: ProofPath;
  /** The public base URL that was checked. */
  url: string;
  /** Public DNS on the last public attempt. */
  publicDns: PublicDnsResult;
  /** Why the public path is not proven (absent when `path` is `public`). */
  publicError?: string;
  /** Which path `unauthenticated`/`authenticated` describe (`null`: nothing answered). */
  checkedVia: "public" | "tailnet" | null;
  /** The `ADDR:PORT` the reported checks went to. */
  target?: string;
  /** `GET /v1/models` without a key: must be 401 from ecto's edge. */
  unauthenticated: CheckResult;
  /** `GET /v1/models` with the client key: must be 200 with an OpenAI list. */
  authenticated: AuthCheckResult;
  /** Public attempts made. */
  attempts: number;
  /** Time the whole proof took, by the injected clock. */
  durationMs: number;
  /** One or two sentences for people. */
  detail: string;
}
