/**
 * `ECTO_CONNECT_TO`: curl's `--connect-to` rules (`HOST:PORT:ADDR:PORT`,
 * comma separated). A matching rule sends a connection for HOST:PORT to
 * ADDR:PORT instead, keeping the TLS name. Sandboxes and tests use it so the
 * proof never asks DNS and never leaves the machine.
 *
 * @module
 */
import { EctoError } from "../core/errors.ts";

/** One `HOST:PORT:ADDR:PORT` entry; an empty HOST/PORT matches any, an empty ADDR/PORT keeps the original. */
export interface ConnectToRule {
  /** Host to match (lower case, no trailing dot); `""` matches any host. */
  host: string;
  /** Port to match; `undefined` matches any port. */
  port?: number;
  /** Where to connect instead (IP or name, without brackets); `""` keeps the host. */
  toHost: string;
  /** Port to connect to instead; `undefined` keeps the port. */
  toPort?: number;
}

function invalidConnectTo(entry: string, why: string): EctoError {
  return new EctoError(
    "invalid_connect_to",
    `ECTO_CONNECT_TO entry "${entry}" is not HOST:PORT:ADDR:PORT (${why}).`,
    { fix: "Set ECTO_CONNECT_TO like edge.tail1234.ts.net:443:127.0.0.1:8443, or unset it." },
  );
}

/** Reads the four colon-separated fields of one entry (IPv6 hosts in brackets). */
class EntryReader {
  #i = 0;
  constructor(readonly entry: string) {}

  host(): string {
    const { entry } = this;
    if (entry[this.#i] === "[") {
      const end = entry.indexOf("]", this.#i);
      if (end < 0) throw invalidConnectTo(entry, "unclosed [");
      const host = entry.slice(this.#i + 1, end);
      if (!host.includes(":")) throw invalidConnectTo(entry, "brackets are for IPv6 addresses");
      this.#i = end + 1;
      return host;
    }
    const end = entry.indexOf(":", this.#i);
    const host = entry.slice(this.#i, end < 0 ? entry.length : end);
    this.#i += host.length;
    return host;
  }

  port(last: boolean): number | undefined {
    const { entry } = this;
    const end = last ? entry.length : entry.indexOf(":", this.#i);
    if (end < 0) throw invalidConnectTo(entry, "expected four fields");
    const text = entry.slice(this.#i, end);
    this.#i = end;
    if (text === "") return undefined;
    if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
      throw invalidConnectTo(entry, `bad port "${text}"`);
    }
    return Number(text);
  }

  colon(): void {
    if (this.entry[this.#i] !== ":") throw invalidConnectTo(this.entry, "expected four fields");
    this.#i++;
  }
}

/**
 * Parses curl `--connect-to` syntax, entries separated by commas. IPv6
 * addresses go in brackets (`name:443:[::1]:8443`). Throws
 * {@link EctoError} `invalid_connect_to` on bad input.
 */
export function parseConnectTo(spec: string): ConnectToRule[] {
  const rules: ConnectToRule[] = [];
  for (const raw of spec.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const read = new EntryReader(entry);
    const host = read.host();
    read.colon();
    const port = read.port(false);
    read.colon();
    const toHost = read.host();
    read.colon();
    const toPort = read.port(true);
    if (/[\s/@]/.test(host) || /[\s/@]/.test(toHost)) {
      throw invalidConnectTo(entry, "hosts cannot contain spaces, / or @");
    }
    if (toHost === "" && toPort === undefined) {
      throw invalidConnectTo(entry, "it redirects nowhere");
    }
    const rule: ConnectToRule = { host: host.toLowerCase().replace(/\.$/, ""), toHost };
    if (port !== undefined) rule.port = port;
    if (toPort !== undefined) rule.toPort = toPort;
    rules.push(rule);
  }
  return rules;
}

/** The first rule matching `host:port`, applied: where to connect instead, or `undefined`. */
export function matchConnectTo(
  rules: readonly ConnectToRule[],
  host: string,
  port: number,
): { hostname: string; port: number } | undefined {
  const name = host.toLowerCase().replace(/\.$/, "");
  for (const rule of rules) {
    if (
      (rule.host === "" || rule.host === name) && (rule.port === undefined || rule.port === port)
    ) {
      return { hostname: rule.toHost === "" ? host : rule.toHost, port: rule.toPort ?? port };
    }
  }
  return undefined;
}
