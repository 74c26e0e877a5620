/**
 * Pure parsers and decisions of the Tailscale layer, on recorded outputs
 * under tests/fixtures/tailscale/ (built from the reference's examples).
 */
import assert from "node:assert/strict";
import { ActionRequiredError, EctoError, MissingPrerequisiteError } from "../lib/core/errors.ts";
import {
  allowedFunnelPorts,
  assertSupportedVersion,
  busyPorts,
  choosePort,
  classifyServeFailure,
  describeBackground,
  detectVariant,
  findEctoRoute,
  findEctoRoutes,
  freeFunnelPorts,
  isAccessDenied,
  isDaemonNotRunning,
  isEtagRace,
  notConnectedState,
  parseEnablePrompt,
  parseFunnelPortsCap,
  parseServeConfig,
  parseStatusJson,
  parseUpPrompts,
  parseUpSuggestion,
  parseVersionJson,
  parseVersionOutput,
  parseVersionText,
  type PlatformHint,
  portHasForeignHandler,
  upgradeCommand,
  withoutRoute,
} from "../lib/tailscale/mod.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/tailscale/${name}`, import.meta.url));
const EDGE = "http://127.0.0.1:18795";
const HOST = "build-box.tail1234.ts.net";
const linux: PlatformHint = { os: "linux", variant: "linux", user: "alice" };

Deno.test("`parseVersionText()` reads plain `tailscale version` output", async (t) => {
  await t.step("1.86+ with a long version line", () => {
    const v = parseVersionText(fixture("version_plain.txt"));
    assert.equal(v.short, "1.90.8");
    assert.deepEqual([v.major, v.minor, v.patch], [1, 90, 8]);
    assert.equal(v.long, "1.90.8-tedc9d2245-ged5c52ee2");
    assert.equal(v.unstable, false);
  });
  await t.step("old output without a long version line", () => {
    const v = parseVersionText(fixture("version_old.txt"));
    assert.equal(v.short, "1.50.1");
    assert.equal(v.long, undefined);
  });
  await t.step("an unstable dev build", () => {
    const v = parseVersionText(fixture("version_unstable.txt"));
    assert.deepEqual([v.major, v.minor, v.patch, v.unstable], [1, 103, 0, true]);
    assert.equal(v.short, "1.103.0-dev20260822");
  });
  await t.step("the --daemon form", () => {
    assert.equal(
      parseVersionText("Client: 1.90.8\n  long version: x\nDaemon: 1.90.8-t\n").short,
      "1.90.8",
    );
  });
  await t.step("garbage is refused", () => {
    assert.throws(() => parseVersionText("command not found\n"));
  });
});

Deno.test("`parseVersionJson()` reads `tailscale version --json` incl. osVariant", () => {
  const v = parseVersionJson(fixture("version_json.txt"));
  assert.equal(v.short, "1.102.3");
  assert.equal(v.osVariant, "macsys");
  assert.equal(v.cap, 142);
  assert.equal(v.long, "1.102.3-t1a2b3c4d5-g6e7f8a9b0");
  const old = parseVersionOutput(fixture("version_json_no_variant.txt"));
  assert.equal(old.osVariant, undefined);
  assert.equal(old.minor, 80);
  assert.equal(parseVersionOutput(fixture("version_plain.txt")).short, "1.90.8");
});

Deno.test("`assertSupportedVersion()` refuses < 1.52 with the variant's upgrade command", async (t) => {
  const old = parseVersionText(fixture("version_old.txt"));
  for (
    const [variant, fix] of [
      ["homebrew", "brew upgrade tailscale && sudo brew services restart tailscale"],
      ["linux", "curl -fsSL https://tailscale.com/install.sh | sh"],
    ] as const
  ) {
    await t.step(variant, () => {
      assert.throws(() => assertSupportedVersion(old, variant), (e: unknown) => {
        assert.ok(e instanceof MissingPrerequisiteError);
        assert.equal(e.code, "tailscale_too_old");
        assert.equal(e.exitCode, 4);
        assert.equal(e.fix, fix);
        assert.match(e.message, /1\.50\.1.*1\.52/);
        return true;
      });
    });
  }
  await t.step("app variants point at the app's updater", () => {
    assert.match(upgradeCommand("macsys"), /Check for Updates/);
    assert.match(upgradeCommand("appstore"), /macappstore:\/\/apps\.apple\.com\/app\/id1475387142/);
  });
  await t.step("1.52.0 and newer pass", () => {
    assertSupportedVersion(parseVersionText("1.52.0\n"));
    assertSupportedVersion(parseVersionText(fixture("version_plain.txt")), "linux");
  });
});

Deno.test("`parseStatusJson()` models a Running node with Funnel allowed", () => {
  // the CLI prints status JSON without a trailing newline
  const s = parseStatusJson(fixture("status_running.json").trimEnd());
  assert.equal(s.backendState, "Running");
  assert.equal(s.connected, true);
  assert.equal(s.meaning, "Tailscale is connected.");
  assert.equal(s.dnsName, HOST);
  assert.equal(s.hostName, "build-box");
  assert.equal(s.tailnetName, "alice@example.com");
  assert.equal(s.magicDnsSuffix, "tail1234.ts.net");
  assert.equal(s.magicDnsEnabled, true);
  assert.equal(s.httpsCapable, true);
  assert.equal(s.funnelAllowed, true);
  assert.equal(s.funnelPortsKnown, true);
  assert.deepEqual(s.funnelPorts, [
    { first: 443, last: 443 },
    { first: 8443, last: 8443 },
    { first: 10000, last: 10000 },
  ]);
  assert.deepEqual(s.tailscaleIps, ["100.101.102.103", "fd7a:115c:a1e0::8f01:6667"]);
  assert.equal(s.version, "1.102.3-t1a2b3c4d5-g6e7f8a9b0");
  assert.equal(s.os, "linux");
  assert.deepEqual(s.health, []);
  assert.equal(s.authUrl, undefined);
  assert.ok(!s.capabilities.some((c) => c.startsWith("HTTPS://")));
});

Deno.test("`parseStatusJson()` models NeedsLogin with its AuthURL", () => {
  const s = parseStatusJson(fixture("status_needs_login.json"));
  assert.equal(s.backendState, "NeedsLogin");
  assert.equal(s.connected, false);
  assert.match(s.meaning, /not logged in/);
  assert.equal(s.authUrl, "https://login.tailscale.com/a/1b2c3d4e5f6a7b");
  assert.equal(s.dnsName, undefined);
  assert.equal(s.tailnetName, undefined);
  assert.equal(s.magicDnsEnabled, false);
  assert.equal(s.httpsCapable, false);
  assert.equal(s.funnelAllowed, false);
  assert.deepEqual(s.tailscaleIps, []);
});

Deno.test("`parseStatusJson()` uses Capabilities on daemons before 1.50 (no CapMap)", () => {
  const s = parseStatusJson(fixture("status_old_version.json"));
  assert.equal(s.httpsCapable, true);
  assert.equal(s.funnelAllowed, true);
  assert.equal(s.funnelPortsKnown, true);
  assert.deepEqual(s.funnelPorts.map((r) => r.first), [443, 8443, 10000]);
  assert.equal(s.dnsName, HOST);
});

Deno.test("`parseStatusJson()` without Funnel or HTTPS capabilities", async (t) => {
  await t.step("no funnel attribute, HTTPS on", () => {
    const s = parseStatusJson(fixture("status_no_caps.json"));
    assert.equal(s.funnelAllowed, false);
    assert.equal(s.funnelPortsKnown, false);
    assert.equal(s.httpsCapable, true);
    assert.deepEqual(allowedFunnelPorts(s), [443, 8443, 10000]);
  });
  await t.step("HTTPS off: no https cap, CertDomains null", () => {
    const s = parseStatusJson(fixture("status_no_https.json"));
    assert.equal(s.httpsCapable, false);
    assert.deepEqual(s.certDomains, []);
  });
  await t.step("key expired: NeedsLogin keeps the DNS name", () => {
    const s = parseStatusJson(fixture("status_key_expired.json"));
    assert.equal(s.backendState, "NeedsLogin");
    assert.equal(s.dnsName, HOST);
    assert.deepEqual(s.health, ["You are logged out. The last login error was: node key expired"]);
  });
  await t.step("unknown and missing keys are tolerated", () => {
    const s = parseStatusJson('{"BackendState":"Weird","Brand":"new","Self":null}');
    assert.equal(s.backendState, "Weird");
    assert.match(s.meaning, /unexpected state: Weird/);
    assert.deepEqual(parseStatusJson("{}").backendState, "NoState");
    assert.throws(() => parseStatusJson("[]"));
  });
});

Deno.test("`parseFunnelPortsCap()` reads the ports query incl. ranges", () => {
  assert.deepEqual(
    parseFunnelPortsCap("https://tailscale.com/cap/funnel-ports?ports=443,8443,10000"),
    [
      { first: 443, last: 443 },
      { first: 8443, last: 8443 },
      { first: 10000, last: 10000 },
    ],
  );
  assert.deepEqual(
    parseFunnelPortsCap("https://tailscale.com/cap/funnel-ports?ports=8000-8999,10000"),
    [
      { first: 8000, last: 8999 },
      { first: 10000, last: 10000 },
    ],
  );
  assert.deepEqual(parseFunnelPortsCap("https://tailscale.com/cap/funnel-ports?ports=x,9-1,443"), [
    { first: 443, last: 443 },
  ]);
  assert.equal(parseFunnelPortsCap("https://tailscale.com/cap/funnel"), undefined);
  assert.equal(parseFunnelPortsCap("https://tailscale.com/cap/funnel-portsX"), undefined);
  const s = parseStatusJson(fixture("status_ports_no_443.json"));
  assert.deepEqual(allowedFunnelPorts(s), [8443, 10000]);
});

Deno.test("`parseServeConfig()` reads every recorded shape", async (t) => {
  await t.step("empty", () => {
    const c = parseServeConfig(fixture("serve_empty.json"));
    assert.equal(c.tcp.size, 0);
    assert.equal(c.web.size, 0);
    assert.deepEqual(busyPorts(c), []);
  });
  await t.step("one funnel on 443", () => {
    const c = parseServeConfig(fixture("serve_one_funnel.json"));
    assert.deepEqual(c.tcp.get(443), { https: true });
    assert.equal(c.web.get(`${HOST}:443`)?.get("/")?.proxy, EDGE);
    assert.ok(c.allowFunnel.has(`${HOST}:443`));
  });
  await t.step("foreground session", () => {
    const c = parseServeConfig(fixture("serve_foreground.json"));
    assert.equal(c.tcp.size, 0);
    assert.equal(c.foreground.size, 1);
    assert.deepEqual(busyPorts(c), [443]);
  });
  await t.step("8443 after ecto", () => {
    const c = parseServeConfig(fixture("serve_8443_after.json"));
    assert.deepEqual(busyPorts(c), [443, 8443]);
    assert.ok(c.allowFunnel.has(`${HOST}:8443`));
    assert.ok(!c.allowFunnel.has(`${HOST}:443`));
  });
  await t.step("TCP forwarders and extra mounts", () => {
    const c = parseServeConfig(fixture("serve_all_busy.json"));
    assert.equal(c.tcp.get(10000)?.tcpForward, "127.0.0.1:5432");
    assert.equal(c.web.get(`${HOST}:8443`)?.get("/docs")?.path, "/srv/docs");
  });
  await t.step("not an object", () => assert.throws(() => parseServeConfig("[1]")));
});

Deno.test("`freeFunnelPorts()` excludes top-level and foreground listeners", () => {
  const running = parseStatusJson(fixture("status_running.json"));
  assert.deepEqual(freeFunnelPorts(parseServeConfig(fixture("serve_empty.json")), running), [
    443,
    8443,
    10000,
  ]);
  assert.deepEqual(freeFunnelPorts(parseServeConfig(fixture("serve_foreign_443.json")), running), [
    8443,
    10000,
  ]);
  assert.deepEqual(freeFunnelPorts(parseServeConfig(fixture("serve_foreground.json")), running), [
    8443,
    10000,
  ]);
  assert.deepEqual(freeFunnelPorts(parseServeConfig(fixture("serve_mixed.json")), running), []);
  assert.deepEqual(freeFunnelPorts(parseServeConfig(fixture("serve_all_busy.json")), running), []);
});

Deno.test("`findEctoRoute()` matches only ecto's exact target at / on this host", () => {
  const one = parseServeConfig(fixture("serve_one_funnel.json"));
  const route = findEctoRoute(one, HOST, EDGE);
  assert.deepEqual(route, {
    host: HOST,
    port: 443,
    hostPort: `${HOST}:443`,
    target: EDGE,
    funnel: true,
    url: `https://${HOST}/`,
  });
  assert.equal(findEctoRoute(one, HOST, "http://127.0.0.1:18796"), undefined);
  assert.equal(findEctoRoute(one, "other.tail1234.ts.net", EDGE), undefined);
  assert.equal(
    findEctoRoute(parseServeConfig(fixture("serve_foreign_443.json")), HOST, EDGE),
    undefined,
  );
  const after = findEctoRoute(parseServeConfig(fixture("serve_8443_after.json")), HOST, EDGE);
  assert.equal(after?.port, 8443);
  assert.equal(after?.url, `https://${HOST}:8443/`);
  // foreground sessions are never ecto's, even with the same target
  const fg = parseServeConfig(fixture("serve_foreground.json"));
  assert.deepEqual(findEctoRoutes(fg, HOST, "http://127.0.0.1:3000"), []);
});

Deno.test("`portHasForeignHandler()` tells ecto's route from anyone else's", () => {
  const mixed = parseServeConfig(fixture("serve_mixed.json"));
  assert.equal(portHasForeignHandler(mixed, HOST, 443, EDGE), false);
  assert.equal(portHasForeignHandler(mixed, HOST, 8443, EDGE), true);
  assert.equal(portHasForeignHandler(mixed, HOST, 10000, EDGE), true);
  assert.equal(
    portHasForeignHandler(parseServeConfig(fixture("serve_shared_port.json")), HOST, 443, EDGE),
    true,
  );
  assert.equal(portHasForeignHandler(parseServeConfig("{}"), HOST, 443, EDGE), false);
});

Deno.test("`choosePort()` decides the Funnel port", async (t) => {
  const running = parseStatusJson(fixture("status_running.json"));
  await t.step("empty config: 443", () => {
    assert.deepEqual(choosePort(parseServeConfig("{}"), running, EDGE), {
      port: 443,
      existing: false,
    });
  });
  await t.step("foreign route on 443: 8443", () => {
    assert.deepEqual(
      choosePort(parseServeConfig(fixture("serve_foreign_443.json")), running, EDGE),
      {
        port: 8443,
        existing: false,
      },
    );
  });
  await t.step("foreground session on 443: 8443", () => {
    assert.equal(
      choosePort(parseServeConfig(fixture("serve_foreground.json")), running, EDGE).port,
      8443,
    );
  });
  await t.step("ecto's existing route wins", () => {
    assert.deepEqual(
      choosePort(parseServeConfig(fixture("serve_8443_after.json")), running, EDGE),
      {
        port: 8443,
        existing: true,
      },
    );
    assert.deepEqual(choosePort(parseServeConfig(fixture("serve_mixed.json")), running, EDGE), {
      port: 443,
      existing: true,
    });
  });
  await t.step("preferred port when free; refused when foreign or not allowed", () => {
    assert.deepEqual(choosePort(parseServeConfig("{}"), running, EDGE, 10000), {
      port: 10000,
      existing: false,
    });
    assert.throws(
      () => choosePort(parseServeConfig(fixture("serve_foreign_443.json")), running, EDGE, 443),
      (e: unknown) => e instanceof ActionRequiredError && e.code === "funnel_port_busy",
    );
    assert.throws(
      () => choosePort(parseServeConfig("{}"), running, EDGE, 3000),
      (e: unknown) => e instanceof ActionRequiredError && e.code === "funnel_port_not_allowed",
    );
  });
  await t.step("every port occupied: a typed error naming them", () => {
    assert.throws(
      () => choosePort(parseServeConfig(fixture("serve_all_busy.json")), running, EDGE),
      (e: unknown) => {
        assert.ok(e instanceof ActionRequiredError);
        assert.equal(e.code, "funnel_ports_busy");
        assert.equal(e.exitCode, 3);
        assert.match(e.message, /443, 8443 and 10000/);
        return true;
      },
    );
  });
  await t.step("policy without 443: refused (the CLI always checks 443)", () => {
    const no443 = parseStatusJson(fixture("status_ports_no_443.json"));
    assert.throws(
      () => choosePort(parseServeConfig("{}"), no443, EDGE),
      (e: unknown) =>
        e instanceof ActionRequiredError && e.code === "funnel_port_not_allowed" && !!e.url,
    );
  });
  await t.step("Funnel not yet enabled: assumes the three public ports", () => {
    const noCaps = parseStatusJson(fixture("status_no_caps.json"));
    assert.equal(
      choosePort(parseServeConfig(fixture("serve_foreign_443.json")), noCaps, EDGE).port,
      8443,
    );
  });
});

Deno.test("`withoutRoute()` predicts what `serve --set-path=/ off` leaves", () => {
  const after = parseServeConfig(fixture("serve_8443_after.json"));
  const route = findEctoRoute(after, HOST, EDGE)!;
  assert.equal(
    describeBackground(withoutRoute(after, route)),
    describeBackground(parseServeConfig(fixture("serve_foreign_443.json"))),
  );
  const shared = parseServeConfig(fixture("serve_shared_port.json"));
  const kept = withoutRoute(shared, findEctoRoute(shared, HOST, EDGE)!);
  assert.ok(kept.allowFunnel.has(`${HOST}:443`));
  assert.equal(kept.web.get(`${HOST}:443`)?.get("/hook")?.proxy, "http://127.0.0.1:9000");
  assert.equal(kept.web.get(`${HOST}:443`)?.has("/"), false);
});

Deno.test("daemon-not-running texts (Linux, macOS, prefixed) → start fix", async (t) => {
  for (
    const name of [
      "err_daemon_linux.txt",
      "err_daemon_macos.txt",
      "err_daemon_funnel_prefixed.txt",
      "err_daemon_serve_config.txt",
      "err_daemon_serve_prefixed.txt",
    ]
  ) {
    await t.step(name, () => {
      const text = fixture(name);
      assert.ok(isDaemonNotRunning(text));
      const e = classifyServeFailure(text, linux);
      assert.ok(e instanceof ActionRequiredError);
      assert.equal(e.code, "tailscale_not_running");
      assert.equal(e.fix, "sudo systemctl enable --now tailscaled");
    });
  }
  await t.step("the fix follows the variant", () => {
    const text = fixture("err_daemon_macos.txt");
    assert.equal(
      classifyServeFailure(text, { os: "darwin", variant: "macsys" })?.fix,
      "open -a Tailscale",
    );
    assert.equal(
      classifyServeFailure(text, { os: "darwin", variant: "appstore" })?.fix,
      "open -a Tailscale",
    );
    assert.equal(
      classifyServeFailure(text, { os: "darwin", variant: "homebrew" })?.fix,
      "sudo brew services start tailscale",
    );
  });
  await t.step("other texts are not mistaken for it", () => {
    assert.equal(isDaemonNotRunning(fixture("err_access_denied_serve.txt")), false);
    assert.equal(isDaemonNotRunning(fixture("err_logged_out.txt")), false);
  });
});

Deno.test("Access denied texts → `sudo tailscale set --operator=<user>`", () => {
  for (
    const name of [
      "err_access_denied_serve.txt",
      "err_access_denied_old.txt",
      "err_access_denied_up.txt",
    ]
  ) {
    assert.ok(isAccessDenied(fixture(name)), name);
    const e = classifyServeFailure(fixture(name), linux);
    assert.ok(e instanceof ActionRequiredError);
    assert.equal(e.code, "tailscale_access_denied");
    assert.equal(e.fix, "sudo tailscale set --operator=alice");
  }
  assert.equal(
    classifyServeFailure(fixture("err_access_denied_serve.txt"), {
      ...linux,
      command: "/opt/ts/tailscale",
    })?.fix,
    "sudo /opt/ts/tailscale set --operator=alice",
  );
});

Deno.test("`parseEnablePrompt()` finds the Funnel/HTTPS enable URL", () => {
  assert.deepEqual(parseEnablePrompt(fixture("out_funnel_not_enabled.txt")), {
    feature: "funnel",
    message: "Funnel is not enabled on your tailnet. To enable, visit:",
    url: "https://login.tailscale.com/f/funnel?node=nho4oGYG7X11CNTRL",
  });
  const serve = parseEnablePrompt(fixture("out_serve_not_enabled.txt"));
  assert.equal(serve?.feature, "https");
  assert.equal(serve?.url, "https://login.tailscale.com/f/serve?node=nho4oGYG7X11CNTRL");
  assert.equal(parseEnablePrompt(fixture("out_funnel_no_permission.txt"))?.feature, "funnel");
  assert.equal(parseEnablePrompt(fixture("out_funnel_success_443.txt")), undefined);
  assert.equal(parseEnablePrompt(fixture("out_funnel_success_8443.txt")), undefined);
  assert.equal(parseEnablePrompt(""), undefined);
});

Deno.test("Funnel refusals map to typed action-required errors", async (t) => {
  const cases: Array<[string, string, string | undefined, "stdout" | "stderr"]> = [
    [
      "out_funnel_not_enabled.txt",
      "funnel_not_enabled",
      "https://login.tailscale.com/f/funnel?node=nho4oGYG7X11CNTRL",
      "stdout",
    ],
    [
      "out_serve_not_enabled.txt",
      "https_not_enabled",
      "https://login.tailscale.com/f/serve?node=nho4oGYG7X11CNTRL",
      "stdout",
    ],
    ["err_funnel_static_https.txt", "https_not_enabled", "https://tailscale.com/s/https", "stderr"],
    [
      "err_funnel_static_attr.txt",
      "funnel_not_enabled",
      "https://tailscale.com/s/no-funnel",
      "stderr",
    ],
    [
      "err_port_not_allowed.txt",
      "funnel_port_not_allowed",
      "https://login.tailscale.com/admin/acls/file",
      "stderr",
    ],
    [
      "err_port_not_allowed_bare.txt",
      "funnel_port_not_allowed",
      "https://login.tailscale.com/admin/acls/file",
      "stderr",
    ],
    ["err_shields_up.txt", "tailscale_shields_up", undefined, "stderr"],
    ["err_foreground_listener.txt", "funnel_port_busy", undefined, "stderr"],
    ["err_listener_exists.txt", "funnel_port_busy", undefined, "stderr"],
    ["err_already_serving_tcp.txt", "funnel_port_busy", undefined, "stderr"],
    ["err_logged_out.txt", "tailscale_needs_login", undefined, "stderr"],
  ];
  for (const [name, code, url, stream] of cases) {
    await t.step(name, () => {
      const text = fixture(name);
      const e = stream === "stdout"
        ? classifyServeFailure("", linux, text)
        : classifyServeFailure(text, linux);
      assert.ok(e instanceof ActionRequiredError, name);
      assert.equal(e.code, code);
      assert.equal(e.url, url);
      assert.equal(e.exitCode, 3);
      assert.ok(e.fix, "every refusal carries a fix");
    });
  }
  await t.step("the etag race is recognised (and retried by the caller)", () => {
    assert.ok(isEtagRace(fixture("err_etag_race.txt")));
    const e = classifyServeFailure(fixture("err_etag_race.txt"), linux);
    assert.ok(e instanceof EctoError && e.code === "serve_config_race");
  });
  await t.step("unknown texts are left to the caller", () => {
    assert.equal(classifyServeFailure(fixture("err_old_cli.txt"), linux), undefined);
  });
  await t.step("shields-up fix on the macOS app", () => {
    assert.match(
      classifyServeFailure(fixture("err_shields_up.txt"), { os: "darwin", variant: "macsys" })!
        .fix!,
      /Allow incoming/,
    );
  });
});

Deno.test("`notConnectedState()` reads the serve/funnel state lines", () => {
  assert.equal(notConnectedState("Logged out.\n"), "NeedsLogin");
  assert.equal(notConnectedState("Tailscale is stopped.\n"), "Stopped");
  assert.equal(
    notConnectedState("Machine is not yet approved by tailnet admin.\n"),
    "NeedsMachineAuth",
  );
  assert.equal(notConnectedState("unexpected state: NoState\n"), "NoState");
  assert.equal(notConnectedState("something else"), undefined);
});

Deno.test("`parseUpPrompts()` finds the tab-indented login and approval URLs", () => {
  assert.deepEqual(parseUpPrompts(fixture("up_login_url.txt")), [
    { action: "login", url: "https://login.tailscale.com/a/1b2c3d4e5f6a7b" },
  ]);
  assert.deepEqual(parseUpPrompts(fixture("up_approve.txt")), [
    { action: "approve-device", url: "https://login.tailscale.com/admin" },
  ]);
  assert.equal(parseUpPrompts(fixture("up_login_success.txt")).length, 1);
  // a URL without its line end yet is not complete
  assert.deepEqual(
    parseUpPrompts("\nTo authenticate, visit:\n\n\thttps://login.tailscale.com/a/1b"),
    [],
  );
  assert.deepEqual(parseUpPrompts(fixture("up_backend_error.txt")), []);
});

Deno.test("`parseUpSuggestion()` reads the 'requires mentioning all' command", () => {
  assert.deepEqual(parseUpSuggestion(fixture("up_requires_mentioning.txt")), [
    "--hostname=build-box",
    "--operator=alice",
    "--timeout=300s",
  ]);
  assert.equal(parseUpSuggestion(fixture("up_timeout.txt")), undefined);
});

Deno.test("`detectVariant()` uses osVariant first, then the path", () => {
  assert.equal(
    detectVariant({ os: "darwin", path: "/usr/local/bin/tailscale", osVariant: "macsys" }),
    "macsys",
  );
  assert.equal(
    detectVariant({ os: "darwin", path: "/x/tailscale", osVariant: "appstore" }),
    "appstore",
  );
  assert.equal(
    detectVariant({ os: "darwin", path: "/opt/homebrew/bin/tailscale", osVariant: "darwin" }),
    "homebrew",
  );
  assert.equal(
    detectVariant({
      os: "darwin",
      path: "/opt/homebrew/bin/tailscale",
      realPath: "/opt/homebrew/Cellar/tailscale/1.90.8/bin/tailscale",
    }),
    "homebrew",
  );
  assert.equal(
    detectVariant({
      os: "darwin",
      path: "/Applications/Tailscale.app/Contents/MacOS/Tailscale",
      bundleId: "io.tailscale.ipn.macsys",
    }),
    "macsys",
  );
  assert.equal(
    detectVariant({
      os: "darwin",
      path: "/Applications/Tailscale.app/Contents/MacOS/Tailscale",
      bundleId: "io.tailscale.ipn.macos",
    }),
    "appstore",
  );
  // a brew-prefix CLI that is not from the formula (cask shim, app-installed CLI): unknown
  assert.equal(detectVariant({ os: "darwin", path: "/usr/local/bin/tailscale" }), "unknown");
  assert.equal(detectVariant({ os: "linux", path: "/usr/bin/tailscale" }), "linux");
  assert.equal(detectVariant({ os: "windows", path: "C:/tailscale.exe" }), "unknown");
});
