/**
 * Tailscale as it really is on users' Macs and Linux boxes (issue #10): the
 * pure decisions on recorded texts under tests/fixtures/tailscale/ (see its
 * README for where each text comes from), plus `login()` and `preflight()`
 * on fake commands registered on the injected `$`. No real program runs.
 */
import assert from "node:assert/strict";
import { build$, type CommandContext, type ExecuteResult } from "dax";
import { ActionRequiredError, EctoError, MissingPrerequisiteError } from "../lib/core/errors.ts";
import { consentFlowError } from "../lib/tailscale/readiness.ts";
import { preflight } from "../lib/commands/preflight.ts";
import { ectoPaths } from "../lib/core/paths.ts";
import type { EctoContext } from "../lib/core/context.ts";
import { ACCIDENTAL_UP_PREFIX, accidentalRevert } from "./tailscale_double/cmd_login.ts";
import { rejectsIngress } from "./tailscale_double/dataplane.ts";
import { outboundHeaders } from "./tailscale_double/proxy_handler.ts";
import { initialState } from "./tailscale_double/state.ts";
import {
  ADMIN_DNS_URL,
  assertNotKnownBroken,
  classifyDaemonProblem,
  classifyServeFailure,
  daemonError,
  detectVariant,
  enablePromptError,
  isDaemonNotRunning,
  isEncryptedStateLoss,
  isSandboxedFileRead,
  KNOWN_BROKEN_VERSIONS,
  knownBreakageOf,
  login,
  lostWriteError,
  parseEnablePrompt,
  parseServeConfig,
  parseStatusJson,
  parseUpSuggestion,
  parseVersionJson,
  type PlatformHint,
  startHintFor,
  tailscaleCli,
  upgradeCommand,
} from "../lib/tailscale/mod.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/tailscale/${name}`, import.meta.url));
const linux: PlatformHint = { os: "linux", variant: "linux", user: "alice" };

Deno.test("Tailscale 1.102.0 and 1.102.1 are refused for Funnel (403 denied; no ingress cap), with the upgrade per variant", async (t) => {
  await t.step("the table names the range, the fix release, the symptom and the source", () => {
    const [entry] = KNOWN_BROKEN_VERSIONS;
    assert.equal(entry.first, "1.102.0");
    assert.equal(entry.last, "1.102.1");
    assert.equal(entry.fixedIn, "1.102.2");
    assert.equal(entry.symptom, "403 denied; no ingress cap");
    assert.match(fixture("log_ingress_denied_1_102_1.txt"), /denied; no ingress cap/);
  });
  await t.step(
    "1.102.0, 1.102.1 and the daemon's long version match; 1.102.2 and 1.100.4 do not",
    () => {
      const appStore = parseVersionJson(fixture("version_json_1_102_1_appstore.txt"));
      assert.equal(appStore.osVariant, "appstore");
      assert.ok(knownBreakageOf(appStore.short));
      assert.ok(knownBreakageOf("1.102.0"));
      assert.ok(knownBreakageOf(parseStatusJson(fixture("status_1_102_1.json")).version));
      assert.equal(knownBreakageOf("1.102.2"), undefined);
      assert.equal(knownBreakageOf("1.100.4"), undefined);
      assert.equal(knownBreakageOf("1.103.0"), undefined);
    },
  );
  for (
    const [variant, fix] of [
      ["homebrew", "brew upgrade tailscale && sudo brew services restart tailscale"],
      ["macsys", upgradeCommand("macsys")],
      ["appstore", "open 'macappstore://apps.apple.com/app/id1475387142' (then Update)"],
      ["linux", "curl -fsSL https://tailscale.com/install.sh | sh"],
      ["tailscaled", upgradeCommand("tailscaled")],
    ] as const
  ) {
    await t.step(`${variant}: exit 4 with "${fix.slice(0, 40)}…"`, () => {
      assert.throws(() => assertNotKnownBroken("1.102.1", variant), (e: unknown) => {
        assert.ok(e instanceof MissingPrerequisiteError);
        assert.equal(e.code, "tailscale_known_broken");
        assert.equal(e.exitCode, 4);
        assert.equal(e.fix, fix);
        assert.match(e.message, /1\.102\.1.*403 denied; no ingress cap.*1\.102\.2/);
        return true;
      });
    });
  }
  await t.step("the Standalone fix is its own updater, the tailscaled fix is a rebuild", () => {
    assert.match(upgradeCommand("macsys"), /Check for Updates/);
    assert.match(upgradeCommand("tailscaled"), /tailscale\.com\/cmd\/tailscaled@latest/);
    assert.doesNotMatch(upgradeCommand("tailscaled"), /brew/);
  });
});

Deno.test("'which appears to be running as' is a stale socket, not 'start the daemon'", async (t) => {
  for (const name of ["err_stale_socket_linux.txt", "err_daemon_connect_failed.txt"]) {
    await t.step(`Linux (${name}): restart, never start`, () => {
      const text = fixture(name);
      assert.equal(isDaemonNotRunning(text), false);
      const problem = classifyDaemonProblem(text);
      assert.equal(problem?.kind, "stale-socket");
      const e = classifyServeFailure(text, linux);
      assert.ok(e instanceof ActionRequiredError);
      assert.equal(e.code, "tailscale_daemon_unreachable");
      assert.equal(e.exitCode, 3);
      assert.equal(e.fix, "sudo systemctl restart tailscaled");
      assert.match(e.message, /is running \(tailscaled, pid \d+\)/);
    });
  }
  await t.step("macOS: the App Store app's IPNExtension, Homebrew CLI → use the app's CLI", () => {
    const text = fixture("err_stale_socket_macos_appstore.txt");
    const problem = classifyDaemonProblem(text);
    assert.deepEqual(problem, { kind: "stale-socket", exe: "IPNExtension", pid: 46381 });
    const e = daemonError(text, { os: "darwin", variant: "homebrew" });
    assert.equal(e?.code, "tailscale_daemon_unreachable");
    assert.match(
      e?.fix ?? "",
      /ECTO_TAILSCALE=\/Applications\/Tailscale\.app\/Contents\/MacOS\/Tailscale/,
    );
  });
  await t.step("macOS: tailscaled running, the app's CLI → use tailscaled's CLI", () => {
    const text = fixture("err_stale_socket_linux.txt");
    const e = daemonError(text, { os: "darwin", variant: "macsys" });
    assert.match(e?.fix ?? "", /brew --prefix\)\/bin\/tailscale/);
  });
  await t.step("macOS: hand-built tailscaled gets launchctl, not Homebrew", () => {
    const e = daemonError(fixture("err_stale_socket_linux.txt"), {
      os: "darwin",
      variant: "tailscaled",
    });
    assert.equal(e?.fix, "sudo launchctl kickstart -k system/com.tailscale.tailscaled");
  });
  await t.step("the plain 'not running' texts still mean start it", () => {
    assert.equal(classifyDaemonProblem(fixture("err_daemon_linux.txt"))?.kind, "not-running");
    assert.equal(classifyDaemonProblem(fixture("err_daemon_macos.txt"))?.kind, "not-running");
  });
});

Deno.test("the macOS app's own start failures ('The Tailscale GUI failed to start…') are recognised", async (t) => {
  await t.step("GUI failed (outside the login session): open the app, run from Terminal", () => {
    const e = daemonError(fixture("out_app_gui_failed.txt"), { os: "darwin", variant: "macsys" });
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.code, "tailscale_app_cli_failed");
    assert.match(e.message, /Tailscale\.CLIError error 3/);
    assert.match(e.fix ?? "", /^open -a Tailscale, then run ecto again from Terminal/);
  });
  await t.step("CLI failed to load preferences: relaunch the app", () => {
    const e = daemonError(fixture("out_app_cli_prefs_failed.txt"), {
      os: "darwin",
      variant: "macsys",
    });
    assert.equal(e?.code, "tailscale_app_cli_failed");
    assert.match(e?.fix ?? "", /quit app "Tailscale"' && open -a Tailscale/);
  });
  await t.step("found on stdout too, by the serve classifier", () => {
    const e = classifyServeFailure(
      "",
      { os: "darwin", variant: "appstore" },
      fixture("out_app_gui_failed.txt"),
    );
    assert.equal(e?.code, "tailscale_app_cli_failed");
  });
});

Deno.test("a hand-built tailscaled on macOS is recognised and gets no Homebrew hints", () => {
  assert.equal(
    detectVariant({ os: "darwin", path: "/usr/local/bin/tailscale", osVariant: "darwin" }),
    "tailscaled",
  );
  assert.equal(
    detectVariant({
      os: "darwin",
      path: "/opt/homebrew/bin/tailscale",
      realPath: "/opt/homebrew/Cellar/tailscale/1.96.2/bin/tailscale",
      osVariant: "darwin",
    }),
    "homebrew",
  );
  assert.equal(
    detectVariant({ os: "darwin", path: "/Users/a/go/bin/tailscale", tailscaledBeside: true }),
    "tailscaled",
  );
  const hint = startHintFor("darwin", "tailscaled");
  assert.equal(hint.command, "sudo tailscaled install-system-daemon");
  assert.doesNotMatch(hint.command, /brew/);
});

Deno.test("access denied on macOS names the admin group; the apps get their own fix", () => {
  const text = fixture("err_access_denied_serve.txt");
  const oss = classifyServeFailure(text, { os: "darwin", variant: "homebrew", user: "alice" });
  assert.equal(oss?.code, "tailscale_access_denied");
  assert.match(oss?.message ?? "", /admin group/);
  assert.equal(oss?.fix, "sudo tailscale set --operator=alice");
  const app = classifyServeFailure(text, { os: "darwin", variant: "macsys", user: "alice" });
  assert.match(app?.fix ?? "", /open -a Tailscale/);
  const lin = classifyServeFailure(text, linux);
  assert.doesNotMatch(lin?.message ?? "", /admin group/);
});

Deno.test("pre-1.92 client-side conflict texts map like the newer daemon-side ones", async (t) => {
  for (
    const [name, code] of [
      ["err_foreground_exists_v1_90.txt", "funnel_port_busy"],
      ["err_background_exists_v1_90.txt", "funnel_port_busy"],
      ["err_want_serve_v1_84.txt", "funnel_port_busy"],
      ["err_want_serve_v1_90.txt", "funnel_port_busy"],
      ["err_foreground_listener.txt", "funnel_port_busy"],
      ["err_listener_exists.txt", "funnel_port_busy"],
    ] as const
  ) {
    await t.step(name, () => {
      const e = classifyServeFailure(fixture(name), linux);
      assert.ok(e instanceof ActionRequiredError, `${name} is recognised`);
      assert.equal(e.code, code);
      assert.match(e.message, /ecto will not replace it/);
    });
  }
  await t.step("the background text names its port", () => {
    assert.match(
      classifyServeFailure(fixture("err_background_exists_v1_90.txt"), linux)?.message ?? "",
      /Port 443/,
    );
  });
});

Deno.test("the App Store sandbox cannot read the auth-key file: recognised, refused with what to do", () => {
  assert.ok(isSandboxedFileRead(fixture("err_up_sandboxed_authkey.txt")));
  assert.ok(isSandboxedFileRead(fixture("err_sandbox_cant_read_files.txt")));
  assert.equal(isSandboxedFileRead(fixture("up_backend_error.txt")), false);
});

Deno.test("macOS Standalone ≥1.98 encrypted state: write confirmed, read back empty → the EncryptState fix", async (t) => {
  const stdout = fixture("out_funnel_success_macsys_1_98_8.txt");
  const config = parseServeConfig(fixture("serve_after_lost_write.json"));
  await t.step("Standalone 1.98.8 → tailscale_state_not_persisted, exit 3", () => {
    const input = {
      stdout,
      config,
      platform: { os: "darwin", variant: "macsys" as const, version: "1.98.8" },
      port: 443,
    };
    assert.ok(isEncryptedStateLoss(input));
    const e = lostWriteError(input);
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.code, "tailscale_state_not_persisted");
    assert.equal(e.exitCode, 3);
    assert.match(
      e.fix ?? "",
      /^sudo defaults write \/Library\/Preferences\/io\.tailscale\.ipn\.macsys\.plist EncryptState -bool false && osascript -e 'quit app "Tailscale"' && open -a Tailscale/,
    );
    assert.match(e.fix ?? "", /brew install tailscale/);
  });
  await t.step("Homebrew, or Standalone before 1.98 → the generic read-back failure", () => {
    for (
      const platform of [
        { os: "darwin", variant: "homebrew" as const, version: "1.98.8" },
        { os: "darwin", variant: "macsys" as const, version: "1.96.4" },
      ]
    ) {
      const e = lostWriteError({ stdout, config, platform, port: 443 });
      assert.equal(e.code, "funnel_not_configured");
      assert.equal(e.exitCode, 1);
    }
  });
  await t.step("no success block (nothing was confirmed) → not the trap", () => {
    assert.equal(
      isEncryptedStateLoss({
        stdout: "",
        config,
        platform: { os: "darwin", variant: "macsys" },
        port: 443,
      }),
      false,
    );
  });
});

Deno.test("HTTPS off: the CLI's one consent URL is relayed; the admin console only without a URL", async (t) => {
  const noHttps = parseStatusJson(fixture("status_no_https.json"));
  await t.step("a /f/ URL from control → https_not_enabled carrying that URL, exit 3", () => {
    const prompt = parseEnablePrompt(fixture("out_funnel_not_enabled.txt"))!;
    const e = consentFlowError(enablePromptError(prompt), noHttps);
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.code, "https_not_enabled");
    assert.equal(e.url, "https://login.tailscale.com/f/funnel?node=nho4oGYG7X11CNTRL");
    assert.match(e.message, /turns both on/);
  });
  await t.step("no URL (self-hosted control: the static text) → the admin console page", () => {
    const staticError = classifyServeFailure(fixture("err_funnel_static_https.txt"), linux)!;
    const e = consentFlowError(staticError, noHttps);
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.url, ADMIN_DNS_URL);
  });
  await t.step("no permission, with control's URL → that URL (a tailnet admin opens it)", () => {
    const prompt = parseEnablePrompt(fixture("out_funnel_no_permission.txt"))!;
    const e = consentFlowError(enablePromptError(prompt), noHttps);
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.url, "https://login.tailscale.com/f/funnel?node=nho4oGYG7X11CNTRL");
  });
  await t.step("no permission and no URL → the admin console page", () => {
    const prompt = parseEnablePrompt("\nYou don't have permission to enable this feature.\n")!;
    assert.equal(prompt.url, undefined);
    const e = consentFlowError(enablePromptError(prompt), noHttps);
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.url, ADMIN_DNS_URL);
  });
  await t.step("other errors pass through untouched", () => {
    const other = new EctoError("x", "y");
    assert.equal(consentFlowError(other, noHttps), other);
  });
});

Deno.test("`up` 'requires mentioning all non-default flags' (1.90.8 text) gives the flags to repeat", () => {
  assert.deepEqual(parseUpSuggestion(fixture("up_requires_mentioning_v1_90.txt")), [
    "--accept-routes",
    "--hostname=build-box",
  ]);
});

// --- login() and preflight() on fake commands -------------------------------------------

type Handler = (ctx: CommandContext) => Promise<ExecuteResult> | ExecuteResult;

function fakeTailscale(
  statusFixture: string | Record<string, unknown>,
  calls: string[][],
): Handler {
  return async (ctx) => {
    calls.push(ctx.args);
    if (ctx.args[0] === "status") {
      await ctx.stdout.writeText(
        typeof statusFixture === "string"
          ? fixture(statusFixture)
          : JSON.stringify(statusFixture, null, 2),
      );
      return { code: 0 };
    }
    return ctx.error(1, `fake tailscale: unexpected ${ctx.args.join(" ")}`);
  };
}

Deno.test("`login()`: a node in Starting is logged in, not 'not running' (no `up`)", async () => {
  const calls: string[][] = [];
  const status = JSON.parse(fixture("status_running.json"));
  status.BackendState = "Starting";
  const cli = tailscaleCli({
    $: build$({
      commandBuilder: (b) => b.registerCommands({ tailscale: fakeTailscale(status, calls) }),
    }),
    path: "tailscale",
    platform: linux,
  });
  const result = await login(cli, { timeoutMs: 200, pollIntervalMs: 10 });
  assert.equal(result.changed, false);
  assert.equal(result.status.backendState, "Starting");
  assert.ok(calls.every((c) => c[0] === "status"), "only status ran");
});

Deno.test("`login()` on the App Store app refuses an auth key before trying (the key stays out of argv)", async () => {
  const calls: string[][] = [];
  const cli = tailscaleCli({
    $: build$({
      commandBuilder: (b) =>
        b.registerCommands({ tailscale: fakeTailscale("status_needs_login.json", calls) }),
    }),
    path: "tailscale",
    platform: { os: "darwin", variant: "appstore" },
  });
  await assert.rejects(login(cli, { authKey: "tskey-auth-secret" }), (e: unknown) => {
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.code, "tailscale_auth_key_sandboxed");
    assert.equal(e.exitCode, 3);
    assert.match(e.fix ?? "", /without --auth-key/);
    assert.doesNotMatch(`${e.message} ${e.fix}`, /tskey-auth-secret/);
    return true;
  });
  assert.ok(!calls.some((c) => c[0] === "up"), "up never ran");
});

function preflightContext(
  env: Record<string, string>,
  commands: Record<string, Handler>,
): EctoContext {
  const lookup = (name: string) => env[name];
  return {
    $: build$({ commandBuilder: (b) => b.registerCommands(commands) }),
    env: lookup,
    envAll: () => env,
    fetch: () => Promise.reject(new Error("no network in this test")),
    now: () => Date.parse("2026-12-01T00:00:00Z"),
    sleep: () => Promise.resolve(),
    events: () => {},
    consent: () => Promise.resolve(true),
    paths: ectoPaths(lookup),
    selfCommand: ["/usr/bin/ecto"],
    os: "linux",
    interactive: false,
  };
}

Deno.test("`preflight()` on a machine without OpenClaw refuses before anything touches Tailscale", async () => {
  await using tmp = await tempDir();
  const calls: string[] = [];
  const record: Handler = (ctx) => (calls.push(ctx.args.join(" ")), { code: 0 });
  const ctx = preflightContext(
    { HOME: tmp.path, PATH: `${tmp.path}/empty` },
    { tailscale: record, brew: record, sudo: record, curl: record },
  );
  await assert.rejects(preflight(ctx), (e: unknown) => {
    assert.ok(e instanceof MissingPrerequisiteError);
    assert.equal(e.code, "openclaw_not_installed");
    assert.equal(e.exitCode, 4);
    return true;
  });
  assert.deepEqual(calls, [], "no tailscale, brew, sudo or curl ran");
});

Deno.test("`preflight()` refuses a gateway credential the edge cannot use (a file SecretRef) before installing Tailscale", async () => {
  await using tmp = await tempDir();
  const bin = `${tmp.path}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(`${bin}/openclaw`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await Deno.mkdir(`${tmp.path}/.openclaw`);
  await Deno.copyFile(
    new URL("./fixtures/openclaw/secretref-token.json5", import.meta.url),
    `${tmp.path}/.openclaw/openclaw.json`,
  );
  const calls: string[] = [];
  const record: Handler = (ctx) => (calls.push(ctx.args.join(" ")), { code: 0 });
  const ctx = preflightContext(
    { HOME: tmp.path, PATH: `${bin}:${tmp.path}/empty` },
    { brew: record, sudo: record, curl: record },
  );
  await assert.rejects(preflight(ctx), (e: unknown) => {
    assert.ok(e instanceof EctoError, String(e));
    assert.match(e.message, /gateway token/);
    assert.ok(e.fix, "says what to do");
    return true;
  });
  assert.deepEqual(calls, [], "nothing was installed");
});

Deno.test("`preflight()` refuses Tailscale 1.102.1 before connect installs or starts anything", async () => {
  await using tmp = await tempDir();
  const bin = `${tmp.path}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(`${bin}/openclaw`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  // A tailscale on PATH that only answers `version --json` with 1.102.1.
  await Deno.writeTextFile(
    `${bin}/tailscale`,
    `#!/bin/sh\ncat '${
      new URL("./fixtures/tailscale/version_json_1_102_1_appstore.txt", import.meta.url).pathname
    }'\n`,
    { mode: 0o755 },
  );
  const ctx = preflightContext({ HOME: tmp.path, PATH: `${bin}:/usr/bin:/bin` }, {});
  await assert.rejects(preflight(ctx), (e: unknown) => {
    assert.ok(e instanceof MissingPrerequisiteError);
    assert.equal(e.code, "tailscale_known_broken");
    return true;
  });
});

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "ecto-ts-real-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

// --- the double reproduces the recorded texts -------------------------------------------

Deno.test("the double's `up` check prints the recorded 1.90.8 'requires mentioning all' text", () => {
  const suggestion = accidentalRevert({ "accept-routes": true, hostname: "build-box" }, {});
  assert.equal(
    `${ACCIDENTAL_UP_PREFIX}${suggestion}\n`,
    fixture("up_requires_mentioning_v1_90.txt"),
  );
  assert.equal(accidentalRevert({ "accept-routes": true }, { "accept-routes": true }), undefined);
});

Deno.test("the double's reverse proxy: Upgrade kept only for upgrade requests (Go ReverseProxy)", () => {
  const up = outboundHeaders(
    new Headers({ connection: "keep-alive, Upgrade", upgrade: "websocket", "keep-alive": "5" }),
    "build-box.tail1234.ts.net",
    "203.0.113.9",
    "1.90.8",
  );
  assert.equal(up.get("upgrade"), "websocket");
  assert.equal(up.get("connection"), "Upgrade");
  assert.equal(up.get("keep-alive"), null);
  const plain = outboundHeaders(
    new Headers({ upgrade: "websocket" }),
    "build-box.tail1234.ts.net",
    "203.0.113.9",
    "1.90.8",
  );
  assert.equal(plain.get("upgrade"), null);
  assert.equal(plain.get("connection"), null);
});

Deno.test("the double refuses Funnel ingress exactly on daemons 1.102.0 and 1.102.1", () => {
  const on = (version: string) => rejectsIngress(initialState({ version }));
  assert.deepEqual(
    ["1.100.4", "1.102.0", "1.102.1", "1.102.2", "1.102.3", "1.103.0"].map(on),
    [false, true, true, false, false, false],
  );
});
