import assert from "node:assert/strict";
import { build$, type CommandContext, type ExecuteResult } from "dax";
import { EctoError, UsageError } from "../lib/core/errors.ts";
import type { EctoEvent } from "../lib/core/events.ts";
import { ectoPaths, type EnvLookup } from "../lib/core/paths.ts";
import {
  detectSupervisor,
  type EdgeServiceSpec,
  edgeServiceSpec,
  edgeServiceStatus,
  installEdgeService,
  parseLaunchctlPrint,
  parseSystemctlShow,
  readPidRecord,
  removeEdgeService,
  renderLaunchdPlist,
  renderSystemdUnit,
  type ServiceDeps,
  stopEdgeService,
  systemdExecWord,
  systemdUnitName,
} from "../lib/service/mod.ts";
import { EDGE_READY_LINE } from "../lib/service/detached.ts";
import { renderEventLine } from "../lib/core/event_line.ts";
import { pollUntil } from "./harness/poll.ts";

const FIXTURES = new URL("./fixtures/service/", import.meta.url);
const fixture = (name: string) => Deno.readTextFile(new URL(name, FIXTURES));
const FAKE_EDGE = new URL("fake_edge.ts", FIXTURES).pathname;
const START_AND_EXIT = new URL("start_and_exit.ts", FIXTURES).pathname;
const REPO = new URL("../", import.meta.url).pathname;

/** The description the fixtures were rendered from: every character that needs escaping. */
const TRICKY: EdgeServiceSpec = {
  label: "dev.ecto.edge",
  program: [
    "/opt/ecto app/bin/ecto",
    "edge",
    "run",
    "--config",
    "/home/jane/.ecto/edge.json",
    "--name=a&b<c>\"d'e",
    "100%",
    "$HOME",
    ";",
    "",
    "tab\there",
    "back\\slash",
    "ünï",
  ],
  env: {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    ECTO_STATE_DIR: "/home/jane/.ecto",
    NOTE: 'say "hi" 50% \\ $x',
  },
  logFile: "/home/jane/.ecto/edge.log",
  workingDir: "/home/jane/.ecto",
};

const noSleep = () => Promise.resolve();

/** A throwaway HOME with ecto's state dir inside; removed on dispose. */
async function tempHome(): Promise<
  { home: string; env: EnvLookup; vars: Record<string, string> } & AsyncDisposable
> {
  const home = await Deno.makeTempDir({ prefix: "ecto-service-test-" });
  const vars: Record<string, string> = {
    HOME: home,
    ECTO_STATE_DIR: `${home}/.ecto`,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  };
  return {
    home,
    vars,
    env: (name) => vars[name],
    async [Symbol.asyncDispose]() {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("`renderLaunchdPlist()` escapes XML and renders every key from one spec", async () => {
  assert.equal(renderLaunchdPlist(TRICKY), await fixture("edge.plist"));
});

Deno.test("`renderSystemdUnit()` quotes argv, doubles % and $, and quotes Environment=", async () => {
  assert.equal(renderSystemdUnit(TRICKY), await fixture("ecto-edge.service"));
});

Deno.test("`systemdExecWord()` leaves plain words bare and quotes the rest", () => {
  assert.equal(systemdExecWord("/usr/bin/ecto"), "/usr/bin/ecto");
  assert.equal(systemdExecWord("--listen=127.0.0.1:18795"), "--listen=127.0.0.1:18795");
  assert.equal(systemdExecWord("a b"), '"a b"');
  assert.equal(systemdExecWord('say "x"'), '"say \\"x\\""');
  assert.equal(systemdExecWord("50%"), '"50%%"');
  assert.equal(systemdExecWord("${X}"), '"$${X}"');
  assert.equal(systemdExecWord(";"), '";"');
  assert.equal(systemdExecWord(""), '""');
  assert.equal(systemdExecWord("line\nbreak"), '"line\\nbreak"');
  assert.equal(systemdUnitName({ label: "dev.ecto.edge" }), "ecto-edge.service");
});

Deno.test("renderers refuse a spec they cannot represent safely", async (t) => {
  await t.step("a secret-looking environment variable", () => {
    for (const name of ["OPENCLAW_GATEWAY_TOKEN", "ECTO_OWNER_KEY", "OPENAI_API_KEY", "SECRET"]) {
      const spec = { ...TRICKY, env: { [name]: "x" } };
      assert.throws(
        () => renderSystemdUnit(spec),
        (e) => e instanceof EctoError && e.code === "edge_env_secret",
      );
      assert.throws(() => renderLaunchdPlist(spec), EctoError);
    }
    assert.doesNotThrow(() => renderSystemdUnit({ ...TRICKY, env: { ECTO_KEYS_FILE: "/k" } }));
  });
  await t.step("a relative program, a multi-line path, a bad label, a NUL", () => {
    assert.throws(() => renderSystemdUnit({ ...TRICKY, program: ["ecto", "edge"] }), UsageError);
    assert.throws(() => renderSystemdUnit({ ...TRICKY, logFile: "/tmp/a\nb" }), UsageError);
    assert.throws(() => renderLaunchdPlist({ ...TRICKY, label: "edge" }), UsageError);
    assert.throws(() => renderLaunchdPlist({ ...TRICKY, program: ["/bin/x", "a\0b"] }), UsageError);
  });
  await t.step("a character XML 1.0 cannot carry", () => {
    assert.throws(
      () => renderLaunchdPlist({ ...TRICKY, program: ["/bin/x", "bell\x07"] }),
      TypeError,
    );
  });
});

Deno.test("`parseLaunchctlPrint()` reads the service's own state and pid, not nested blocks'", async () => {
  assert.deepEqual(parseLaunchctlPrint(await fixture("launchctl_print_running.txt")), {
    state: "running",
    pid: 48213,
    lastExitCode: 1,
  });
  assert.deepEqual(parseLaunchctlPrint(await fixture("launchctl_print_not_running.txt")), {
    state: "not running",
    pid: undefined,
    lastExitCode: 78,
  });
});

Deno.test("`parseSystemctlShow()` reads MainPID, ActiveState and LoadState", async () => {
  assert.deepEqual(parseSystemctlShow(await fixture("systemctl_show_active.txt")), {
    activeState: "active",
    loadState: "loaded",
    mainPid: 73410,
  });
  assert.deepEqual(parseSystemctlShow(await fixture("systemctl_show_not_found.txt")), {
    activeState: "inactive",
    loadState: "not-found",
    mainPid: 0,
  });
});

type Handler = (ctx: CommandContext) => Promise<ExecuteResult> | ExecuteResult;

function fakeShell(commands: Record<string, Handler>) {
  return build$({ commandBuilder: (b) => b.registerCommands(commands) });
}

Deno.test("`detectSupervisor()` chooses launchd, systemd or detached", async (t) => {
  const env = (vars: Record<string, string>): EnvLookup => (name) => vars[name];
  await t.step("ECTO_SUPERVISOR forces one, and a bad value is a usage error", async () => {
    const $ = fakeShell({});
    assert.equal(
      await detectSupervisor($, "linux", env({ ECTO_SUPERVISOR: "detached" }), 0),
      "detached",
    );
    assert.equal(
      await detectSupervisor($, "darwin", env({ ECTO_SUPERVISOR: "systemd" }), 0),
      "systemd",
    );
    await assert.rejects(
      detectSupervisor($, "linux", env({ ECTO_SUPERVISOR: "runit" }), 0),
      UsageError,
    );
  });
  await t.step("systemd when the user manager answers", async () => {
    const $ = fakeShell({ systemctl: () => ({ code: 0 }) });
    assert.equal(await detectSupervisor($, "linux", env({}), 1000), "systemd");
  });
  await t.step("detached when systemctl --user fails to connect to the bus", async () => {
    const $ = fakeShell({
      systemctl: (ctx) => ctx.error(1, "Failed to connect to bus: No medium found"),
    });
    assert.equal(await detectSupervisor($, "linux", env({}), 1000), "detached");
  });
  await t.step(
    "launchd when gui/<uid> exists, detached when it does not (ssh session)",
    async () => {
      const seen: string[] = [];
      const ok = fakeShell({ launchctl: (ctx) => (seen.push(ctx.args.join(" ")), { code: 0 }) });
      assert.equal(await detectSupervisor(ok, "darwin", env({}), 501), "launchd");
      assert.deepEqual(seen, ["print gui/501"]);
      const noGui = fakeShell({
        launchctl: (ctx) => ctx.error(113, "Could not find domain for port identifier"),
      });
      assert.equal(await detectSupervisor(noGui, "darwin", env({}), 501), "detached");
    },
  );
});

/** A launchctl double keeping one service's state; records every call. */
function fakeLaunchctl(runningFixture: string) {
  const calls: string[] = [];
  const state = { loaded: false, pid: 0, nextPid: 48213 };
  const handler: Handler = async (ctx) => {
    const args = ctx.args;
    calls.push(args.join(" "));
    switch (args[0]) {
      case "print":
        if (!state.loaded) {
          return ctx.error(113, `Could not find service "dev.ecto.edge" in domain for port`);
        }
        await ctx.stdout.writeText(runningFixture.replace("48213", String(state.pid)));
        return { code: 0 };
      case "bootstrap":
        if (state.loaded) return ctx.error(5, "Bootstrap failed: 5: Input/output error");
        state.loaded = true;
        state.pid = state.nextPid++;
        return { code: 0 };
      case "bootout":
        if (!state.loaded) return ctx.error(3, "Boot-out failed: 3: No such process");
        state.loaded = false;
        state.pid = 0;
        return { code: 0 };
      case "kickstart":
        state.pid = state.nextPid++;
        return { code: 0 };
      case "enable":
        return { code: 0 };
      default:
        return ctx.error(64, `unexpected launchctl ${args.join(" ")}`);
    }
  };
  return { calls, state, handler };
}

Deno.test("launchd: install, idempotent re-install, restart, stop, remove", async (t) => {
  await using tmp = await tempHome();
  const fake = fakeLaunchctl(await fixture("launchctl_print_running.txt"));
  const deps: ServiceDeps = {
    $: fakeShell({ launchctl: fake.handler }),
    env: tmp.env,
    os: "darwin",
    uid: 501,
    supervisor: "launchd",
    sleep: noSleep,
  };
  const spec = edgeServiceSpec(ectoPaths(tmp.env), ["/usr/local/bin/ecto", "edge", "run"]);
  const plist = `${tmp.home}/Library/LaunchAgents/dev.ecto.edge.plist`;

  await t.step("`installEdgeService()` writes the plist and bootstraps it", async () => {
    const result = await installEdgeService(deps, spec);
    assert.deepEqual(result, { supervisor: "launchd", pid: 48213, changed: true, started: true });
    assert.equal(await Deno.readTextFile(plist), renderLaunchdPlist(spec));
    assert.ok(fake.calls.includes(`bootstrap gui/501 ${plist}`));
  });
  await t.step("a second install with the same spec touches nothing", async () => {
    fake.calls.length = 0;
    const result = await installEdgeService(deps, spec);
    assert.deepEqual(result, { supervisor: "launchd", pid: 48213, changed: false, started: false });
    assert.deepEqual(fake.calls.filter((c) => !c.startsWith("print")), []);
  });
  await t.step("`restart: true` kickstarts -k", async () => {
    fake.calls.length = 0;
    const result = await installEdgeService(deps, spec, { restart: true });
    assert.equal(result.pid, 48214);
    assert.deepEqual(fake.calls.filter((c) => !c.startsWith("print")), [
      "kickstart -k gui/501/dev.ecto.edge",
    ]);
  });
  await t.step("a changed spec boots the old definition out and bootstraps the new", async () => {
    fake.calls.length = 0;
    const changed = { ...spec, env: { ECTO_LOG: "debug" } };
    const result = await installEdgeService(deps, changed);
    assert.equal(result.changed, true);
    assert.deepEqual(fake.calls.filter((c) => !c.startsWith("print")), [
      "bootout gui/501/dev.ecto.edge",
      "enable gui/501/dev.ecto.edge",
      `bootstrap gui/501 ${plist}`,
    ]);
    assert.match(await Deno.readTextFile(plist), /<key>ECTO_LOG<\/key>/);
  });
  await t.step("`edgeServiceStatus()` reports the pid launchd prints", async () => {
    assert.deepEqual(await edgeServiceStatus(deps, spec), {
      supervisor: "launchd",
      installed: true,
      running: true,
      pid: 48215,
    });
  });
  await t.step("`stopEdgeService()` boots it out and keeps the plist", async () => {
    assert.deepEqual(await stopEdgeService(deps, spec), {
      supervisor: "launchd",
      stopped: true,
      removed: false,
    });
    assert.equal(fake.state.loaded, false);
    await Deno.stat(plist);
  });
  await t.step("`removeEdgeService()` deletes the plist and is safe twice", async () => {
    await installEdgeService(deps, spec);
    assert.deepEqual(await removeEdgeService(deps, spec), {
      supervisor: "launchd",
      stopped: true,
      removed: true,
    });
    assert.deepEqual(await removeEdgeService(deps, spec), {
      supervisor: "launchd",
      stopped: false,
      removed: false,
    });
    await assert.rejects(Deno.stat(plist), Deno.errors.NotFound);
    assert.deepEqual(await edgeServiceStatus(deps, spec), {
      supervisor: "launchd",
      installed: false,
      running: false,
      pid: undefined,
    });
  });
});

/** A `systemctl --user` double: the unit is loaded when its file exists after daemon-reload. */
function fakeSystemctl(unitPath: string) {
  const calls: string[] = [];
  const state = { loaded: false, active: false, enabled: false, pid: 0, nextPid: 73410 };
  const exists = () => {
    try {
      Deno.statSync(unitPath);
      return true;
    } catch {
      return false;
    }
  };
  const handler: Handler = async (ctx) => {
    const [user, verb, ...rest] = ctx.args;
    if (user !== "--user") return ctx.error(1, "only --user is expected");
    calls.push([verb, ...rest].join(" "));
    const start = () => {
      if (!state.loaded) return false;
      state.active = true;
      state.pid = state.nextPid++;
      return true;
    };
    switch (verb) {
      case "daemon-reload":
        state.loaded = exists();
        return { code: 0 };
      case "show":
        await ctx.stdout.writeText(
          `MainPID=${state.active ? state.pid : 0}\nLoadState=${
            state.loaded ? "loaded" : "not-found"
          }\nActiveState=${state.active ? "active" : "inactive"}\n`,
        );
        return { code: 0 };
      case "enable":
        if (!state.loaded) return ctx.error(1, "Unit file ecto-edge.service does not exist.");
        state.enabled = true;
        if (rest[0] === "--now" && !state.active) start();
        return { code: 0 };
      case "restart":
        return start() ? { code: 0 } : ctx.error(5, "Unit ecto-edge.service not found.");
      case "stop":
        state.active = false;
        return { code: 0 };
      case "disable":
        state.enabled = false;
        if (rest[0] === "--now") state.active = false;
        return { code: 0 };
      case "reset-failed":
        return { code: 0 };
      default:
        return ctx.error(1, `unexpected systemctl ${verb}`);
    }
  };
  return { calls, state, handler };
}

Deno.test("systemd: install, idempotent re-install, stop, remove, linger note", async (t) => {
  await using tmp = await tempHome();
  tmp.vars.USER = "jane";
  const unitPath = `${tmp.home}/.config/systemd/user/ecto-edge.service`;
  const fake = fakeSystemctl(unitPath);
  const events: EctoEvent[] = [];
  const deps: ServiceDeps = {
    $: fakeShell({
      systemctl: fake.handler,
      loginctl: async (ctx) => (await ctx.stdout.writeLine("no"), { code: 0 }),
    }),
    env: tmp.env,
    os: "linux",
    supervisor: "systemd",
    sleep: noSleep,
    events: (e) => events.push(e),
  };
  const spec = edgeServiceSpec(ectoPaths(tmp.env), ["/usr/local/bin/ecto", "edge", "run"], {
    ECTO_LOG: "info",
  });

  await t.step(
    "`installEdgeService()` writes the unit, reloads, enables and starts it",
    async () => {
      const result = await installEdgeService(deps, spec);
      assert.deepEqual(result, { supervisor: "systemd", pid: 73410, changed: true, started: true });
      assert.equal(await Deno.readTextFile(unitPath), renderSystemdUnit(spec));
      assert.deepEqual(fake.calls.filter((c) => !c.startsWith("show")), [
        "daemon-reload",
        "enable ecto-edge.service",
        "restart ecto-edge.service",
      ]);
      assert.ok(events.some((e) => e.kind === "note" && e.message.includes("enable-linger jane")));
    },
  );
  await t.step(
    "a second install with the same unit only makes sure it is enabled and up",
    async () => {
      fake.calls.length = 0;
      const result = await installEdgeService(deps, spec);
      assert.deepEqual(result, {
        supervisor: "systemd",
        pid: 73410,
        changed: false,
        started: false,
      });
      assert.deepEqual(fake.calls.filter((c) => !c.startsWith("show")), [
        "enable --now ecto-edge.service",
      ]);
    },
  );
  await t.step("`stopEdgeService()` stops it and status says so", async () => {
    assert.equal((await stopEdgeService(deps, spec)).stopped, true);
    assert.deepEqual(await edgeServiceStatus(deps, spec), {
      supervisor: "systemd",
      installed: true,
      running: false,
      pid: undefined,
    });
  });
  await t.step("an install after a stop starts it again", async () => {
    const result = await installEdgeService(deps, spec);
    assert.deepEqual(result, { supervisor: "systemd", pid: 73411, changed: false, started: true });
  });
  await t.step("`removeEdgeService()` disables, deletes, reloads; safe twice", async () => {
    fake.calls.length = 0;
    assert.deepEqual(await removeEdgeService(deps, spec), {
      supervisor: "systemd",
      stopped: true,
      removed: true,
    });
    assert.deepEqual(fake.calls.filter((c) => !c.startsWith("show")), [
      "disable --now ecto-edge.service",
      "daemon-reload",
      "reset-failed ecto-edge.service",
    ]);
    await assert.rejects(Deno.stat(unitPath), Deno.errors.NotFound);
    assert.deepEqual(await removeEdgeService(deps, spec), {
      supervisor: "systemd",
      stopped: false,
      removed: false,
    });
  });
});

// ---------------------------------------------------------------------------
// Detached: for real, with a tiny Deno HTTP server standing in for the edge.

/** `/proc/<pid>/stat` fields after the command name: state, ppid, pgrp, session. */
async function procStat(pid: number) {
  // Deno guards /proc (it needs --allow-all), so read it with cat.
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stderr: "null" })
    .output();
  if (!out.success) return undefined;
  const stat = new TextDecoder().decode(out.stdout);
  const [state, ppid, pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: state!, ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session) };
}

/** SIGKILL to one known pid; refuses 0, 1 and negatives (process groups, init). */
function killPid(pid: number | undefined): void {
  assert.ok(pid !== undefined && Number.isInteger(pid) && pid > 1, `refusing to signal pid ${pid}`);
  Deno.kill(pid, "SIGKILL");
}

async function alive(pid: number): Promise<boolean> {
  const stat = await procStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

function waitFor<T>(check: () => Promise<T | undefined>): Promise<T> {
  return pollUntil(check);
}

/** A temp HOME plus a fake-edge spec; on dispose, removes the service and kills leftovers. */
async function detachedFixture(flags: string[] = []) {
  const tmp = await tempHome();
  const paths = ectoPaths(tmp.env);
  const portFile = `${tmp.home}/port`;
  const program = [
    Deno.execPath(),
    "run",
    "--no-config",
    "--allow-net=127.0.0.1",
    `--allow-write=${portFile}`,
    FAKE_EDGE,
    portFile,
    ...flags,
  ];
  const spec = edgeServiceSpec(paths, program, { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" });
  const deps: ServiceDeps = { $: build$({}), env: tmp.env, os: Deno.build.os };
  const started = new Set<number>();
  const port = async () => {
    const text = await waitFor(() => Deno.readTextFile(portFile).catch(() => undefined));
    return Number(text);
  };
  const pidOverHttp = async () => {
    const res = await fetch(`http://127.0.0.1:${await port()}/pid`);
    return Number(await res.text());
  };
  return {
    tmp,
    paths,
    portFile,
    spec,
    deps,
    started,
    port,
    pidOverHttp,
    async [Symbol.asyncDispose]() {
      await removeEdgeService(deps, spec, { termTimeoutMs: 2000 }).catch(() => {});
      for (const pid of started) {
        if (pid > 1 && await alive(pid)) killPid(pid);
      }
      await tmp[Symbol.asyncDispose]();
    },
  };
}

Deno.test({
  name: "detached: the edge runs in its own session, is found, kept, restarted and stopped",
  ignore: Deno.build.os !== "linux",
  fn: async (t) => {
    await using fx = await detachedFixture();
    const deps = { ...fx.deps, supervisor: "detached" as const };
    let pid = 0;

    await t.step("`installEdgeService()` starts it detached and records it", async () => {
      const result = await installEdgeService(deps, fx.spec);
      assert.equal(result.supervisor, "detached");
      assert.equal(result.started, true);
      pid = result.pid!;
      fx.started.add(pid);
      assert.equal(await fx.pidOverHttp(), pid);
      const stat = (await procStat(pid))!;
      assert.equal(stat.session, pid, "a session leader (setsid)");
      assert.notEqual(stat.ppid, Deno.pid, "not our child");
      const record = (await readPidRecord(fx.paths.edgePidFile))!;
      assert.deepEqual(record.argv, fx.spec.program);
      assert.equal((await Deno.stat(fx.paths.edgePidFile)).mode! & 0o777, 0o600);
    });
    await t.step("`edgeServiceStatus()` finds it", async () => {
      assert.deepEqual(await edgeServiceStatus(deps, fx.spec), {
        supervisor: "detached",
        installed: true,
        running: true,
        pid,
      });
    });
    await t.step("a second install keeps the running edge", async () => {
      const result = await installEdgeService(deps, fx.spec);
      assert.deepEqual(result, { supervisor: "detached", pid, changed: false, started: false });
    });
    await t.step("`restart: true` replaces it, and the old one is gone", async () => {
      await Deno.remove(fx.portFile);
      const result = await installEdgeService(deps, fx.spec, { restart: true });
      fx.started.add(result.pid!);
      assert.notEqual(result.pid, pid);
      assert.equal(await alive(pid), false);
      pid = result.pid!;
      assert.equal(await fx.pidOverHttp(), pid);
    });
    await t.step("a dead edge is started again by the next install", async () => {
      killPid(pid);
      await waitFor(async () => (await alive(pid)) ? undefined : true);
      assert.equal((await edgeServiceStatus(deps, fx.spec)).running, false);
      await Deno.remove(fx.portFile);
      const result = await installEdgeService(deps, fx.spec);
      fx.started.add(result.pid!);
      assert.equal(result.started, true);
      pid = result.pid!;
      assert.equal(await fx.pidOverHttp(), pid);
    });
    await t.step("`stopEdgeService()` stops it with SIGTERM and deletes the pidfile", async () => {
      assert.deepEqual(await stopEdgeService(deps, fx.spec), {
        supervisor: "detached",
        stopped: true,
        removed: true,
      });
      assert.equal(await alive(pid), false);
      await assert.rejects(Deno.stat(fx.paths.edgePidFile), Deno.errors.NotFound);
    });
    await t.step("`removeEdgeService()` is safe twice", async () => {
      const none = { supervisor: "detached", stopped: false, removed: false };
      assert.deepEqual(await removeEdgeService(deps, fx.spec), none);
      assert.deepEqual(await removeEdgeService(deps, fx.spec), none);
    });
  },
});

Deno.test({
  name: "detached: the edge outlives the ecto process that started it",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using fx = await detachedFixture();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P=test", START_AND_EXIT, "--", ...fx.spec.program],
      cwd: REPO,
      env: { ...fx.tmp.vars, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    fx.started.add(result.pid);
    assert.equal(result.supervisor, "detached");
    assert.equal(await fx.pidOverHttp(), result.pid, "still serving after its starter exited");
    const status = await edgeServiceStatus({ ...fx.deps, supervisor: "detached" }, fx.spec);
    assert.equal(status.pid, result.pid);
  },
});

Deno.test({
  name: "detached: a stale pidfile pointing at a foreign process is never signalled",
  ignore: Deno.build.os !== "linux",
  fn: async (t) => {
    await using fx = await detachedFixture();
    const deps = { ...fx.deps, supervisor: "detached" as const };
    await using foreign = new Deno.Command("sleep", { args: ["60"], stdout: "null" }).spawn();
    await Deno.mkdir(fx.paths.stateDir, { recursive: true });

    await t.step("a record whose argv is not the process's command line", async () => {
      await Deno.writeTextFile(
        fx.paths.edgePidFile,
        JSON.stringify({
          pid: foreign.pid,
          argv: fx.spec.program,
          fingerprint: "x",
          startedAt: "",
        }),
      );
      assert.deepEqual(await edgeServiceStatus(deps, fx.spec), {
        supervisor: "detached",
        installed: true,
        running: false,
        pid: undefined,
      });
      assert.deepEqual(await stopEdgeService(deps, fx.spec), {
        supervisor: "detached",
        stopped: false,
        removed: true,
      });
      assert.equal(await alive(foreign.pid), true);
    });
    await t.step("a bare pid (argv unknown) is not trusted either", async () => {
      await Deno.writeTextFile(fx.paths.edgePidFile, `${foreign.pid}\n`);
      assert.equal((await removeEdgeService(deps, fx.spec)).stopped, false);
      assert.equal(await alive(foreign.pid), true);
    });
    await t.step(
      "an install over the stale pidfile starts our edge and leaves the foreign one",
      async () => {
        await Deno.writeTextFile(
          fx.paths.edgePidFile,
          JSON.stringify({
            pid: foreign.pid,
            argv: ["sleep", "60"],
            fingerprint: "",
            startedAt: "",
          }),
        );
        const result = await installEdgeService(deps, fx.spec);
        fx.started.add(result.pid!);
        assert.equal(result.started, true);
        assert.equal(await alive(foreign.pid), true);
        assert.equal(await fx.pidOverHttp(), result.pid);
      },
    );
    foreign.kill("SIGKILL");
    await foreign.status;
  },
});

Deno.test({
  name: "detached: an edge that ignores SIGTERM is killed after the bounded wait",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using fx = await detachedFixture(["--ignore-term"]);
    const deps = { ...fx.deps, supervisor: "detached" as const };
    const { pid } = await installEdgeService(deps, fx.spec);
    fx.started.add(pid!);
    await fx.port();
    const before = Date.now();
    const result = await stopEdgeService(deps, fx.spec, { termTimeoutMs: 400 });
    assert.equal(result.stopped, true);
    assert.ok(Date.now() - before >= 400, "waited for SIGTERM first");
    assert.equal(await alive(pid!), false);
  },
});

Deno.test({
  name: "detached: an edge that exits at once fails the install with its log",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using tmp = await tempHome();
    const paths = ectoPaths(tmp.env);
    const spec = edgeServiceSpec(paths, [
      Deno.execPath(),
      "eval",
      "console.error('no config'); Deno.exit(3)",
    ], {
      DENO_NO_UPDATE_CHECK: "1",
    });
    const deps: ServiceDeps = { $: build$({}), env: tmp.env, supervisor: "detached" };
    await assert.rejects(
      installEdgeService(deps, spec),
      (e) => e instanceof EctoError && e.code === "edge_start_failed",
    );
    assert.match(await Deno.readTextFile(paths.edgeLog), /no config/);
    await assert.rejects(Deno.stat(paths.edgePidFile), Deno.errors.NotFound);
  },
});

Deno.test({
  name:
    "detached: an edge that exits after a slow start (no ready line yet) still fails the install",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using tmp = await tempHome();
    const paths = ectoPaths(tmp.env);
    // Longer than any fixed settle would wait: only the ready-line-or-exit poll catches it.
    const spec = edgeServiceSpec(paths, [
      Deno.execPath(),
      "eval",
      "await new Promise((r) => setTimeout(r, 600)); console.error('address in use'); Deno.exit(1)",
    ], { DENO_NO_UPDATE_CHECK: "1" });
    const deps: ServiceDeps = { $: build$({}), env: tmp.env, supervisor: "detached" };
    await assert.rejects(
      installEdgeService(deps, spec),
      (e) => e instanceof EctoError && e.code === "edge_start_failed",
    );
    assert.match(await Deno.readTextFile(paths.edgeLog), /address in use/);
  },
});

Deno.test("`EDGE_READY_LINE` is what `edge run` logs once it listens", () => {
  const line = renderEventLine({
    kind: "step",
    step: "edge.listen",
    status: "done",
    detail: "The edge listens on http://127.0.0.1:1 in front of http://127.0.0.1:2.",
  });
  assert.ok(line.startsWith(EDGE_READY_LINE), line);
  assert.ok(
    !renderEventLine({ kind: "step", step: "edge.listen", status: "start" }).includes(
      EDGE_READY_LINE,
    ),
  );
});
