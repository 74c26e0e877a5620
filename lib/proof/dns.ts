/**
 * Public DNS for the proof: a check from the host itself would go through
 * the tailnet (the system resolver is MagicDNS), so the node's name is asked
 * of public resolvers directly (1.1.1.1, then 8.8.8.8, then 9.9.9.9).
 * `ECTO_DNS_SERVER=IP[:PORT][,…]` replaces them, e.g. with a stub resolver on
 * loopback in tests.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";
import { describeFailure, isPermissionError } from "./verdicts.ts";
import type { PublicDnsResult } from "../core/layer_types.ts";

/** A DNS server to ask. */
export interface NameServer {
  /** The server's IP address, e.g. `1.1.1.1`. */
  ipAddr: string;
  /** Usually 53. */
  port: number;
}

/** The public resolvers, in the order they are asked. */
export const PUBLIC_NAME_SERVERS: readonly NameServer[] = [
  { ipAddr: "1.1.1.1", port: 53 },
  { ipAddr: "8.8.8.8", port: 53 },
  { ipAddr: "9.9.9.9", port: 53 },
];

/** Resolves `name` to addresses of `type` by asking `nameServer` directly. */
export type PublicResolver = (
  name: string,
  type: "A" | "AAAA",
  nameServer: NameServer,
  signal: AbortSignal,
) => Promise<string[]>;

/**
 * Parses `ECTO_DNS_SERVER`: IPs with an optional port, comma separated, IPv6
 * in brackets when a port follows (`127.0.0.1:5353,[::1]:5353`). Throws
 * {@link EctoError} `invalid_dns_server` on bad input.
 */
export function parseNameServers(spec: string): NameServer[] {
  const servers: NameServer[] = [];
  for (const raw of spec.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const match = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(entry) ??
      /^([0-9.]+)(?::(\d{1,5}))?$/.exec(entry) ?? /^([0-9a-fA-F:]*:[0-9a-fA-F:]*)()$/.exec(entry);
    const port = match?.[2] ? Number(match[2]) : 53;
    if (!match || port < 1 || port > 65535) {
      throw new EctoError(
        "invalid_dns_server",
        `ECTO_DNS_SERVER entry "${entry}" is not an IP address with an optional port.`,
        { fix: "Set ECTO_DNS_SERVER like 127.0.0.1:5353 or [::1]:53, or unset it." },
      );
    }
    servers.push({ ipAddr: match[1]!, port });
  }
  return servers;
}

/** Asks each server in turn for A and AAAA records of `name`; the first with any wins. */
export async function resolvePublic(
  request: { resolveDns: PublicResolver; name: string; timeoutMs: number },
  servers: readonly NameServer[],
): Promise<PublicDnsResult> {
  const problems: string[] = [];
  for (const server of servers) {
    const answers = await Promise.all((["A", "AAAA"] as const).map(async (type) => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), request.timeoutMs);
      try {
        return {
          addresses: await request.resolveDns(request.name, type, server, controller.signal),
        };
      } catch (error) {
        if (isPermissionError(error)) throw error;
        return { addresses: [] as string[], error };
      } finally {
        clearTimeout(timer);
      }
    }));
    const addresses = answers.flatMap((a) => a.addresses);
    if (addresses.length > 0) {
      return { source: "public-dns", nameServer: server.ipAddr, addresses };
    }
    const failure = answers.find((a) =>
      a.error !== undefined && !(a.error instanceof Deno.errors.NotFound)
    );
    problems.push(
      failure
        ? `${server.ipAddr}: ${describeFailure(failure.error)}`
        : `${server.ipAddr}: no A/AAAA record`,
    );
  }
  return {
    source: "public-dns",
    addresses: [],
    error: `${request.name} not in public DNS (${problems.join("; ")})`,
  };
}

// Defined with the layer contracts (one types file, no import cycles); exported here too.
export type { PublicDnsResult };
