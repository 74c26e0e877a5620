/**
 * One command's reads of Tailscale (`lib/tailscale/probe.ts`) and what a caller that already
 * read the state skips (`enableFunnel`, `login`): a fake `tailscale` script on a temp PATH logs
 * every run, so each test counts the processes, replying from the recorded fixtures.
 */
import assert from "node:assert/strict";
import { build$, type CommandContext, type ExecuteResult } from "dax";
import { MissingPrerequisiteError } from "../lib/core/errors.ts";
import {
  cliFromInstall,
  enableFunnel,
  login,
  parseServeConfig,
  parseStatusJson,
  tailscaleCli,
  tailscaleProbe,
} from "../lib/tailscale/mod.ts";

const fixtures = new URL("./fixtures/tailscale/", import.meta.url).pathname;
const EDGE = "http://127.0.0.1:18795";

/** A temp dir with `bin/tailscale`: logs its argv to `runs.log`, answers from fixtures. */
async function fakeCli(): Promise<AsyncDisposable & { bin: string; runs(): Promise<string[]> }> {
  const dir = await Deno.makeTempDir({ prefix: "ecto-probe-test-" });
  await Deno.mkdir(`${dir}/bin`);
  const log = `${dir}/runs.log`;
  await Deno.writeTextFile(
    `${dir}/bin/tailscale`,
    [
      "#!/bin/sh",
      `echo "$*" >> '${log}'`,
      'case "$1" in',
      `  version) cat '${fixtures}version_json.txt' ;;`,
      `  status) cat '${fixtures}status_running.json' ;;`,
      `  funnel) cat '${fixtures}serve_one_funnel.json' ;;`,
      '  *) echo "unexpected $*" >&2; exit 1 ;;',
      "esac",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return {
    bin: `${dir}/bin`,
    runs: async () => {
      try {
        return (await Deno.readTextFile(log)).split("\n").filter(Boolean);
      } catch {
        return [];
      }
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function probeFor(path: string) {
  const $ = build$({});
  return tailscaleProbe({
    $,
    env: (name) => ({ PATH: path } as Record<string, string>)[name],
    os: "linux",
    cli: (install) => cliFromInstall(install, { $ }),
  });
}

Deno.test({
  name:
    "`tailscaleProbe()` runs version, status and the serve config once each, however often they are read",
  ignore: Deno.build.os === "windows",
  fn: async (t) => {
    await using fake = await fakeCli();
    const reads = probeFor(fake.bin);
    await t.step("prefetch and repeated reads: three processes", async () => {
      reads.prefetch();
      const [install, status, config] = await Promise.all([
        reads.install(),
        reads.status(),
        reads.serveConfig(),
        reads.status(),
        reads.serveConfig(),
      ]);
      assert.equal(install?.path, `${fake.bin}/tailscale`);
      assert.equal(install?.version?.short, "1.102.3");
      assert.equal(status.dnsName, "build-box.tail1234.ts.net");
      assert.ok(config.allowFunnel.has("build-box.tail1234.ts.net:443"));
      await reads.status();
      assert.deepEqual((await fake.runs()).sort(), [
        "funnel status --json",
        "status --json",
        "version --json",
      ]);
    });
    await t.step("forget('serve') asks for the serve config again, and only for it", async () => {
      reads.forget("serve");
      await Promise.all([reads.serveConfig(), reads.status(), reads.install()]);
      assert.equal((await fake.runs()).filter((r) => r === "funnel status --json").length, 2);
      assert.equal((await fake.runs()).length, 4);
    });
    await t.step("knowStatus() answers without a process", async () => {
      reads.forget("status");
      const known = parseStatusJson(
        await Deno.readTextFile(`${fixtures}status_running.json`),
      );
      reads.knowStatus(known);
      assert.equal(await reads.status(), known);
      assert.equal((await fake.runs()).length, 4);
    });
  },
});

Deno.test("`tailscaleProbe()` without a CLI: no install, a missing-prerequisite status, nothing unhandled", async () => {
  const empty = await Deno.makeTempDir({ prefix: "ecto-probe-empty-" });
  try {
    const reads = probeFor(empty);
    reads.prefetch();
    assert.equal(await reads.install(), undefined);
    await assert.rejects(reads.status(), MissingPrerequisiteError);
    await assert.rejects(reads.serveConfig(), MissingPrerequisiteError);
  } finally {
    await Deno.remove(empty);
  }
});

type Handler = (ctx: CommandContext) => Promise<ExecuteResult> | ExecuteResult;

/** A registered `tailscale` that records its calls and prints `configFile` as the serve config. */
function registered(configFile: string) {
  const calls: string[] = [];
  const handler: Handler = async (ctx) => {
    calls.push(ctx.args.join(" "));
    if (ctx.args[0] === "funnel" && ctx.args[1] === "status") {
      await ctx.stdout.writeText(await Deno.readTextFile(`${fixtures}${configFile}`));
      return { code: 0 };
    }
    if (ctx.args[0] === "status") {
      await ctx.stdout.writeText(await Deno.readTextFile(`${fixtures}status_running.json`));
      return { code: 0 };
    }
    return ctx.error(1, `unexpected ${ctx.args.join(" ")}`);
  };
  const cli = tailscaleCli({
    $: build$({ commandBuilder: (b) => b.registerCommands({ tailscale: handler }) }),
    path: "tailscale",
    platform: { os: "linux", variant: "linux" },
  });
  return { cli, calls };
}

Deno.test("`enableFunnel()` with the state already read: no process when the route is there, a fresh read before any write", async (t) => {
  const status = parseStatusJson(await Deno.readTextFile(`${fixtures}status_running.json`));
  const withRoute = parseServeConfig(await Deno.readTextFile(`${fixtures}serve_one_funnel.json`));
  const empty = parseServeConfig(await Deno.readTextFile(`${fixtures}serve_empty.json`));
  await t.step("the route is in what was read: nothing runs", async () => {
    const { cli, calls } = registered("serve_one_funnel.json");
    const route = await enableFunnel(cli, { target: EDGE, status, config: withRoute });
    assert.equal(route.changed, false);
    assert.deepEqual(calls, []);
  });
  await t.step("what was read lacks it: the serve config is read again first", async () => {
    // Meanwhile the route appeared (e.g. another ecto run): no write, no duplicate.
    const { cli, calls } = registered("serve_one_funnel.json");
    const route = await enableFunnel(cli, { target: EDGE, status, config: empty });
    assert.equal(route.changed, false);
    assert.deepEqual(calls, ["funnel status --json"]);
  });
});

Deno.test("`login()` with the status already read runs nothing when Tailscale is logged in", async () => {
  const status = parseStatusJson(await Deno.readTextFile(`${fixtures}status_running.json`));
  const { cli, calls } = registered("serve_empty.json");
  const result = await login(cli, { status, noWait: true });
  assert.equal(result.changed, false);
  assert.deepEqual(calls, []);
});
