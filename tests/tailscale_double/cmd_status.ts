/**
 * `tailscale version` and `tailscale status` of the double.
 *
 * @module
 */

import { CliError, Exit, goJson, out, parseFlags } from "./cli_io.ts";
import { type Ctx, DaemonDown, localApi } from "./daemon_api.ts";
import { funnelStatusText } from "./serve_status.ts";
import { canonical } from "./serve_config.ts";
import { readState } from "./state.ts";
import { daemonVersion, runningDescription, statusObject, statusTable } from "./status_json.ts";
import { longVersion, tabJson, versionJson, versionText } from "./version_info.ts";

/** `tailscale version [--json] [--daemon]`. */
export async function runVersion(ctx: Ctx, argv: string[]): Promise<void> {
  const { values, args } = parseFlags(argv, {
    daemon: { kind: "bool" },
    json: { kind: "bool" },
    upstream: { kind: "bool" },
  }, "USAGE\n  tailscale version [flags]\n");
  if (args.length) {
    throw new CliError(
      `too many non-flag arguments: [${args.map((a) => JSON.stringify(a)).join(" ")}]`,
    );
  }
  let state = await readState(ctx.dir);
  let daemonLong: string | undefined;
  if (values.daemon === true) {
    state = await localApi(ctx, "/localapi/v0/status");
    daemonLong = longVersion(daemonVersion(state));
  }
  const o = state.options;
  if (values.json === true) {
    out(
      tabJson(versionJson(o.version, o.os, o.macVariant, daemonLong)).replace(
        /[<>&]/g,
        (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
      ),
    );
    return;
  }
  if (daemonLong) {
    out(`Client: ${versionText(o.version)}\nDaemon: ${daemonLong}\n`);
    return;
  }
  out(versionText(o.version) + "\n");
}

/** `tailscale status [--json] [--peers=false]`. */
export async function runStatus(ctx: Ctx, argv: string[]): Promise<void> {
  const { values, args } = parseFlags(argv, {
    json: { kind: "bool" },
    peers: { kind: "bool" },
    active: { kind: "bool" },
    self: { kind: "bool" },
    header: { kind: "bool" },
    web: { kind: "bool" },
    browser: { kind: "bool" },
    listen: { kind: "string" },
  }, "USAGE\n  tailscale status [flags]\n");
  if (args.length) throw new CliError("unexpected non-flag arguments to 'tailscale status'");
  let state;
  try {
    state = await localApi(ctx, "/localapi/v0/status");
  } catch (e) {
    if (e instanceof DaemonDown) throw new CliError(e.fixed);
    throw e;
  }
  const peers = values.peers !== false;
  if (values.json === true) {
    out(goJson(statusObject(state, peers), "  "));
    return;
  }
  const [description, ok] = runningDescription(state);
  if (!ok) {
    out(description + "\n");
    throw new Exit(1);
  }
  let text = statusTable(state);
  if (state.options.backendState !== "Running") text = "";
  out(text + funnelStatusText(canonical(state.serve)));
}
