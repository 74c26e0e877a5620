/**
 * Recognises the tailscale CLI's failure texts (daemon not running, access
 * denied, Funnel not enabled, shields-up, foreground listener, etag race, …)
 * and turns them into ecto's typed errors with the fix. Pure.
 *
 * @module
 */
import { ActionRequiredError, EctoError, type EctoErrorOptions } from "../core/errors.ts";
import type { TailscaleVariant } from "./version.ts";

/** The app-bundle CLI (Standalone and App Store). */
const APP_CLI = "/Applications/Tailscale.app/Contents/MacOS/Tailscale";
/** Quits and reopens the macOS app. */
const RELAUNCH_APP = `osascript -e 'quit app "Tailscale"' && open -a Tailscale`;

/** The platform facts a fix depends on. */
export interface PlatformHint {
  /** `linux`, `darwin`, … (Deno's `Deno.build.os` names). */
  os: string;
  /** How Tailscale was installed. */
  variant: TailscaleVariant;
  /** The user name for `--operator=` (defaults to the literal `$USER`). */
  user?: string;
  /** How to name the CLI in a fix (`tailscale`, or its full path). */
  command?: string;
  /** The CLI's short version (`1.98.8`), when known. */
  version?: string;
}

/** A step that starts the Tailscale daemon: what it does and the exact command. */
export interface StartHint {
  /** What the step does, e.g. `open the Tailscale app`. */
  description: string;
  /** The exact command line. */
  command: string;
}

/** How to start the daemon for a platform and variant. */
export function startHintFor(os: string, variant: TailscaleVariant): StartHint {
  if (variant === "macsys" || variant === "appstore") {
    return { description: "open the Tailscale app", command: "open -a Tailscale" };
  }
  if (variant === "homebrew") {
    return {
      description: "start tailscaled as a boot-time service with Homebrew",
      command: "sudo brew services start tailscale",
    };
  }
  if (variant === "tailscaled") {
    // Hand-built open-source daemon: it installs its own LaunchDaemon (no Homebrew here).
    return {
      description: "install and start tailscaled as a LaunchDaemon",
      command: "sudo tailscaled install-system-daemon",
    };
  }
  if (os === "darwin") {
    return { description: "open the Tailscale app", command: "open -a Tailscale" };
  }
  return {
    description: "enable and start the tailscaled service",
    command: "sudo systemctl enable --now tailscaled",
  };
}

/** The `set --operator` fix with the real user name. */
export function operatorFix(hint: Pick<PlatformHint, "user" | "command">): string {
  return `sudo ${hint.command ?? "tailscale"} set --operator=${hint.user ?? "$USER"}`;
}

const DAEMON_DOWN_RE =
  /failed to connect to local (?:tailscaled|Tailscale service|Tailscale daemon)|is Tailscale running\?|tailscaled\.sock(?:et)?: connect: (?:no such file|connection refused)/i;
const RUNNING_AS_RE =
  /failed to connect to local tailscaled \(which appears to be running as (.+?), pid (\d+)\)/;
const GUI_FAILED_RE = /The Tailscale (GUI|CLI) failed to start: ?([^\n]*)/;

/** Why the CLI could not reach its daemon, read from its output. */
export type DaemonProblem =
  /** No daemon process: start it. */
  | { kind: "not-running" }
  /** A daemon process exists but its socket or port file is stale (often after switching variants). */
  | { kind: "stale-socket"; exe: string; pid: number }
  /** The macOS app's CLI could not start (outside the login session, or its preferences failed). */
  | { kind: "app-cli-failed"; which: "GUI" | "CLI"; detail: string };

/**
 * Classifies a CLI's output (stderr and stdout: the app's CLI prints its
 * own failure on stdout) when the daemon could not be reached. Pure.
 */
export function classifyDaemonProblem(text: string): DaemonProblem | undefined {
  let m = GUI_FAILED_RE.exec(text);
  if (m) return { kind: "app-cli-failed", which: m[1] as "GUI" | "CLI", detail: m[2].trim() };
  m = RUNNING_AS_RE.exec(text);
  if (m) return { kind: "stale-socket", exe: m[1], pid: Number(m[2]) };
  if (DAEMON_DOWN_RE.test(text)) return { kind: "not-running" };
  return undefined;
}

/**
 * True when a CLI error text says no daemon runs (Linux, macOS and prefixed
 * forms). "(which appears to be running as …)" is *not* this: that daemon
 * runs, and starting it again cannot help.
 */
export function isDaemonNotRunning(text: string): boolean {
  return classifyDaemonProblem(text)?.kind === "not-running";
}

function isAppDaemon(exe: string): boolean {
  return /IPNExtension|network-extension|io\.tailscale\.ipn/i.test(exe);
}

/**
 * The error for a daemon that runs but does not answer this CLI
 * (`tailscale_daemon_unreachable`, exit 3), with the fix for the pair of
 * daemon and CLI variant.
 */
export function staleSocketError(
  problem: { exe: string; pid: number },
  hint: PlatformHint,
  cause?: unknown,
): ActionRequiredError {
  const running = `The Tailscale daemon is running (${problem.exe}, pid ${problem.pid})`;
  const appCli = hint.variant === "macsys" || hint.variant === "appstore";
  let message: string;
  let fix: string;
  if (hint.os !== "darwin") {
    message = `${running} but does not answer on its socket; restart it.`;
    fix = "sudo systemctl restart tailscaled";
  } else if (isAppDaemon(problem.exe) && !appCli) {
    message =
      `${running} as the Tailscale app, but this CLI talks to the open-source tailscaled, whose socket is stale (left over from switching variants).`;
    fix =
      `ECTO_TAILSCALE=${APP_CLI} ecto connect (use the app's CLI), or quit the app and run: sudo brew services restart tailscale`;
  } else if (!isAppDaemon(problem.exe) && appCli) {
    message =
      `${running} as the open-source tailscaled, but this is the Tailscale app's CLI, whose port file is stale (left over from switching variants).`;
    fix =
      'ECTO_TAILSCALE="$(brew --prefix)/bin/tailscale" ecto connect (use tailscaled\'s CLI), or stop it (sudo brew services stop tailscale) and run: open -a Tailscale';
  } else if (appCli) {
    message = `${running} but its CLI cannot reach it; quit and reopen the Tailscale app.`;
    fix = RELAUNCH_APP;
  } else {
    message = `${running} but does not answer on its socket; restart it.`;
    fix = hint.variant === "tailscaled"
      ? "sudo launchctl kickstart -k system/com.tailscale.tailscaled"
      : "sudo brew services restart tailscale";
  }
  return new ActionRequiredError("tailscale_daemon_unreachable", message, { fix, cause });
}

/** The error for the macOS app's CLI failing to start (`tailscale_app_cli_failed`, exit 3). */
export function appCliFailedError(
  problem: { which: "GUI" | "CLI"; detail: string },
  cause?: unknown,
): ActionRequiredError {
  if (problem.which === "GUI") {
    return new ActionRequiredError(
      "tailscale_app_cli_failed",
      `The Tailscale app's CLI failed to start ("The Tailscale GUI failed to start: ${problem.detail}"): it only works inside your logged-in macOS session with the app running.`,
      {
        fix:
          "open -a Tailscale, then run ecto again from Terminal in your login session (not over ssh, from a launchd job or another sandboxed app)",
        cause,
      },
    );
  }
  return new ActionRequiredError(
    "tailscale_app_cli_failed",
    `The Tailscale app's CLI failed to start ("The Tailscale CLI failed to start: ${problem.detail}"); quit and reopen the app.`,
    {
      fix:
        `${RELAUNCH_APP} (if it persists, reinstall from https://pkgs.tailscale.com/stable/#macos)`,
      cause,
    },
  );
}

/** The typed error for a {@link DaemonProblem}. */
export function daemonProblemError(
  problem: DaemonProblem,
  hint: PlatformHint,
  cause?: unknown,
): ActionRequiredError {
  switch (problem.kind) {
    case "stale-socket":
      return staleSocketError(problem, hint, cause);
    case "app-cli-failed":
      return appCliFailedError(problem, cause);
    default:
      return daemonNotRunningError(hint, cause);
  }
}

/** Classifies and maps in one go: the typed error, or `undefined` when the text is not a daemon problem. */
export function daemonError(
  text: string,
  hint: PlatformHint,
  cause?: unknown,
): ActionRequiredError | undefined {
  const problem = classifyDaemonProblem(text);
  return problem ? daemonProblemError(problem, hint, cause) : undefined;
}

/** True when a CLI error text is a LocalAPI permission denial. */
export function isAccessDenied(text: string): boolean {
  return /Access denied/i.test(text);
}

/** The error for an unreachable daemon (`tailscale_not_running`, exit 3), with the start command. */
export function daemonNotRunningError(hint: PlatformHint, cause?: unknown): ActionRequiredError {
  const start = startHintFor(hint.os, hint.variant);
  return new ActionRequiredError(
    "tailscale_not_running",
    `The Tailscale daemon is not running; ${start.description} first.`,
    { fix: start.command, cause },
  );
}

/**
 * The error for a write the daemon refused (`tailscale_access_denied`,
 * exit 3). Linux: only root and the operator may write. macOS open-source
 * tailscaled: root, the `admin` group and the operator. The macOS apps
 * have their own (closed) model: the user logged in to the app.
 */
export function accessDeniedError(hint: PlatformHint, cause?: unknown): ActionRequiredError {
  if (hint.os === "darwin" && (hint.variant === "macsys" || hint.variant === "appstore")) {
    return new ActionRequiredError(
      "tailscale_access_denied",
      "The Tailscale app refused this change for this macOS user; run ecto as the user logged in to the Tailscale app.",
      { fix: "open -a Tailscale (log in there), then run ecto again as that user", cause },
    );
  }
  if (hint.os === "darwin") {
    return new ActionRequiredError(
      "tailscale_access_denied",
      "Tailscale's open-source daemon on macOS lets only root, members of the admin group and its operator change settings, and this user is none of them; make this user the operator once.",
      { fix: operatorFix(hint), cause },
    );
  }
  return new ActionRequiredError(
    "tailscale_access_denied",
    "Tailscale refused to change its settings for this user; make this user the Tailscale operator once.",
    { fix: operatorFix(hint), cause },
  );
}

const SANDBOX_READ_RE =
  /runs in a macOS sandbox that can't read files|open [^\n]*: operation not permitted/;

/** True when the App Store CLI's sandbox refused to read a file (e.g. `--auth-key=file:`). */
export function isSandboxedFileRead(text: string): boolean {
  return SANDBOX_READ_RE.test(text);
}

/**
 * The refusal for an auth key on the Mac App Store app
 * (`tailscale_auth_key_sandboxed`, exit 3): its CLI runs in a sandbox that
 * cannot read the key file, and ecto never puts a key on the command line.
 */
export function sandboxedAuthKeyError(cause?: unknown): ActionRequiredError {
  return new ActionRequiredError(
    "tailscale_auth_key_sandboxed",
    "The Mac App Store Tailscale runs its CLI in a sandbox that cannot read the key file ecto passes, and ecto never puts an auth key on the command line; log in without the key.",
    {
      fix:
        "log in from the Tailscale menu bar icon, or run ecto connect without --auth-key/TS_AUTHKEY (it relays the login link); for key logins use the Standalone app or Homebrew tailscaled",
      cause,
    },
  );
}

/** The URL from Tailscale's "To enable, visit:" / "To authenticate, visit:" block. */
export function findIndentedUrl(text: string): string | undefined {
  for (const line of text.replace(/\r/g, "").split("\n")) {
    const m = /^\s+(https:\/\/\S+)\s*$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** A feature-enablement prompt printed by `tailscale funnel`/`serve` (stdout). */
export interface EnablePrompt {
  /** `funnel` or `https` (the serve/HTTPS form). */
  feature: "funnel" | "https";
  /** The server-supplied message lines, joined with spaces. */
  message: string;
  /** The URL to visit, when the text had one. */
  url?: string;
}

/**
 * Finds the enable-Funnel / enable-HTTPS prompt in `tailscale funnel` stdout:
 * `Funnel is not enabled on your tailnet. To enable, visit: <URL>` or the
 * serve form (`Serve is not enabled…`, `/f/serve?` URL), or any
 * server-supplied text followed by a nine-space-indented `/f/` URL.
 */
export function parseEnablePrompt(stdout: string): EnablePrompt | undefined {
  const text = stdout.replace(/\r/g, "");
  const url = findIndentedUrl(text);
  const notEnabled = /(Funnel|Serve|HTTPS) is not enabled[^\n]*/i.exec(text);
  const permission = /You don't have permission to enable this feature\.?/i.exec(text);
  if (!url && !notEnabled && !permission) return undefined;
  if (url && !notEnabled && !permission && !/\/f\//.test(url)) return undefined;
  const lines = text.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("https://") && l !== "Success."
  );
  const message = lines.slice(0, 3).join(" ") || "Funnel is not enabled on your tailnet.";
  const serveForm = /^(Serve|HTTPS)/i.test(notEnabled?.[1] ?? "") ||
    (url ?? "").includes("/f/serve");
  const prompt: EnablePrompt = { feature: serveForm ? "https" : "funnel", message };
  if (url) prompt.url = url;
  return prompt;
}

/** The `ActionRequiredError` for an enablement prompt (`funnel_not_enabled` or `https_not_enabled`). */
export function enablePromptError(prompt: EnablePrompt, cause?: unknown): ActionRequiredError {
  const options: EctoErrorOptions & { url?: string } = { cause };
  if (prompt.url) {
    options.url = prompt.url;
    options.fix = prompt.url;
  }
  return new ActionRequiredError(
    prompt.feature === "funnel" ? "funnel_not_enabled" : "https_not_enabled",
    prompt.feature === "funnel"
      ? `Funnel is not enabled for this node; an admin must approve it in the browser (${prompt.message}).`
      : `HTTPS certificates are not enabled on this tailnet; an admin must enable them in the browser (${prompt.message}).`,
    options,
  );
}

/** Raised for a port the node's funnel-ports capability does not allow. */
export const FUNNEL_POLICY_URL = "https://login.tailscale.com/admin/acls/file";

/**
 * Maps a failed `tailscale funnel`/`serve` write (its stderr, and stdout) to a
 * typed error, or `undefined` when the text is not one ecto recognises.
 */
export function classifyServeFailure(
  stderr: string,
  hint: PlatformHint,
  stdout = "",
): EctoError | undefined {
  const text = `${stderr}\n${stdout}`;
  const daemon = daemonError(text, hint, stderr);
  if (daemon) return daemon;
  if (isAccessDenied(text)) return accessDeniedError(hint, stderr);
  const prompt = parseEnablePrompt(stdout);
  if (prompt) return enablePromptError(prompt, stderr);
  let m = /Funnel not available; HTTPS must be enabled\. See (\S+?)\.?$/m.exec(text);
  if (m) {
    return new ActionRequiredError(
      "https_not_enabled",
      "Funnel is not available because HTTPS certificates are not enabled on this tailnet.",
      { url: m[1], fix: m[1], cause: stderr },
    );
  }
  m = /Funnel not available; "funnel" node attribute not set\. See (\S+?)\.?$/m.exec(text);
  if (m) {
    return new ActionRequiredError(
      "funnel_not_enabled",
      'Funnel is not available because this node lacks the "funnel" node attribute.',
      { url: m[1], fix: m[1], cause: stderr },
    );
  }
  m = /port (\d+) is not allowed for funnel(?:; allowed ports are: ([^\n]*))?/.exec(text);
  if (m) {
    return new ActionRequiredError(
      "funnel_port_not_allowed",
      `The tailnet policy does not allow Funnel on port ${m[1]}${
        m[2] ? ` (allowed: ${m[2].trim()})` : ""
      }.`,
      {
        url: FUNNEL_POLICY_URL,
        fix: `add ${m[1]} to the funnel-ports node attribute at ${FUNNEL_POLICY_URL}`,
        cause: stderr,
      },
    );
  }
  if (/shields-up/i.test(text)) {
    return new ActionRequiredError(
      "tailscale_shields_up",
      "Tailscale blocks incoming connections (shields-up), so Funnel cannot be turned on.",
      {
        fix: hint.variant === "macsys" || hint.variant === "appstore"
          ? "turn on Allow incoming connections in the Tailscale menu"
          : `${hint.command ?? "tailscale"} set --shields-up=false`,
        cause: stderr,
      },
    );
  }
  m = /(foreground )?listener already exists for port (\d+)/.exec(text);
  if (m) {
    return new ActionRequiredError(
      "funnel_port_busy",
      `Port ${m[2]} is in use by ${
        m[1] ? "a foreground" : "another"
      } tailscale serve or funnel session; ecto will not replace it.`,
      {
        fix: "stop the tailscale serve/funnel running in another terminal (Ctrl+C)",
        cause: stderr,
      },
    );
  }
  // Before 1.92 the CLI itself checks for conflicts (v1.90.0 serve_v2.go validateConfig).
  if (/foreground already exists under this port/.test(text)) {
    return new ActionRequiredError(
      "funnel_port_busy",
      "The port is in use by a foreground tailscale serve or funnel session; ecto will not replace it.",
      {
        fix: "stop the tailscale serve/funnel running in another terminal (Ctrl+C)",
        cause: stderr,
      },
    );
  }
  m = /background configuration already exists, use `tailscale \w+ --[\w-]+=(\d+) off`/.exec(text);
  if (m) {
    return new ActionRequiredError(
      "funnel_port_busy",
      `Port ${m[1]} already carries a background Serve or Funnel route; ecto will not replace it.`,
      { fix: "tailscale funnel status", cause: stderr },
    );
  }
  m =
    /already serving (?:"?tcp"?|TCP|web)(?: on (\d+))?|port (\d+) is already serving|but port is already serving "[\w-]+"/i
      .exec(text);
  if (m) {
    return new ActionRequiredError(
      "funnel_port_busy",
      "The port already carries a different kind of Serve route; ecto will not replace it.",
      { fix: "tailscale funnel status", cause: stderr },
    );
  }
  if (isEtagRace(text)) {
    return new EctoError(
      "serve_config_race",
      "Another program kept changing the Tailscale Serve config at the same time; try again.",
      { cause: stderr },
    );
  }
  const state = notConnectedState(text);
  if (state) return notConnectedError(state, stderr);
  return undefined;
}

/** True for the serve config ETag race (retry once). */
export function isEtagRace(text: string): boolean {
  return /etag mismatch|Another client is changing the serve config/i.test(text);
}

const STATE_LINES: Array<[RegExp, string]> = [
  [/^Logged out\.$/m, "NeedsLogin"],
  [/^Tailscale is stopped\.$/m, "Stopped"],
  [/^Machine is not yet approved by tailnet admin\.$/m, "NeedsMachineAuth"],
  [/^unexpected state: (\S+)/m, "unexpected"],
];

/** The backend state named by a "not running" state line (`Logged out.` …), if any. */
export function notConnectedState(text: string): string | undefined {
  for (const [re, state] of STATE_LINES) {
    const m = re.exec(text);
    if (m) return state === "unexpected" ? m[1] : state;
  }
  return undefined;
}

/** The error for a node that is not connected (`tailscale_not_connected`, exit 3). */
export function notConnectedError(state: string, cause?: unknown): ActionRequiredError {
  const fix = state === "Stopped"
    ? "tailscale up"
    : state === "NeedsMachineAuth"
    ? "https://login.tailscale.com/admin/machines"
    : "ecto connect (it logs in with tailscale up)";
  return new ActionRequiredError(
    state === "NeedsLogin" ? "tailscale_needs_login" : "tailscale_not_connected",
    `Tailscale is not connected (${state}).`,
    state === "NeedsMachineAuth"
      ? { fix, url: "https://login.tailscale.com/admin/machines", cause }
      : { fix, cause },
  );
}
