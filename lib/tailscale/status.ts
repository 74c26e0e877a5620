/**
 * `tailscale status --json` → a small typed model with only what ecto needs.
 * Tolerates unknown and missing keys and old daemons (no `CapMap` before
 * 1.50: the deprecated `Capabilities` array is used instead).
 *
 * @module
 */

/** The daemon's `BackendState` values (`ipn/backend.go`); other strings pass through. */
export type BackendState =
  | "NoState"
  | "InUseOtherUser"
  | "NeedsLogin"
  | "NeedsMachineAuth"
  | "Stopped"
  | "Starting"
  | "Running"
  | (string & Record<never, never>);

/** An inclusive port range from the funnel-ports capability. */
export interface PortRange {
  /** First port of the range. */
  first: number;
  /** Last port of the range (equal to `first` for a single port). */
  last: number;
}

/** What ecto knows about the node after `tailscale status --json`. */
export interface TailscaleStatus {
  /** The raw `BackendState`. */
  backendState: BackendState;
  /** One human sentence for the state. */
  meaning: string;
  /** `Running` or `Starting`: the only states in which serve/funnel accept writes. */
  connected: boolean;
  /** The node's MagicDNS name without the trailing dot, e.g. `build-box.tail1234.ts.net`. */
  dnsName?: string;
  /** The OS host name (not unique, not a DNS name). */
  hostName?: string;
  /** The tailnet's name (`CurrentTailnet.Name`), e.g. `alice@example.com`. */
  tailnetName?: string;
  /** The MagicDNS suffix, e.g. `tail1234.ts.net`. */
  magicDnsSuffix?: string;
  /** Whether MagicDNS is on for the tailnet. */
  magicDnsEnabled: boolean;
  /** HTTPS certificates are available (CapMap `https`, or non-empty `CertDomains`). */
  httpsCapable: boolean;
  /** The node has the `funnel` node attribute. */
  funnelAllowed: boolean;
  /** The ports Funnel may use, from the funnel-ports capability (empty without one). */
  funnelPorts: PortRange[];
  /** Whether the funnel-ports capability was present at all. */
  funnelPortsKnown: boolean;
  /** The pending interactive login URL, when one has been started. */
  authUrl?: string;
  /** Health warnings (`[]` when healthy). */
  health: string[];
  /** The node's Tailscale IPs (100.x and fd7a:…). */
  tailscaleIps: string[];
  /** The daemon's long version. */
  version?: string;
  /** `linux`, `macOS`, … */
  os?: string;
  /** Domains the control plane issues certificates for. */
  certDomains: string[];
  /** Capability names the node carries (CapMap keys, or `Capabilities` on old daemons). */
  capabilities: string[];
}

const MEANINGS: Record<string, string> = {
  NoState: "Tailscale is starting up and has not heard from its coordination server yet.",
  InUseOtherUser: "Tailscale is in use by another user on this computer.",
  NeedsLogin: "This computer is not logged in to Tailscale (or its login expired).",
  NeedsMachineAuth: "This computer is logged in but waits for a tailnet admin to approve it.",
  Stopped: "Tailscale is logged in but switched off (tailscale down).",
  Starting: "Tailscale is connecting.",
  Running: "Tailscale is connected.",
};

/** One human sentence for a `BackendState`. */
export function backendStateMeaning(state: string): string {
  return MEANINGS[state] ?? `Tailscale reports an unexpected state: ${state}.`;
}

/** The prefix of the funnel-ports capability key; the ports live in its `ports` query. */
export const FUNNEL_PORTS_CAP = "https://tailscale.com/cap/funnel-ports";

const DEPRECATED_SENTINEL_PREFIX = "HTTPS://TAILSCALE.COM/s/DEPRECATED-NODE-CAPS";

/**
 * Parses the port list out of a funnel-ports capability key such as
 * `https://tailscale.com/cap/funnel-ports?ports=443,8443,10000` (ranges
 * `first-last` allowed). Returns `undefined` when `key` is not that capability.
 */
export function parseFunnelPortsCap(key: string): PortRange[] | undefined {
  if (!key.startsWith(FUNNEL_PORTS_CAP)) return undefined;
  const rest = key.slice(FUNNEL_PORTS_CAP.length);
  if (rest !== "" && !rest.startsWith("?")) return undefined;
  const ports = new URLSearchParams(rest.slice(1)).get("ports") ?? "";
  const ranges: PortRange[] = [];
  for (const part of ports.split(",")) {
    const p = part.trim();
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) continue;
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (first < 1 || last > 65535 || last < first) continue;
    ranges.push({ first, last });
  }
  return ranges;
}

/** True when `port` lies inside one of `ranges`. */
export function portInRanges(ranges: readonly PortRange[], port: number): boolean {
  return ranges.some((r) => port >= r.first && port <= r.last);
}

function obj(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** Parses `tailscale status --json` output. Throws when it is not a JSON object. */
export function parseStatusJson(text: string): TailscaleStatus {
  const data = obj(JSON.parse(text));
  if (!data) throw new Error("status JSON is not an object");
  const self = obj(data.Self) ?? {};
  const tailnet = obj(data.CurrentTailnet);
  const capMap = obj(self.CapMap);
  const capabilities = capMap
    ? Object.keys(capMap)
    : strings(self.Capabilities).filter((c) => !c.startsWith(DEPRECATED_SENTINEL_PREFIX));
  const certDomains = strings(data.CertDomains);
  const backendState = str(data.BackendState) ?? "NoState";

  let funnelPorts: PortRange[] = [];
  let funnelPortsKnown = false;
  for (const cap of capabilities) {
    const ranges = parseFunnelPortsCap(cap);
    if (ranges) {
      funnelPorts = funnelPorts.concat(ranges);
      funnelPortsKnown = true;
    }
  }

  const status: TailscaleStatus = {
    backendState,
    meaning: backendStateMeaning(backendState),
    connected: backendState === "Running" || backendState === "Starting",
    magicDnsEnabled: tailnet?.MagicDNSEnabled === true,
    httpsCapable: capabilities.includes("https") || certDomains.length > 0,
    funnelAllowed: capabilities.includes("funnel"),
    funnelPorts,
    funnelPortsKnown,
    health: strings(data.Health),
    tailscaleIps: strings(data.TailscaleIPs).length > 0
      ? strings(data.TailscaleIPs)
      : strings(self.TailscaleIPs),
    certDomains,
    capabilities,
  };
  const dnsName = str(self.DNSName)?.replace(/\.$/, "");
  if (dnsName) status.dnsName = dnsName;
  const hostName = str(self.HostName);
  if (hostName) status.hostName = hostName;
  const tailnetName = str(tailnet?.Name);
  if (tailnetName) status.tailnetName = tailnetName;
  const suffix = str(tailnet?.MagicDNSSuffix) ?? str(data.MagicDNSSuffix);
  if (suffix) status.magicDnsSuffix = suffix;
  const authUrl = str(data.AuthURL);
  if (authUrl) status.authUrl = authUrl;
  const version = str(data.Version);
  if (version) status.version = version;
  const os = str(self.OS);
  if (os) status.os = os;
  return status;
}
