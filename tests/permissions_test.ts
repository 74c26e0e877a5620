import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import {
  E2E_PERMISSIONS,
  ECTO_PERMISSIONS,
  permissionFlags,
  type PermissionSet,
  TEST_PERMISSIONS,
} from "./e2e/permissions.ts";

const root = new URL("../", import.meta.url).pathname;
const LOOPBACK = ["127.0.0.1", "localhost", "[::1]"];

/** The permission flags of one `deno …` command line (quotes removed). */
function flagsOf(command: string): string[] {
  return command.split(/\s+/).map((w) => w.replace(/^'|'$/g, "").replace(/^"|"$/g, ""))
    .filter((w) => /^(--allow-|--deny-|-A$|-P|--permission-set)/.test(w));
}

Deno.test("the test permission set lets `net` reach loopback only; e2e narrows the binary's set the same way", () => {
  assert.deepEqual(TEST_PERMISSIONS.net, LOOPBACK);
  assert.equal(ECTO_PERMISSIONS.net, true, "the binary must reach public DNS and its public URL");
  const { net: _e2eNet, ...e2eRest } = E2E_PERMISSIONS;
  const { net: _ectoNet, ...ectoRest } = ECTO_PERMISSIONS;
  assert.deepEqual(e2eRest, ectoRest, "only net differs from the binary's set");
  assert.deepEqual(E2E_PERMISSIONS.net, LOOPBACK);
});

Deno.test("every task, the skill's script and the release workflow spell deno.json's permission sets as flags, never -P", async (t) => {
  const tasks = denoJson.tasks as Record<string, string>;
  const expect = (set: PermissionSet) => permissionFlags(set);
  const cases: Array<[string, string, PermissionSet]> = [];
  for (const [name, line] of Object.entries(tasks)) {
    for (const command of line.split("&&").map((c) => c.trim())) {
      if (!/^deno (run|test|compile)\b/.test(command)) continue;
      cases.push([
        `task ${name}: ${command.slice(0, 60)}…`,
        command,
        /cli\.ts\b/.test(command) ? ECTO_PERMISSIONS : TEST_PERMISSIONS,
      ]);
    }
  }
  const script = await Deno.readTextFile(`${root}scripts/_ecto.sh`);
  const denoLine = script.split("\n").find((l) => /exec "\$deno_bin" run/.test(l));
  assert.ok(denoLine, "scripts/_ecto.sh runs cli.ts with deno");
  cases.push(["scripts/_ecto.sh", denoLine, ECTO_PERMISSIONS]);
  const release = await Deno.readTextFile(`${root}.github/workflows/release.yml`);
  const compile = release.split("\n").find((l) => /run: deno compile /.test(l));
  assert.ok(compile, "the release workflow compiles ecto");
  cases.push(["release workflow", compile, ECTO_PERMISSIONS]);
  assert.ok(cases.length >= 8, `found ${cases.length} deno commands`);
  for (const [name, command, set] of cases) {
    await t.step(name, () => assert.deepEqual(flagsOf(command), expect(set)));
  }
});

/** Runs `deno` with `args` from the repository root; returns stderr and the exit code. */
async function deno(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("documented commands print no experimental-feature warning", async (t) => {
  await t.step("deno task ecto --version", async () => {
    const run = await deno(["task", "ecto", "--version"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(denoJson.version.replaceAll(".", "\\.")));
    assert.doesNotMatch(run.stderr, /experimental|Warning/i);
  });
  await t.step("scripts/status.sh --help (deno fallback)", async () => {
    const out = await new Deno.Command("bash", {
      args: [`${root}scripts/status.sh`, "--help"],
      env: {
        NO_COLOR: "1",
        DENO: Deno.execPath(),
        PATH: "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/",
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(new TextDecoder().decode(out.stdout), /Usage: ecto/);
    assert.doesNotMatch(stderr, /experimental|Warning/i);
  });
});

Deno.test("the test permission set refuses a non-loopback address before a packet is sent", async (t) => {
  // A child under exactly the flags (and --no-prompt, so nobody can say yes):
  // Deno checks the permission before it creates a socket, so nothing is sent.
  const probe = `
import { request } from "node:https";
// Never dial unless the flags really refuse it (e.g. were they ignored?).
const state = (await Deno.permissions.query({ name: "net", host: "192.0.2.1:443" })).state;
if (state === "granted") {
  console.log(JSON.stringify(["net to 192.0.2.1 is granted"]));
  Deno.exit(0);
}
const results = [];
const attempt = async (what, f) => {
  try { await f(); results.push(what + ": allowed"); }
  catch (e) { results.push(what + ": " + e.name); }
};
await attempt("connect 192.0.2.1:443", () => Deno.connect({ hostname: "192.0.2.1", port: 443 }));
await attempt("resolveDns via 1.1.1.1", () =>
  Deno.resolveDns("example.com", "A", { nameServer: { ipAddr: "1.1.1.1", port: 53 } }));
await attempt("node:https 192.0.2.1", () => new Promise((resolve, reject) => {
  const req = request({ host: "192.0.2.1", port: 443, servername: "example.com" }, resolve);
  req.on("error", reject);
  req.end();
}));
console.log(JSON.stringify(results));
`;
  const dir = await Deno.makeTempDir({ prefix: "ecto-guard-" });
  const file = `${dir}/probe.js`;
  await Deno.writeTextFile(file, probe);
  for (const [name, set] of [["test", TEST_PERMISSIONS], ["e2e", E2E_PERMISSIONS]] as const) {
    await t.step(`${name} set`, async () => {
      const run = await deno(["run", "--no-config", "--no-prompt", ...permissionFlags(set), file]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), [
        "connect 192.0.2.1:443: NotCapable",
        "resolveDns via 1.1.1.1: NotCapable",
        "node:https 192.0.2.1: NotCapable",
      ]);
    });
  }
  await Deno.remove(dir, { recursive: true });
});
