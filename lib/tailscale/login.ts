/**
 * Logging in with `tailscale up`: interactive (the login URL is surfaced the
 * moment the CLI prints it), with an auth key (only ever as
 * `--auth-key=file:` from a private temp file), bounded, and resumable.
 *
 * @module
 */
import { ActionRequiredError, EctoError } from "../core/errors.ts";
import { type EventSink, ignoreEvents } from "../core/events.ts";
import { delay, type ExecResult, spawn } from "./_exec.ts";
import {
  accessDeniedError,
  daemonError,
  isAccessDenied,
  isSandboxedFileRead,
  sandboxedAuthKeyError,
} from "./diagnose.ts";
import { childEnv, getStatus, type TailscaleCli, toolError } from "./runner.ts";
import type { TailscaleStatus } from "./status.ts";

/** Where an admin approves a device. */
export const APPROVE_DEVICE_URL = "https://login.tailscale.com/admin/machines";
/** Where auth keys are created. */
export const AUTH_KEYS_URL = "https://login.tailscale.com/admin/settings/keys";
/** Default bound of a blocking login: five minutes. */
export const DEFAULT_LOGIN_TIMEOUT_MS = 5 * 60_000;

/** Options for {@link login}. */
export interface LoginOptions {
  /**
   * An auth key (e.g. from `TS_AUTHKEY`, read by the caller). Passed to the
   * CLI only as `--auth-key=file:<path>` from a 0600 file in a 0700 temp
   * directory that is deleted afterwards.
   */
  authKey?: string;
  /** `--hostname` for a first login. */
  hostname?: string;
  /** How long to wait for the login to complete (default 5 minutes). */
  timeoutMs?: number;
  /**
   * Return as soon as the URL is known: surface it, then throw the
   * `ActionRequiredError` at once instead of waiting for approval. The login
   * stays pending; a later call resumes it. `timeoutMs` still bounds the
   * wait for the URL (or for an auth-key login to finish). For `--yes` / no
   * terminal callers: either this, or a short `timeoutMs` (the URL is
   * surfaced at once and the error comes when the bound expires).
   */
  noWait?: boolean;
  /** Status poll interval while waiting on a pending login (default 1 s). */
  pollIntervalMs?: number;
  /** Directory in which the private temp dir for the auth key is made (default: the OS temp dir). */
  tempDir?: string;
  /** Progress and `action` events (`login`, `approve-device`). */
  events?: EventSink;
  /** The status the caller has just read, used instead of a first `tailscale status --json`. */
  status?: TailscaleStatus;
}

/** What {@link login} found or did. */
export interface LoginResult {
  /** The status after login (Running, or Starting). */
  status: TailscaleStatus;
  /** False when the node was already connected and nothing was done. */
  changed: boolean;
  /** One sentence: what was found or done. */
  detail: string;
}

const STEP = "tailscale.login";
const ALREADY = "Tailscale is already logged in.";
const LOGGED_IN = "Logged in to Tailscale.";

/** A URL block `tailscale up` printed on stderr. */
export interface UpPrompt {
  /** `login` (To authenticate) or `approve-device` (To approve your machine). */
  action: "login" | "approve-device";
  /** The URL to open. */
  url: string;
}

/**
 * Finds the URLs `tailscale up` prints on stderr: after `To authenticate,
 * visit:` (login) or `To approve your machine, visit (as admin):`
 * (approve-device), each a tab-indented URL line. Only complete lines count.
 */
export function parseUpPrompts(stderr: string): UpPrompt[] {
  const prompts: UpPrompt[] = [];
  const re =
    /(To authenticate, visit:|To approve your machine, visit \(as admin\):)[ \t]*\r?\n(?:[ \t]*\r?\n)*[ \t]+(https:\/\/\S+)[ \t]*\r?\n/g;
  for (const m of stderr.matchAll(re)) {
    prompts.push({
      action: m[1].startsWith("To authenticate") ? "login" : "approve-device",
      url: m[2],
    });
  }
  return prompts;
}

/** The flags of the command suggested by "changing settings via 'tailscale up' requires mentioning all". */
export function parseUpSuggestion(stderr: string): string[] | undefined {
  if (!/requires mentioning all/.test(stderr)) return undefined;
  const line = stderr.split("\n").map((l) => l.trim()).find((l) =>
    /^(\S*\/)?tailscale up\b/.test(l)
  );
  if (!line) return undefined;
  const tokens = [...line.matchAll(/(?:[^\s'"]+|'[^']*'|"[^"]*")+/g)].map((m) =>
    m[0].replace(/'([^']*)'|"([^"]*)"/g, (_, a, b) => a ?? b)
  );
  return tokens.slice(2).filter((t) => t.startsWith("--"));
}

function redact(text: string, secret: string | undefined): string {
  let out = text.replace(/tskey-[A-Za-z0-9_-]+/g, "tskey-…");
  if (secret) out = out.split(secret).join("…");
  return out;
}

function goDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

async function withKeyFile<T>(
  authKey: string | undefined,
  tempDir: string | undefined,
  body: (keyPath: string | undefined) => Promise<T>,
): Promise<T> {
  if (authKey === undefined) return await body(undefined);
  const dir = await Deno.makeTempDir({
    prefix: "ecto-tskey-",
    ...(tempDir ? { dir: tempDir } : {}),
  });
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(dir, 0o700);
    const path = `${dir}/authkey`;
    await Deno.writeTextFile(path, authKey, { createNew: true, mode: 0o600 });
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    return await body(path);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function pendingError(
  url: string | undefined,
  action: string,
  waitedMs?: number,
): ActionRequiredError {
  const approve = action === "approve-device";
  const what = approve
    ? "approve this device in the Tailscale admin console"
    : "log in to Tailscale";
  const message = waitedMs === undefined
    ? `Open the link to ${what}, then run ecto again.`
    : `Tailscale login was not completed within ${
      Math.round(waitedMs / 1000)
    } s; open the link to ${what}, then run ecto again.`;
  return new ActionRequiredError(
    approve ? "tailscale_approval_required" : "tailscale_login_required",
    message,
    url ? { url, fix: url } : { fix: "tailscale up" },
  );
}

/**
 * Logs the node in with `tailscale up`, bounded.
 *
 * - Running already: does nothing (`changed: false`).
 * - NeedsLogin with a pending `AuthURL` (and no auth key): surfaces that URL
 *   and waits for it to be used (resumable).
 * - NeedsMachineAuth: surfaces the admin approval page and waits.
 * - Otherwise runs `tailscale up --timeout=… [--hostname=…]
 *   [--auth-key=file:…]`, emitting an `action` event the moment the URL is
 *   printed.
 *
 * Throws `ActionRequiredError` (`tailscale_login_required`,
 * `tailscale_approval_required`, carrying the URL) when the bound expires or
 * with `noWait`; `tailscale_auth_key_rejected` for a refused key;
 * `tailscale_access_denied` / `tailscale_not_running` with their fixes.
 */
export async function login(cli: TailscaleCli, options: LoginOptions = {}): Promise<LoginResult> {
  const events = options.events ?? ignoreEvents;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
  const poll = options.pollIntervalMs ?? 1000;
  const started = Date.now();
  const deadline = started + timeoutMs;
  const surfaced = new Set<string>();
  const surface = (action: "login" | "approve-device", url: string) => {
    if (surfaced.has(`${action} ${url}`)) return;
    surfaced.add(`${action} ${url}`);
    events({
      kind: "action",
      step: STEP,
      action,
      url,
      message: action === "login"
        ? "Open this link to log this computer in to Tailscale."
        : "Open this link (as a tailnet admin) to approve this computer.",
    });
  };

  const waitForRunning = async (action: "login" | "approve-device", url: string) => {
    surface(action, url);
    if (options.noWait) throw pendingError(url, action);
    events({
      kind: "progress",
      step: STEP,
      message: action === "login"
        ? "Waiting for the Tailscale login in the browser."
        : "Waiting for a tailnet admin to approve this device.",
      elapsedMs: Date.now() - started,
      limitMs: timeoutMs,
    });
    while (Date.now() < deadline) {
      await delay(Math.min(poll, Math.max(0, deadline - Date.now())));
      const status = await getStatus(cli);
      if (status.backendState === "Running") return status;
      if (status.backendState === "NeedsMachineAuth" && action === "login") {
        action = "approve-device";
        url = APPROVE_DEVICE_URL;
        surface(action, url);
      } else if (status.authUrl && status.authUrl !== url && action === "login") {
        url = status.authUrl;
        surface(action, url);
      }
    }
    throw pendingError(url, action, timeoutMs);
  };

  let status = options.status ?? await getStatus(cli);
  if (status.backendState === "Running") {
    return { status, changed: false, detail: ALREADY };
  }
  if (status.backendState === "Starting") {
    // Logged in, waiting for a peer or relay: that is not "logged out", and running `up`
    // now could only trip over its own prefs check. Serve and Funnel accept writes here.
    return { status, changed: false, detail: "Tailscale is logged in and still connecting." };
  }
  if (options.authKey !== undefined && cli.platform.variant === "appstore") {
    // The App Store CLI's sandbox cannot read the key file; refuse before trying.
    throw sandboxedAuthKeyError();
  }
  if (options.authKey === undefined) {
    if (status.backendState === "NeedsLogin" && status.authUrl) {
      status = await waitForRunning("login", status.authUrl);
      return { status, changed: true, detail: LOGGED_IN };
    }
    if (status.backendState === "NeedsMachineAuth") {
      status = await waitForRunning("approve-device", APPROVE_DEVICE_URL);
      return { status, changed: true, detail: LOGGED_IN };
    }
  }

  const outcome = await withKeyFile(options.authKey, options.tempDir, async (keyPath) => {
    // --timeout is what is left of the bound; the key only ever as a file reference.
    const base = () => [
      `--timeout=${goDuration(deadline - Date.now())}`,
      ...(keyPath ? [`--auth-key=file:${keyPath}`] : []),
    ];
    const ours = options.hostname ? [`--hostname=${options.hostname}`] : [];
    let outcome = await runUp(cli, ["up", ...ours, ...base()], deadline, options.noWait, surface);
    const suggested = parseUpSuggestion(outcome.result.stderr);
    if (suggested && outcome.result.code !== 0) {
      const keep = suggested.filter((f) =>
        !/^--(auth-?key|timeout)(=|$)/.test(f) &&
        !(options.hostname && f.startsWith("--hostname="))
      );
      outcome = await runUp(
        cli,
        ["up", ...keep, ...ours, ...base()],
        deadline,
        options.noWait,
        surface,
      );
    }
    return outcome;
  });

  const { result, prompt } = outcome;
  if (prompt && (options.noWait || result.killed)) {
    throw pendingError(prompt.url, prompt.action, options.noWait ? undefined : timeoutMs);
  }
  if (result.code === 0 && !result.killed) {
    status = await getStatus(cli);
    if (status.backendState === "NeedsMachineAuth") {
      status = await waitForRunning("approve-device", APPROVE_DEVICE_URL);
    }
    return { status, changed: true, detail: LOGGED_IN };
  }
  const stderr = redact(result.stderr, options.authKey);
  const daemon = daemonError(
    `${stderr}\n${redact(result.stdout, options.authKey)}`,
    cli.platform,
    stderr,
  );
  if (daemon) throw daemon;
  if (isAccessDenied(stderr)) throw accessDeniedError(cli.platform, stderr);
  if (options.authKey !== undefined && isSandboxedFileRead(stderr)) {
    throw sandboxedAuthKeyError(stderr);
  }
  const backend = /backend error: ([^\n]*)/.exec(stderr);
  if (backend && options.authKey !== undefined) {
    throw new ActionRequiredError(
      "tailscale_auth_key_rejected",
      `Tailscale rejected the auth key (${backend[1].trim()}); create a new one.`,
      { url: AUTH_KEYS_URL, fix: AUTH_KEYS_URL, cause: stderr },
    );
  }
  if (backend) {
    throw new EctoError("tailscale_login_failed", `Tailscale login failed: ${backend[1].trim()}.`, {
      cause: stderr,
    });
  }
  if (/timeout waiting for Tailscale service/.test(stderr) || result.killed) {
    const latest = await getStatus(cli).catch(() => undefined);
    if (latest?.backendState === "Running") {
      return { status: latest, changed: true, detail: LOGGED_IN };
    }
    if (latest?.backendState === "NeedsMachineAuth") {
      throw pendingError(APPROVE_DEVICE_URL, "approve-device", timeoutMs);
    }
    throw pendingError(latest?.authUrl, "login", timeoutMs);
  }
  throw toolError("up", { ...result, stderr });
}

async function runUp(
  cli: TailscaleCli,
  args: string[],
  deadline: number,
  noWait: boolean | undefined,
  surface: (action: "login" | "approve-device", url: string) => void,
): Promise<{ result: ExecResult; prompt?: UpPrompt }> {
  let prompt: UpPrompt | undefined;
  const child = spawn(cli.$, [cli.path, ...args], {
    env: childEnv(cli),
    // the CLI's own --timeout ends it; this is the backstop
    timeoutMs: Math.max(1000, deadline - Date.now() + 5000),
    onStderr: (text) => {
      const prompts = parseUpPrompts(text);
      for (const p of prompts) surface(p.action, p.url);
      const last = prompts[prompts.length - 1];
      if (last && !prompt) {
        prompt = last;
        if (noWait) child.kill();
      } else if (last) prompt = last;
    },
  });
  const result = await child.done;
  return prompt ? { result, prompt } : { result };
}
