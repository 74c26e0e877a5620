/**
 * `tailscale serve|funnel` of the double, following `runServeCombined` in
 * `cmd/tailscale/cli/serve_v2.go` (v1.90.8) step by step, with the version
 * differences that matter (1.52 syntax, 1.86 texts, 1.90 prompts, 1.92
 * daemon-side validation).
 *
 * @module
 */

import { CliError, err, Exit, out, parseFlags, uintValue } from "./cli_io.ts";
import {
  type Ctx,
  DaemonDown,
  endSession,
  EtagMismatch,
  localApi,
  setServeConfig,
} from "./daemon_api.ts";
import {
  canonical,
  cleanUrlPath,
  expandProxyTarget,
  findConfig,
  handlerTypeAndDesc,
  hostPort,
  type HttpHandler,
  isServingWeb,
  isTcpForwardingOnPort,
  mountsByLength,
  pad,
  removeWebHandler,
  type ServeConfig,
  type ServeType,
  serveTypeOf,
  setFunnel,
  setTcpForwarding,
  setWebHandler,
} from "./serve_config.ts";
import { printServeStatus } from "./serve_status.ts";
import { type DoubleState, readState, sleep } from "./state.ts";
import { NODE, runningDescription } from "./status_json.ts";
import { atLeast } from "./version_info.ts";

type Mode = "serve" | "funnel";

const helpErr = (mode: Mode) => new CliError(`try \`tailscale ${mode} --help\` for usage info`);

function usage(mode: Mode): string {
  return `USAGE
  tailscale ${mode} <target>
  tailscale ${mode} status [--json]
  tailscale ${mode} reset

(usage text abbreviated by the test double)
`;
}

/** Entry point for `tailscale serve …` / `tailscale funnel …`. */
export async function runServeCommand(ctx: Ctx, mode: Mode, argv: string[]): Promise<void> {
  const version = (await readState(ctx.dir)).options.version;
  if (!atLeast(version, "1.52")) return runLegacy(ctx, mode, argv);
  const specs: Record<string, { kind: "bool" | "string" | "uint" }> = {
    bg: { kind: "bool" },
    "set-path": { kind: "string" },
    https: { kind: "uint" },
    tcp: { kind: "uint" },
    "tls-terminated-tcp": { kind: "uint" },
    service: { kind: "string" },
    yes: { kind: "bool" },
    tun: { kind: "bool" },
  };
  if (mode === "serve") specs.http = { kind: "uint" };
  const { values: flags, args } = parseFlags(argv, specs, usage(mode));
  if (args[0] === "status") {
    const sub = parseFlags(args.slice(1), { json: { kind: "bool" } }, usage(mode));
    return await printServeStatus(ctx, sub.values.json === true);
  }
  if (args[0] === "reset") {
    const sub = parseFlags(args.slice(1), {}, usage(mode));
    if (sub.args.length) {
      err(usage(mode));
      return;
    }
    return await serveReset(ctx);
  }
  if (args.length === 1 && args[0] === "set-raw") return await setRaw(ctx);
  if (flags.service !== undefined || flags.tun === true) {
    throw new CliError("tailscale double: --service/--tun (Tailscale Services) are not modelled");
  }
  validateArgs(mode, args);
  const bg = flags.bg === true;
  if (mode === "funnel") await verifyFunnelEnabled(ctx, 443);

  const mount = cleanUrlPath(typeof flags["set-path"] === "string" ? flags["set-path"] : "");
  const [srvType, srvPort] = typeAndPort(mode, flags);

  let sc: ServeConfig;
  try {
    sc = structuredClone((await localApi(ctx, "/localapi/v0/serve-config")).serve);
  } catch (e) {
    if (e instanceof DaemonDown) {
      throw new CliError(`error getting serve config: getting serve config: ${e.message}`);
    }
    throw e;
  }
  const readConfig = structuredClone(sc);
  const st = await statusWithoutPeers(ctx, "getting client status: ");
  const dnsName = st.options.dnsName;
  const turnOff = args[args.length - 1] === "off";
  if (!turnOff && srvType === "https") {
    try {
      await enableFeatureInteractive(ctx, "serve", ["https"]);
    } catch (e) {
      if (e instanceof Exit) throw e;
      throw new CliError(`error enabling https feature: ${(e as Error).message}`);
    }
  }

  const parent = sc;
  const daemonValidates = atLeast(st.options.version, "1.92");
  const wantFg = !bg && !turnOff;
  let session: { id: string; pid: number } | undefined;
  let target = sc;
  if (wantFg) {
    if (!daemonValidates) validateConfig(mode, parent, srvPort, srvType, bg, st.options.version);
    session = { id: sessionId(), pid: Deno.pid };
    const fsc: ServeConfig = {};
    parent.Foreground ??= {};
    parent.Foreground[session.id] = fsc;
    target = fsc;
  }

  let msg = "";
  try {
    if (turnOff) {
      await unsetServe(ctx, target, dnsName, srvType, srvPort, mount, flags, st);
    } else {
      if (!daemonValidates) validateConfig(mode, parent, srvPort, srvType, bg, st.options.version);
      setServe(target, dnsName, srvType, srvPort, mount, args[0], mode === "funnel", st);
      msg = messageForPort(mode, target, dnsName, srvType, srvPort, bg);
    }
  } catch (e) {
    if (!(e instanceof ServeError)) throw e;
    err(`error: ${e.message}\n\n`);
    throw helpErr(mode);
  }

  try {
    await setServeConfig(ctx, parent, readConfig, session);
  } catch (e) {
    if (e instanceof EtagMismatch) {
      err("Another client is changing the serve config; please try again.\n");
    }
    throw e;
  }
  if (msg) out(msg + "\n");
  if (session) await holdForeground(ctx, session.id);
}

/** An error from the set/unset step: printed as `error: …` plus the help line. */
class ServeError extends Error {}

function validateArgs(mode: Mode, args: string[]): void {
  const translation = legacyTranslation(mode, args);
  if (translation !== undefined) {
    err("Error: the CLI for serve and funnel has changed.");
    if (translation) err(` You can run the following command instead:\n\t- ${translation}\n`);
    err("\nPlease see https://tailscale.com/kb/1242/tailscale-serve for more information.\n");
    throw helpErr(mode);
  }
  if (args.length === 0) {
    err(usage(mode));
    throw new Exit(0);
  }
  if (args.length > 2) {
    err(`Error: invalid number of arguments (${args.length})\n`);
    throw helpErr(mode);
  }
  if (args.length === 2 && args[1] !== "off") {
    err("Error: invalid argument format\n");
    throw helpErr(mode);
  }
}

/** `isLegacyInvocation`: undefined when not legacy, else the suggested command ("" = none). */
export function legacyTranslation(mode: Mode, args: string[]): string | undefined {
  if (mode === "funnel") {
    if (args.length !== 2) return undefined;
    const isPort = /^\d+$/.test(args[0]) && Number(args[0]) <= 65535;
    return isPort && (args[1] === "on" || args[1] === "off") ? "" : undefined;
  }
  const turnOff = args.length > 1 && args[args.length - 1] === "off";
  if (turnOff) args = args.slice(0, -1);
  if (args.length === 0) return undefined;
  const colon = args[0].indexOf(":");
  let srcType = colon >= 0 ? args[0].slice(0, colon) : args[0];
  let srcPort = colon >= 0 ? args[0].slice(colon + 1) : "";
  if (colon < 0) {
    if (srcType === "https") srcPort = "443";
    else if (srcType === "http") srcPort = "80";
    else return undefined;
  }
  srcType = srcType.toString();
  let wantLength: number;
  if (srcType === "https" || srcType === "http") wantLength = 3;
  else if (srcType === "tcp" || srcType === "tls-terminated-tcp") wantLength = 2;
  else return undefined;
  if (args.length !== wantLength && !(turnOff && args.length === wantLength - 1)) return undefined;
  const cmd = ["tailscale", "serve", "--bg"];
  if (srcType === "https" && srcPort !== "443") cmd.push(`--https ${srcPort}`);
  if (srcType === "http") cmd.push(`--http ${srcPort}`);
  if (srcType === "tcp" || srcType === "tls-terminated-tcp") cmd.push(`--${srcType} ${srcPort}`);
  if (srcType === "https" || srcType === "http") {
    const m = args[1];
    if (!m.startsWith("/")) return undefined; // cleanMountPoint fails
    if (m !== "/") cmd.push("--set-path " + m);
  }
  if (!turnOff || args.length === wantLength) {
    let dest = args[args.length - 1];
    if (dest.includes(" ")) dest = JSON.stringify(dest);
    cmd.push(dest);
  }
  if (turnOff) cmd.push("off");
  return cmd.join(" ");
}

function typeAndPort(mode: Mode, flags: Record<string, string | boolean>): [ServeType, number] {
  const sources: [ServeType, number][] = [
    ["http", uintValue(flags.http)],
    ["https", uintValue(flags.https)],
    ["tcp", uintValue(flags.tcp)],
    ["tls-terminated-tcp", uintValue(flags["tls-terminated-tcp"])],
  ];
  const set = sources.filter(([, p]) => p !== 0);
  for (const [, p] of set) {
    if (p > 65535) {
      err(`error: port number ${p} is too high for https flag\n\n`);
      throw helpErr(mode);
    }
  }
  if (set.length > 1) {
    err("error: cannot serve multiple types for a single mount point\n\n");
    throw helpErr(mode);
  }
  return set.length ? set[0] : ["https", 443];
}

/** `getLocalClientStatusWithoutPeers`: exits 1 with the state line unless Running/Starting. */
async function statusWithoutPeers(ctx: Ctx, prefix: string): Promise<DoubleState> {
  let state: DoubleState;
  try {
    state = await localApi(ctx, "/localapi/v0/status");
  } catch (e) {
    if (e instanceof DaemonDown) throw new CliError(prefix + e.fixed);
    throw e;
  }
  const [description, ok] = runningDescription(state);
  if (!ok) {
    err(description + "\n");
    throw new Exit(1);
  }
  return state;
}

function hasCaps(state: DoubleState, caps: string[]): boolean {
  return caps.every((c) => (c === "https" ? state.options.https : state.options.funnelAttr));
}

/** `enableFeatureInteractive`: the consent text/URL on stdout, then exit 0 or wait. */
async function enableFeatureInteractive(ctx: Ctx, feature: Mode, caps: string[]): Promise<void> {
  const st = await statusWithoutPeers(ctx, "getting client status: ");
  if (hasCaps(st, caps)) return;
  if (st.options.featureQueryFails) {
    throw new Error("500 Internal Server Error: query feature: not supported by control server");
  }
  const name = feature === "funnel" ? "Funnel" : "Serve";
  const text = st.options.featureNoPermission
    ? "You don't have permission to enable this feature."
    : `${name} is not enabled on your tailnet.\nTo enable, visit:`;
  const url = st.options.featureNoPermission
    ? ""
    : `https://login.tailscale.com/f/${feature}?node=${NODE.id}`;
  out("\n" + text + "\n");
  if (url) out("\n         " + url + "\n\n");
  if (!st.options.funnelEnableWaits || st.options.featureNoPermission) throw new Exit(0);
  const onInt = () => {
    const now = new Date();
    const p = (n: number) => String(n).padStart(2, "0");
    const stamp = `${now.getFullYear()}/${p(now.getMonth() + 1)}/${p(now.getDate())} ${
      p(now.getHours())
    }:${p(now.getMinutes())}:${p(now.getSeconds())}`;
    err(`${stamp} lost connection to tailscaled: context canceled\n`);
    Deno.exit(1);
  };
  Deno.addSignalListener("SIGINT", onInt);
  try {
    while (true) {
      await sleep(100);
      const state = await readState(ctx.dir);
      if (hasCaps(state, caps)) break;
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
  }
  out("Success.\n");
}

/** `verifyFunnelEnabled(443)`: the capability and port check of every funnel command. */
async function verifyFunnelEnabled(ctx: Ctx, port: number): Promise<void> {
  let enableErr: unknown;
  try {
    await enableFeatureInteractive(ctx, "funnel", ["https", "funnel"]);
  } catch (e) {
    if (e instanceof Exit) throw e;
    enableErr = e;
  }
  const st = await statusWithoutPeers(ctx, "getting client status: ");
  if (enableErr) {
    if (!st.options.https) {
      throw new CliError(
        "Funnel not available; HTTPS must be enabled. See https://tailscale.com/s/https.",
      );
    }
    if (!st.options.funnelAttr) {
      throw new CliError(
        'Funnel not available; "funnel" node attribute not set. See https://tailscale.com/s/no-funnel.',
      );
    }
  }
  const ports = st.options.funnelPorts;
  if (!ports.length) throw new CliError(`port ${port} is not allowed for funnel`);
  if (!ports.includes(port)) {
    throw new CliError(
      `port ${port} is not allowed for funnel; allowed ports are: ${ports.join(",")}`,
    );
  }
}

const BG_EXISTS =
  "background configuration already exists, use `tailscale %s --%s=%d off` to remove the existing configuration";

/** `validateConfig` (CLI side, 1.52–1.91). */
function validateConfig(
  mode: Mode,
  sc: ServeConfig,
  port: number,
  want: ServeType,
  bg: boolean,
  version: string,
): void {
  const found = findConfig(sc, port);
  if (!found) return;
  if (found.foreground) throw new CliError("foreground already exists under this port");
  if (!bg) {
    throw new CliError(
      BG_EXISTS.replace("%s", mode).replace("%s", want).replace("%d", String(port)),
    );
  }
  const have = serveTypeOf(found.config.TCP?.[String(port)]);
  if (have !== want) {
    throw new CliError(
      atLeast(version, "1.86")
        ? `want to serve "${want}" but port is already serving "${have}" for "machine"`
        : `want "${want}" but port is already serving "${have}"`,
    );
  }
}

function setServe(
  sc: ServeConfig,
  dnsName: string,
  type: ServeType,
  port: number,
  mount: string,
  target: string,
  allowFunnel: boolean,
  st: DoubleState,
): void {
  if (type === "https" || type === "http") {
    try {
      applyWebServe(sc, dnsName, port, type === "https", mount, target, st);
    } catch (e) {
      throw new ServeError(`failed apply web serve: ${(e as Error).message}`);
    }
  } else {
    if (mount !== "/") throw new ServeError("cannot mount a path for TCP serve");
    let url: string;
    try {
      url = expandProxyTarget(target, ["tcp"], "tcp", atLeast(st.options.version, "1.92"));
    } catch (e) {
      throw new ServeError(
        `failed to apply TCP serve: unable to expand target: ${(e as Error).message}`,
      );
    }
    if (isServingWeb(sc, port)) {
      throw new ServeError(
        `failed to apply TCP serve: cannot serve TCP; already serving web on ${port} for ${dnsName}`,
      );
    }
    setTcpForwarding(
      sc,
      port,
      url.replace(/^tcp:\/\//, "").replace(/\/.*$/, ""),
      type === "tls-terminated-tcp",
      dnsName,
    );
  }
  const hp = hostPort(dnsName, port);
  if (sc.AllowFunnel && hp in sc.AllowFunnel && !allowFunnel) {
    err(`Removing Funnel for ${dnsName}:${hp}\n`);
  }
  setFunnel(sc, dnsName, port, allowFunnel);
}

function applyWebServe(
  sc: ServeConfig,
  dnsName: string,
  port: number,
  useTLS: boolean,
  mount: string,
  target: string,
  st: DoubleState,
): void {
  const h: HttpHandler = {};
  if (target.startsWith("text:")) {
    const text = target.slice(5);
    if (!text) throw new Error("unable to serve; text cannot be an empty string");
    h.Text = text;
  } else if (target.startsWith("/")) {
    if (st.options.os === "macOS" && st.options.macVariant !== "darwin") {
      throw new Error(
        "Path serving is not supported on macOS due to sandbox restrictions. To use Tailscale Serve on macOS, switch to the open-source tailscaled distribution. See https://tailscale.com/kb/1065/macos-variants for more information.",
      );
    }
    let isDir: boolean;
    try {
      isDir = Deno.statSync(target).isDirectory;
    } catch {
      throw new Error("invalid path");
    }
    if (isDir && !mount.endsWith("/")) mount += "/";
    h.Path = target.replace(/\/+$/, "") || "/";
  } else {
    h.Proxy = expandProxyTarget(
      target,
      ["http", "https", "https+insecure"],
      "http",
      atLeast(st.options.version, "1.92"),
    );
  }
  if (isTcpForwardingOnPort(sc, port)) throw new Error("cannot serve web; already serving TCP");
  setWebHandler(sc, h, dnsName, port, mount, useTLS);
}

async function unsetServe(
  ctx: Ctx,
  sc: ServeConfig,
  dnsName: string,
  type: ServeType,
  port: number,
  mount: string,
  flags: Record<string, string | boolean>,
  st: DoubleState,
): Promise<void> {
  if (type === "tcp" || type === "tls-terminated-tcp") {
    const h = sc.TCP?.[String(port)];
    if (!h) throw new ServeError("failed to remove TCP serve: serve config does not exist");
    if (isServingWeb(sc, port)) {
      throw new ServeError(
        `failed to remove TCP serve: unable to remove; serving web, not TCP forwarding on serve port ${port}`,
      );
    }
    delete sc.TCP![String(port)];
    if (Object.keys(sc.TCP!).length === 0) delete sc.TCP;
    setFunnel(sc, dnsName, port, false);
    return;
  }
  const hp = hostPort(dnsName, port);
  if (isTcpForwardingOnPort(sc, port)) {
    throw new ServeError(
      "failed to remove web serve: cannot remove web handler; currently serving TCP",
    );
  }
  const handlers = sc.Web?.[hp]?.Handlers ?? {};
  const setPath = typeof flags["set-path"] === "string" && flags["set-path"] !== "";
  const mounts = setPath ? (mount in handlers ? [mount] : []) : Object.keys(handlers);
  if (mounts.length === 0) {
    throw new ServeError("failed to remove web serve: handler does not exist");
  }
  if (mounts.length > 1 && flags.yes !== true) {
    const question =
      `Are you sure you want to delete ${mounts.length} handlers under port ${port}?`;
    if (!(await promptYesNo(ctx, question, st.options.version))) return;
  }
  removeWebHandler(sc, dnsName, port, mounts);
}

/** `prompt.YesNo`: 1.90+ takes the default (yes) without a TTY; before, it always asks. */
async function promptYesNo(_ctx: Ctx, question: string, version: string): Promise<boolean> {
  if (atLeast(version, "1.90")) {
    if (!(Deno.stdin.isTerminal() && Deno.stdout.isTerminal())) return true;
    out(question + " [Y/n] ");
    const answer = (await readLine()).toLowerCase();
    return answer === "" || ["y", "yes", "sure"].includes(answer);
  }
  out(question + " [y/n] ");
  return ["y", "yes", "sure"].includes((await readLine()).toLowerCase());
}

async function readLine(): Promise<string> {
  const buf = new Uint8Array(1);
  const bytes: number[] = [];
  while (true) {
    const n = await Deno.stdin.read(buf);
    if (n === null || buf[0] === 10) break;
    bytes.push(buf[0]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes)).trim();
}

/** `messageForPort`: the success block. */
export function messageForPort(
  mode: Mode,
  sc: ServeConfig,
  dnsName: string,
  type: ServeType,
  port: number,
  bg: boolean,
): string {
  const hp = hostPort(dnsName, port);
  const scheme = sc.TCP?.[String(port)]?.HTTP ? "http" : "https";
  const portPart = (scheme === "http" && port === 80) || (scheme === "https" && port === 443)
    ? ""
    : `:${port}`;
  let o = sc.AllowFunnel?.[hp] ? "Available on the internet:" : "Available within your tailnet:";
  o += "\n\n";
  const web = sc.Web?.[hp];
  const tcp = sc.TCP?.[String(port)];
  if (web) {
    for (const m of mountsByLength(web.Handlers)) {
      const [t, d] = handlerTypeAndDesc(web.Handlers[m]);
      o += `${scheme}://${dnsName}${portPart}${m}\n`;
      o += `|-- ${pad(t, 5)} ${d}\n\n`;
    }
  } else if (tcp) {
    const tls = tcp.TerminateTLS ? "TLS terminated" : "TLS over TCP";
    o += `|-- tcp://${dnsName}:${port} (${tls})\n`;
    for (const ip of [NODE.ipv4, `[${NODE.ipv6}]`]) o += `|-- tcp://${ip}:${port}\n`;
    o += `|--> tcp://${tcp.TCPForward}\n\n`;
  }
  if (!bg) return o + "Press Ctrl+C to exit.";
  const upper = mode[0].toUpperCase() + mode.slice(1);
  o += `${upper} started and running in the background.\n`;
  o += `To disable the proxy, run: tailscale ${mode} --${type}=${port} off`;
  return o;
}

function sessionId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Foreground mode: keep running until Ctrl+C/SIGTERM or the daemon drops the session. */
async function holdForeground(ctx: Ctx, id: string): Promise<void> {
  let stop: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => (stop = resolve));
  const onInt = () => stop(0);
  const onTerm = () => stop(143);
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  let done = false;
  const watch = (async () => {
    while (!done) {
      await sleep(150);
      const state = await readState(ctx.dir).catch(() => undefined);
      if (!state || !state.serve.Foreground?.[id]) stop(0);
    }
  })();
  const code = await stopped;
  done = true;
  await watch;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  await endSession(ctx.dir, id).catch(() => {});
  if (code !== 0) throw new Exit(code);
}

async function serveReset(ctx: Ctx): Promise<void> {
  await setServeConfig(ctx, {}, undefined);
}

async function setRaw(ctx: Ctx): Promise<void> {
  const text = await new Response(Deno.stdin.readable).text();
  let sc: ServeConfig;
  try {
    sc = JSON.parse(text);
  } catch (e) {
    throw new CliError(`invalid JSON: ${(e as Error).message}`);
  }
  await setServeConfig(ctx, canonical(sc), undefined);
}

/** Before 1.52: only `status` and `reset` are modelled; new-style flags are unknown. */
async function runLegacy(ctx: Ctx, mode: Mode, argv: string[]): Promise<void> {
  const { args } = parseFlags(argv, {}, usage(mode));
  if (args[0] === "status") {
    const sub = parseFlags(args.slice(1), { json: { kind: "bool" } }, usage(mode));
    return await printServeStatus(ctx, sub.values.json === true);
  }
  if (args[0] === "reset" && mode === "serve") return await serveReset(ctx);
  throw new CliError(
    "tailscale double: the pre-1.52 serve/funnel syntax is not modelled beyond status/reset",
  );
}
