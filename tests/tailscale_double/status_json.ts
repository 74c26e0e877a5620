/**
 * `tailscale status` of the double: the `--json` object (shapes of the
 * reference §3.4/§3.5, keys per version) and the plain text.
 *
 * @module
 */

import type { DoubleState } from "./state.ts";
import { atLeast, longVersion } from "./version_info.ts";

/**
 * Stable identity of the double's node. Its "Tailscale IPs" are loopback
 * (real ones are 100.x and fd7a:…): the proof's tailnet fallback dials them,
 * and nothing a test runs may leave this machine.
 */
export const NODE = {
  id: "nK5sT9pQ2x11CNTRL",
  nodeId: 7812345678901234,
  publicKey: "nodekey:4f1c2a9e0b7d33c15e6a8f4b2d9c0e17a3b5c7d9e1f20344a6b8cadcef012345",
  ipv4: "127.0.0.1",
  ipv6: "::1",
  userId: 1234567890123456,
};

const ZERO_TIME = "0001-01-01T00:00:00Z";
const SENTINEL =
  "HTTPS://TAILSCALE.COM/s/DEPRECATED-NODE-CAPS#see-https://github.com/tailscale/tailscale/issues/11508";
const FUNNEL_PORTS_CAP = "https://tailscale.com/cap/funnel-ports";

/** Whether the state describes a node that has logged in (has a network map). */
export function loggedIn(state: DoubleState): boolean {
  const s = state.options.backendState;
  return s === "Running" || s === "Starting" || s === "Stopped" || s === "NeedsMachineAuth";
}

/** The daemon's version (`daemonVersion` or the CLI's). */
export function daemonVersion(state: DoubleState): string {
  return state.options.daemonVersion || state.options.version;
}

/** MagicDNS suffix derived from the DNS name (`tail1234.ts.net`). */
export function magicDnsSuffix(state: DoubleState): string {
  return state.options.dnsName.split(".").slice(1).join(".");
}

/** The node's capability map keys, in Go's sorted order. */
export function capKeys(state: DoubleState): string[] {
  const o = state.options;
  const keys = ["default-auto-update"];
  if (o.funnelAttr) keys.push("funnel");
  if (o.https) keys.push("https");
  keys.push("https://tailscale.com/cap/file-sharing");
  if (o.funnelPorts.length) keys.push(`${FUNNEL_PORTS_CAP}?ports=${o.funnelPorts.join(",")}`);
  keys.push(
    "https://tailscale.com/cap/is-admin",
    "https://tailscale.com/cap/ssh",
    "https://tailscale.com/cap/tailnet-lock",
  );
  return keys.sort();
}

function selfLoggedIn(state: DoubleState, v: string): Record<string, unknown> {
  const o = state.options;
  const self: Record<string, unknown> = { ID: NODE.id };
  if (atLeast(v, "1.100")) self.NodeID = NODE.nodeId;
  Object.assign(self, {
    PublicKey: NODE.publicKey,
    HostName: state.hostname,
    DNSName: `${o.dnsName}.`,
    OS: o.os,
    UserID: NODE.userId,
    TailscaleIPs: [NODE.ipv4, NODE.ipv6],
    AllowedIPs: [`${NODE.ipv4}/32`, `${NODE.ipv6}/128`],
    Addrs: ["203.0.113.7:41641", "192.168.1.20:41641"],
    CurAddr: "",
    Relay: "fra",
  });
  if (atLeast(v, "1.86")) self.PeerRelay = "";
  Object.assign(self, {
    RxBytes: 0,
    TxBytes: 0,
    Created: "2025-11-02T10:15:03.482913Z",
    LastWrite: ZERO_TIME,
    LastSeen: ZERO_TIME,
    LastHandshake: ZERO_TIME,
    Online: o.backendState === "Running",
    ExitNode: false,
    ExitNodeOption: false,
    Active: false,
    PeerAPIURL: [`http://${NODE.ipv4}:36912`, `http://[${NODE.ipv6}]:36912`],
  });
  if (atLeast(v, "1.82")) Object.assign(self, { TaildropTarget: 0, NoFileSharingReason: "" });
  const caps = capKeys(state);
  self.Capabilities = atLeast(v, "1.64") ? [SENTINEL, ...caps] : caps;
  if (atLeast(v, "1.50")) {
    self.CapMap = Object.fromEntries(
      caps.map((k) => [k, k === "default-auto-update" ? [true] : null]),
    );
  }
  Object.assign(self, {
    InNetworkMap: true,
    InMagicSock: false,
    InEngine: false,
    KeyExpiry: "2026-05-01T10:15:03Z",
  });
  return self;
}

function selfLoggedOut(state: DoubleState, v: string): Record<string, unknown> {
  const self: Record<string, unknown> = { ID: "" };
  if (atLeast(v, "1.100")) self.NodeID = 0;
  Object.assign(self, {
    PublicKey: "nodekey:" + "0".repeat(64),
    HostName: state.hostname,
    DNSName: "",
    OS: state.options.os,
    UserID: 0,
    TailscaleIPs: null,
    Addrs: [],
    CurAddr: "",
    Relay: "",
  });
  if (atLeast(v, "1.86")) self.PeerRelay = "";
  Object.assign(self, {
    RxBytes: 0,
    TxBytes: 0,
    Created: ZERO_TIME,
    LastWrite: ZERO_TIME,
    LastSeen: ZERO_TIME,
    LastHandshake: ZERO_TIME,
    Online: false,
    ExitNode: false,
    ExitNodeOption: false,
    Active: false,
    PeerAPIURL: null,
  });
  if (atLeast(v, "1.82")) Object.assign(self, { TaildropTarget: 0, NoFileSharingReason: "" });
  Object.assign(self, { InNetworkMap: false, InMagicSock: false, InEngine: false });
  return self;
}

function peer(state: DoubleState, v: string): Record<string, unknown> {
  const key = "nodekey:9b2e6c1d0a4f7e3b5c8d2a1f6e9b0c3d7a5e8f1b2c4d6e8f0a1b3c5d7e9f1a2b";
  const p: Record<string, unknown> = { ID: "nR7wX3mL8c11CNTRL" };
  if (atLeast(v, "1.100")) p.NodeID = 7812345678909999;
  Object.assign(p, {
    PublicKey: key,
    HostName: "alice-iphone",
    DNSName: `alice-iphone.${magicDnsSuffix(state)}.`,
    OS: "iOS",
    UserID: NODE.userId,
    TailscaleIPs: ["127.0.0.2", "::1"],
    AllowedIPs: ["127.0.0.2/32", "::1/128"],
    Addrs: null,
    CurAddr: "",
    Relay: "fra",
  });
  if (atLeast(v, "1.86")) p.PeerRelay = "";
  Object.assign(p, {
    RxBytes: 0,
    TxBytes: 0,
    Created: "2025-10-20T08:01:44.11Z",
    LastWrite: ZERO_TIME,
    LastSeen: ZERO_TIME,
    LastHandshake: ZERO_TIME,
    Online: true,
    ExitNode: false,
    ExitNodeOption: false,
    Active: false,
    PeerAPIURL: ["http://127.0.0.2:51234"],
  });
  if (atLeast(v, "1.82")) Object.assign(p, { TaildropTarget: 1, NoFileSharingReason: "" });
  Object.assign(p, {
    InNetworkMap: true,
    InMagicSock: true,
    InEngine: false,
    KeyExpiry: "2026-04-18T08:01:44Z",
  });
  return { [key]: p };
}

/** The `status --json` object (`peers` false = `--peers=false`). */
export function statusObject(state: DoubleState, peers = true): Record<string, unknown> {
  const o = state.options;
  const v = daemonVersion(state);
  const inMap = loggedIn(state);
  const st: Record<string, unknown> = {
    Version: longVersion(v),
    TUN: true,
    BackendState: o.backendState,
  };
  if (inMap && atLeast(v, "1.66")) st.HaveNodeKey = true;
  st.AuthURL = state.authUrl;
  st.TailscaleIPs = inMap ? [NODE.ipv4, NODE.ipv6] : null;
  st.Self = inMap ? selfLoggedIn(state, v) : selfLoggedOut(state, v);
  st.Health = healthOf(state);
  st.MagicDNSSuffix = inMap ? magicDnsSuffix(state) : "";
  st.CurrentTailnet = inMap
    ? { Name: o.tailnet, MagicDNSSuffix: magicDnsSuffix(state), MagicDNSEnabled: o.magicDns }
    : null;
  st.CertDomains = inMap && o.https ? [o.dnsName] : null;
  if (atLeast(v, "1.100")) st.ExtraRecords = null;
  st.Peer = inMap && peers ? peer(state, v) : null;
  st.User = inMap
    ? {
      [String(NODE.userId)]: {
        ID: NODE.userId,
        LoginName: o.tailnet.includes("@") ? o.tailnet : `alice@${o.tailnet}`,
        DisplayName: "Alice Example",
        ProfilePicURL: "https://lh3.googleusercontent.com/a/example",
      },
    }
    : null;
  st.ClientVersion = null;
  return st;
}

function healthOf(state: DoubleState): string[] {
  const h: string[] = [];
  if (state.options.backendState === "NeedsLogin") h.push("You are logged out.");
  if (
    atLeast(daemonVersion(state), "1.100") && state.options.https &&
    Object.keys(state.serve.TCP ?? {}).length > 0 && !state.options.publicDnsReady
  ) {
    h.push(`Fetching TLS certificate via ACME for: ${state.options.dnsName}`);
  }
  return h;
}

/** `isRunningOrStarting`: the description and whether the node is usable. */
export function runningDescription(state: DoubleState): [string, boolean] {
  switch (state.options.backendState) {
    case "Running":
      return ["Running", true];
    case "Starting":
      return ["Starting", true];
    case "Stopped":
      return ["Tailscale is stopped.", false];
    case "NeedsLogin":
      return [
        "Logged out." + (state.authUrl ? `\nLog in at: ${state.authUrl}` : ""),
        false,
      ];
    case "NeedsMachineAuth":
      return ["Machine is not yet approved by tailnet admin.", false];
    default:
      return [`unexpected state: ${state.options.backendState}`, false];
  }
}

/** Plain `tailscale status` table rows (self then peers), tabwriter-aligned. */
export function statusTable(state: DoubleState): string {
  const login = "alice@";
  const rows = [
    [NODE.ipv4, state.hostname, login, state.options.os, "-"],
    ["127.0.0.2", "alice-iphone", login, "iOS", "-"],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] + 2)).join("").trimEnd() + "  \n")
    .join("");
}
