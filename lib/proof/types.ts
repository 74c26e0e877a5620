/**
 * The proof's options, effects and result.
 *
 * @module
 */
import type { EventSink } from "../core/events.ts";
import type { EnvLookup } from "../core/paths.ts";
import type { NameServer, PublicResolver } from "./dns.ts";
import type { HttpsGet } from "./https_get.ts";
import type { ProofPath, ProofResult } from "../core/layer_types.ts";

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
  /**
   * Private mode: prove over the tailnet only, retried within `waitMs`; public
   * DNS is never asked and the result never claims the public path.
   */
  tailnetOnly?: boolean;
  /** Progress while waiting, a note on fallback. */
  events?: EventSink;
  /** Effects, for tests. */
  deps?: Partial<ProofDeps>;
}

// Defined with the layer contracts (one types file, no import cycles); exported here too.
export type { ProofPath, ProofResult };
