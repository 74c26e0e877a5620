/**
 * `tailscale serve|funnel status [--json]` of the double (`runServeStatus`,
 * `printFunnelStatus`, `printWebStatusTree`, `printFunnelWarning` in
 * `serve_legacy.go` / `funnel.go`).
 *
 * @module
 */

import { CliError, err, Exit, goJson, out } from "./cli_io.ts";
import { type Ctx, DaemonDown, localApi } from "./daemon_api.ts";
import {
  canonical,
  handlerTypeAndDesc,
  isTcpForwardingOnPort,
  mountsByLength,
  pad,
  type ServeConfig,
} from "./serve_config.ts";
import { NODE, runningDescription } from "./status_json.ts";

/** Prints the serve config as JSON (2-space + newline, `{}` when empty) or as text. */
export async function printServeStatus(ctx: Ctx, json: boolean): Promise<void> {
  let sc: ServeConfig;
  try {
    sc = canonical((await localApi(ctx, "/localapi/v0/serve-config")).serve);
  } catch (e) {
    if (e instanceof DaemonDown) throw new CliError(`getting serve config: ${e.message}`);
    throw e;
  }
  if (json) {
    out(goJson(sc, "  ") + "\n");
    return;
  }
  out(funnelStatusText(sc));
  if (!sc.TCP && !sc.Web && !sc.AllowFunnel) {
    out("No serve config\n");
    return;
  }
  const st = await localApi(ctx, "/localapi/v0/status");
  const [description, ok] = runningDescription(st);
  if (!ok) {
    err(description + "\n");
    throw new Exit(1);
  }
  const dnsName = st.options.dnsName;
  let text = "";
  const tcpForwards = Object.entries(sc.TCP ?? {}).filter(([, h]) => h.TCPForward);
  if (tcpForwards.length) {
    for (const [port, h] of tcpForwards) {
      const hp = `${dnsName}:${port}`;
      const tls = h.TerminateTLS ? "TLS terminated" : "TLS over TCP";
      const f = sc.AllowFunnel?.[hp] ? "Funnel on" : "tailnet only";
      text += `|-- tcp://${hp} (${tls}, ${f})\n`;
      for (const ip of [NODE.ipv4, `[${NODE.ipv6}]`]) text += `|-- tcp://${ip}:${port}\n`;
      text += `|--> tcp://${h.TCPForward}\n`;
    }
    text += "\n";
  }
  for (const hp of Object.keys(sc.Web ?? {})) {
    text += webTree(sc, hp) + "\n";
  }
  out(text);
  err(funnelWarning(sc));
}

/** `printFunnelStatus`: the `# Funnel on:` block (top-level AllowFunnel only). */
export function funnelStatusText(sc: ServeConfig): string {
  const anyOn = Object.values(sc.AllowFunnel ?? {}).some(Boolean) ||
    Object.values(sc.Foreground ?? {}).some((f) =>
      Object.values(f.AllowFunnel ?? {}).some(Boolean)
    );
  if (!anyOn) return "";
  let text = "\n# Funnel on:\n";
  for (const [hp, on] of Object.entries(sc.AllowFunnel ?? {})) {
    if (!on) continue;
    const i = hp.lastIndexOf(":");
    const [sni, port] = [hp.slice(0, i), hp.slice(i + 1)];
    const tcp = isTcpForwardingOnPort(sc, Number(port));
    let url = (tcp ? "tcp://" : "https://") + sni;
    if (tcp || port !== "443") url += ":" + port;
    text += `#     - ${url}\n`;
  }
  return text + "\n";
}

function webTree(sc: ServeConfig, hp: string): string {
  const f = sc.AllowFunnel?.[hp] ? "Funnel on" : "tailnet only";
  const i = hp.lastIndexOf(":");
  const [host, portStr] = [hp.slice(0, i), hp.slice(i + 1)];
  const scheme = sc.TCP?.[portStr]?.HTTP ? "http" : "https";
  const portPart = (scheme === "http" && portStr === "80") ||
      (scheme === "https" && portStr === "443")
    ? ""
    : ":" + portStr;
  let text = "";
  if (scheme === "http") text += `${scheme}://${host.split(".")[0]}${portPart} (${f})\n`;
  text += `${scheme}://${host}${portPart} (${f})\n`;
  const handlers = sc.Web![hp].Handlers;
  const mounts = mountsByLength(handlers);
  const maxLen = mounts.length ? mounts[mounts.length - 1].length : 0;
  for (const m of mounts) {
    const [t, d] = handlerTypeAndDesc(handlers[m]);
    text += `|-- ${m}${" ".repeat(maxLen - m.length)} ${pad(t, 5)} ${d}\n`;
  }
  return text;
}

/** `printFunnelWarning`: funnel flags without a TCP handler for their port. */
export function funnelWarning(sc: ServeConfig): string {
  let text = "";
  for (const [hp, on] of Object.entries(sc.AllowFunnel ?? {})) {
    if (!on) continue;
    const port = hp.slice(hp.lastIndexOf(":") + 1);
    if (!sc.TCP?.[port]) text += `\nWarning: funnel=on for ${hp}, but no serve config\n`;
  }
  if (text) text += "         run: `tailscale serve --help` to see how to configure handlers\n";
  return text;
}
