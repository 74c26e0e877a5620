/**
 * `tailscale up|login|logout|set|down` of the double (`cmd/tailscale/cli/
 * up.go`, `login.go`, `logout.go`, `set.go`): the login URL block on stderr,
 * blocking until the login is approved, auth keys, device approval,
 * `--timeout`, `--json`, and the access-denied texts.
 *
 * @module
 */

import {
  accessDenied,
  CliError,
  err,
  Exit,
  goJson,
  out,
  parseFlags,
  parseGoDuration,
} from "./cli_io.ts";
import { canWrite, type Ctx, DaemonDown, editPrefs, localApi } from "./daemon_api.ts";
import { type DoubleState, readState, sleep, updateState } from "./state.ts";
import { loggedIn } from "./status_json.ts";

/** `accidentalUpPrefix` in `cmd/tailscale/cli/up.go` (v1.90.8). */
export const ACCIDENTAL_UP_PREFIX =
  "Error: changing settings via 'tailscale up' requires mentioning all\n" +
  "non-default flags. To proceed, either re-run your command with --reset or\n" +
  "use the command below to explicitly mention the current value of\n" +
  "all non-default settings:\n\n" +
  "\ttailscale up";

/** Flags that are prefs (the rest — auth-key, timeout, json, qr, reset, force-reauth — are not). */
const PREF_FLAGS = [
  "accept-dns",
  "accept-routes",
  "advertise-tags",
  "hostname",
  "login-server",
  "operator",
  "shields-up",
  "ssh",
];
const PREF_DEFAULTS: Record<string, string | boolean> = {
  "accept-dns": true,
  "accept-routes": false,
  "advertise-tags": "",
  hostname: "",
  "login-server": "",
  operator: "",
  "shields-up": false,
  ssh: false,
};

function recordPrefs(
  s: DoubleState,
  flags: Record<string, string | boolean>,
  reset: boolean,
): void {
  if (reset) s.prefs = {};
  for (const name of PREF_FLAGS) {
    if (!(name in flags)) continue;
    if (flags[name] === PREF_DEFAULTS[name]) delete s.prefs[name];
    else s.prefs[name] = flags[name];
  }
}

function flagText(name: string, value: string | boolean): string {
  if (value === true) return ` --${name}`;
  if (value === false) return ` --${name}=false`;
  return ` --${name}=${/^[\w.@:/=,-]+$/.test(value) ? value : `'${value}'`}`;
}

/**
 * `checkForAccidentalSettingReverts`: the suggested flags (sorted, current
 * values, this run's flags winning) when a non-default pref is not mentioned;
 * `undefined` when the run may go ahead.
 */
export function accidentalRevert(
  prefs: Record<string, string | boolean>,
  flags: Record<string, string | boolean>,
): string | undefined {
  const missing = Object.keys(prefs).filter((name) => !(name in flags));
  if (missing.length === 0) return undefined;
  const merged: Record<string, string | boolean> = { ...prefs };
  for (const name of PREF_FLAGS) if (name in flags) merged[name] = flags[name];
  return Object.keys(merged).sort().map((name) => flagText(name, merged[name])).join("");
}

const UP_USAGE = `USAGE
  tailscale up [flags]

(usage text abbreviated by the test double)
`;

const UP_FLAGS = {
  "auth-key": { kind: "string" },
  hostname: { kind: "string" },
  operator: { kind: "string" },
  timeout: { kind: "duration" },
  json: { kind: "bool" },
  qr: { kind: "bool" },
  reset: { kind: "bool" },
  "force-reauth": { kind: "bool" },
  "login-server": { kind: "string" },
  "accept-routes": { kind: "bool" },
  "accept-dns": { kind: "bool" },
  ssh: { kind: "bool" },
  "advertise-tags": { kind: "string" },
  "shields-up": { kind: "bool" },
} as const;

function newAuthUrl(): string {
  const b = crypto.getRandomValues(new Uint8Array(7));
  return "https://login.tailscale.com/a/" + Array.from(b, (x) => x.toString(16).padStart(2, "0"))
    .join("");
}

/** `tailscale up` / `tailscale login`. */
export async function runUp(ctx: Ctx, cmd: "up" | "login", argv: string[]): Promise<void> {
  const specs: Record<string, { kind: "bool" | "string" | "uint" | "duration" }> = {
    ...UP_FLAGS,
  };
  if (cmd === "login") {
    delete specs.json;
    delete specs.reset;
    delete specs["force-reauth"];
    specs.nickname = { kind: "string" };
  }
  const { values: flags, args } = parseFlags(argv, specs, UP_USAGE.replace("up", cmd));
  if (args.length) {
    err(`too many non-flag arguments: ${goQuoteList(args)}\n`);
    throw new Exit(1);
  }
  const json = flags.json === true;
  let st: DoubleState;
  try {
    st = await localApi(ctx, "/localapi/v0/status");
  } catch (e) {
    if (e instanceof DaemonDown) throw new CliError(e.fixed);
    throw e;
  }
  if (
    typeof flags.operator === "string" && st.options.os !== "linux" && st.options.os !== "macOS"
  ) {
    throw new CliError("--operator is only supported on Linux and macOS");
  }
  const timeoutMs = typeof flags.timeout === "string" ? parseGoDuration(flags.timeout)! : 0;
  const needsLogin = cmd === "login" || flags["force-reauth"] === true ||
    st.options.backendState === "NeedsLogin" || st.options.backendState === "NoState";
  if (!canWrite(ctx, st)) {
    const what = cmd === "login"
      ? "profiles access denied"
      : needsLogin
      ? "checkprefs access denied"
      : "prefs write access denied";
    throw accessDenied("", what);
  }

  if (cmd === "up" && flags.reset !== true && loggedIn(st)) {
    const suggestion = accidentalRevert(st.prefs, flags);
    if (suggestion) {
      err(ACCIDENTAL_UP_PREFIX + suggestion + "\n");
      throw new Exit(1);
    }
  }

  let authKey = typeof flags["auth-key"] === "string" ? flags["auth-key"] : "";
  if (authKey.startsWith("file:")) {
    const file = authKey.slice(5);
    if (st.options.os === "macOS" && st.options.macVariant === "appstore") {
      // The App Store CLI's sandbox cannot open files outside its container (`upArgsT.getAuthKey`
      // returns os.ReadFile's error as is).
      throw new CliError(`open ${file}: operation not permitted`);
    }
    try {
      authKey = Deno.readTextFileSync(file).trim();
    } catch (e) {
      const reason = e instanceof Deno.errors.NotFound
        ? "no such file or directory"
        : e instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (e as Error).message;
      throw new CliError(`open ${file}: ${reason}`);
    }
  }

  // Apply the pref flags and start the backend (EditPrefs / Start).
  let printed = false;
  let lastUrl = "";
  const started = await updateState(ctx.dir, (s) => {
    if (typeof flags.hostname === "string") s.hostname = flags.hostname;
    if (typeof flags.operator === "string") s.operator = flags.operator;
    if (typeof flags["shields-up"] === "boolean") s.options.shieldsUp = flags["shields-up"];
    recordPrefs(s, flags, cmd === "up" && flags.reset === true);
    if (s.options.backendState === "Stopped" && !needsLogin) s.options.backendState = "Running";
    if (!needsLogin) return "running";
    if (authKey) {
      if (!s.options.validAuthKeys.includes(authKey)) return "badkey";
      s.authUrl = "";
      s.options.backendState = s.options.requireDeviceApproval ? "NeedsMachineAuth" : "Running";
      return "key";
    }
    if (cmd === "login" || s.options.backendState !== "NeedsLogin" || !s.authUrl) {
      s.authUrl = newAuthUrl();
    }
    s.options.backendState = "NeedsLogin";
    return "interactive";
  });
  if (started === "badkey") {
    err("backend error: invalid key: API key does not exist\n");
    throw new Exit(1);
  }

  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
  let cancelled = false;
  const onSignal = () => (cancelled = true);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    while (true) {
      const s = await readState(ctx.dir);
      const state = s.options.backendState;
      if (state === "Running") {
        if (json) out(goJson({ BackendState: "Running" }, "  ") + "\n");
        else if (printed) err("Success.\n");
        return;
      }
      if (state === "NeedsMachineAuth") {
        if (json) {
          if (lastUrl !== "machine-auth-json") {
            out(goJson({ BackendState: "NeedsMachineAuth" }, "  ") + "\n");
          }
          lastUrl = "machine-auth-json";
          printed = true;
        } else if (lastUrl !== "https://login.tailscale.com/admin") {
          lastUrl = "https://login.tailscale.com/admin";
          printed = true;
          err(`\nTo approve your machine, visit (as admin):\n\n\t${lastUrl}\n\n`);
        }
      } else if (state === "NeedsLogin" && s.authUrl && !authKey && s.authUrl !== lastUrl) {
        lastUrl = s.authUrl;
        printed = true;
        if (json) {
          out(
            goJson(
              {
                AuthURL: s.authUrl,
                QR: "data:image/png;base64," + FAKE_QR_PNG,
                BackendState: "NeedsLogin",
              },
              "\t",
            ) + "\n",
          );
        } else {
          err(`\nTo authenticate, visit:\n\n\t${s.authUrl}\n\n`);
        }
      }
      if (cancelled) throw new CliError("context canceled");
      if (Date.now() >= deadline) {
        throw new CliError(
          'timeout waiting for Tailscale service to enter a Running state; check health with "tailscale status"',
        );
      }
      await sleep(Math.max(1, Math.min(100, deadline - Date.now())));
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

/** A 1×1 PNG: the double does not draw real QR codes. */
const FAKE_QR_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

function goQuoteList(args: string[]): string {
  return "[" + args.map((a) => JSON.stringify(a)).join(" ") + "]";
}

/** `tailscale logout`. */
export async function runLogout(ctx: Ctx, argv: string[]): Promise<void> {
  const { args } = parseFlags(argv, { reason: { kind: "string" } }, "USAGE\n  tailscale logout\n");
  if (args.length) throw new CliError(`too many non-flag arguments: ${goQuoteList(args)}`);
  await prefsWrite(ctx, "/localapi/v0/logout", "logout access denied", (s) => {
    s.options.backendState = "NeedsLogin";
    s.authUrl = "";
  });
}

/** `tailscale down`. */
export async function runDown(ctx: Ctx, argv: string[]): Promise<void> {
  parseFlags(
    argv,
    { "accept-risk": { kind: "string" }, reason: { kind: "string" } },
    "USAGE\n  tailscale down\n",
  );
  let st: DoubleState;
  try {
    st = await localApi(ctx, "/localapi/v0/status");
  } catch (e) {
    if (e instanceof DaemonDown) throw new CliError(e.message);
    throw e;
  }
  if (st.options.backendState === "Stopped") {
    err("Tailscale was already stopped.\n");
    return;
  }
  await prefsWrite(ctx, "/localapi/v0/prefs", "prefs write access denied", (s) => {
    if (s.options.backendState === "Running") s.options.backendState = "Stopped";
  });
}

/** `tailscale set --operator=… --hostname=… --shields-up`. */
export async function runSet(ctx: Ctx, argv: string[]): Promise<void> {
  const { values: flags, args } = parseFlags(argv, {
    operator: { kind: "string" },
    hostname: { kind: "string" },
    "shields-up": { kind: "bool" },
    "accept-routes": { kind: "bool" },
    "accept-dns": { kind: "bool" },
    ssh: { kind: "bool" },
  }, "USAGE\n  tailscale set [flags]\n");
  if (args.length) {
    err(`too many non-flag arguments: ${goQuoteList(args)}\n`);
    throw new Exit(1);
  }
  try {
    await localApi(ctx, "/localapi/v0/status");
  } catch (e) {
    if (e instanceof DaemonDown) throw new CliError(e.message);
    throw e;
  }
  await prefsWrite(ctx, "/localapi/v0/prefs", "prefs write access denied", (s) => {
    if (typeof flags.operator === "string") {
      s.operator = flags.operator;
      // The named user may now write without sudo (the double's caller is that user).
      if (flags.operator !== "") s.options.operatorOk = true;
    }
    if (typeof flags.hostname === "string") s.hostname = flags.hostname;
    if (typeof flags["shields-up"] === "boolean") s.options.shieldsUp = flags["shields-up"];
    recordPrefs(s, flags, false);
  });
}

async function prefsWrite(
  ctx: Ctx,
  path: string,
  denied: string,
  fn: (s: DoubleState) => void,
): Promise<void> {
  try {
    await editPrefs(ctx, path, denied, fn);
  } catch (e) {
    if (e instanceof DaemonDown) throw new CliError(e.message);
    throw e;
  }
}
