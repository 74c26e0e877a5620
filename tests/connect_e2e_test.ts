/**
 * The whole job, end to end: `cli.ts` spawned for real under the permission
 * set the binary ships with, the tailscale test double first on PATH, a real
 * OpenClaw gateway with the stub LLM. One gateway is shared by the steps (a
 * cold start costs 20–30 s), so the steps run in the order a user meets them.
 */
import assert from "node:assert/strict";
import { ectoDenoArgs, jsonOf, repoRoot, runEcto } from "./e2e/run_ecto.ts";
import { publicRequest, type Sandbox, startSandbox } from "./e2e/sandbox.ts";
import { pollUntil } from "./harness/poll.ts";

/** The process's state and command line from `ps` (a zombie counts as gone). */
async function processInfo(pid: number): Promise<{ alive: boolean; command: string }> {
  const out = await new Deno.Command("ps", {
    args: ["-ww", "-o", "stat=,command=", "-p", String(pid)],
  })
    .output();
  const line = new TextDecoder().decode(out.stdout).trim();
  return { alive: out.code === 0 && line !== "" && !line.startsWith("Z"), command: line };
}

async function edgePid(sb: Sandbox): Promise<number | undefined> {
  const run = await runEcto(["status", "--json", "--no-public"], sb.env);
  const edge = (jsonOf(run).layers as Array<{ name: string; details: { pid?: number } }>)
    .find((l) => l.name === "edge");
  return edge?.details.pid;
}

const FOREIGN = {
  TCP: { "443": { HTTPS: true } },
  Web: {
    "build-box.tail1234.ts.net:443": { Handlers: { "/": { Proxy: "http://127.0.0.1:3000" } } },
  },
};

Deno.test({
  name: "`ecto connect` takes a machine from nothing to a proven public URL, and back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using sb = await startSandbox({
      double: { backendState: "NeedsLogin", funnelAttr: false },
    });
    const configBefore = await Deno.readTextFile(sb.gateway.configPath);
    // The skill's scripts fall back to `deno run` when no ecto binary is around.
    const env: Record<string, string> = {
      ...sb.env,
      PATH: `${sb.env.PATH}:${Deno.execPath().replace(/\/[^/]+$/, "")}`,
    };
    let token = "";
    let url = "";

    await t.step(
      "status before connect exits 1 with the first broken layer and its fix",
      async () => {
        const run = await runEcto(["status", "--json", "--no-public"], env);
        assert.equal(run.code, 1, run.stderr);
        const report = jsonOf(run);
        assert.equal(report.ok, false);
        const first = report.firstProblem as { layer: string; fix?: string };
        assert.equal(first.layer, "tailscale");
        assert.ok(first.fix, "a fix is given");
      },
    );

    await t.step("login needed: exit 3 with the login URL, nothing configured", async () => {
      const run = await runEcto(["connect", "--json"], env);
      assert.equal(run.code, 3, run.stderr);
      const error = jsonOf(run).error as { code: string; url?: string; message: string };
      assert.match(error.url ?? "", /^https:\/\/login\.tailscale\.com\/a\//);
      // The URL was also an event on stderr, as a JSON line, the moment it was printed.
      assert.ok(
        run.stderr.split("\n").some((l) =>
          l.includes('"event":"action"') && l.includes(error.url!)
        ),
      );
      assert.deepEqual(await sb.tailscale.serveConfig(), {});
      assert.equal(await Deno.readTextFile(sb.gateway.configPath), configBefore);
    });

    await t.step(
      "Funnel not allowed: exit 3 with the enable URL, nothing half-configured",
      async () => {
        await sb.tailscale.approveLogin();
        const run = await runEcto(["connect", "--json"], env);
        assert.equal(run.code, 3, run.stderr);
        const error = jsonOf(run).error as { code: string; url?: string };
        assert.equal(error.code, "funnel_not_enabled");
        assert.match(error.url ?? "", /^https:\/\/login\.tailscale\.com\/f\/funnel\?node=/);
        assert.deepEqual(await sb.tailscale.serveConfig(), {});
        assert.equal(await Deno.readTextFile(sb.gateway.configPath), configBefore);
        await assert.rejects(Deno.stat(`${sb.home}/.openclaw/ecto-credentials.json`));
      },
    );

    await t.step(
      "443 carries a foreign route: 8443 is used, the foreign route untouched",
      async () => {
        await sb.tailscale.enableFunnel();
        await sb.tailscale.setServeConfig(FOREIGN);
        const run = await runEcto(["connect", "--json"], env);
        assert.equal(run.code, 0, run.stderr);
        const result = jsonOf(run);
        assert.equal(result.ok, true);
        assert.equal(result.funnelPort, 8443);
        assert.equal(result.url, "https://build-box.tail1234.ts.net:8443");
        assert.equal(result.endpoint, "https://build-box.tail1234.ts.net:8443/v1/chat/completions");
        assert.equal(result.model, "openclaw/default");
        assert.equal((result.proof as { path: string }).path, "public");
        // ECTO_CONNECT_TO replaced the DNS step: the proof asked no resolver.
        assert.equal(
          (result.proof as { publicDns: { source: string } }).publicDns.source,
          "connect-to",
        );
        token = result.token as string;
        url = result.url as string;
        assert.match(token, /^ecto_/);
        assert.ok(!run.stderr.includes(token), "the key never reaches the progress stream");

        const config = await sb.tailscale.serveConfig();
        assert.deepEqual(
          config.Web?.["build-box.tail1234.ts.net:443"],
          FOREIGN.Web["build-box.tail1234.ts.net:443"],
        );
        assert.equal(config.AllowFunnel?.["build-box.tail1234.ts.net:443"], undefined);
        assert.equal(config.AllowFunnel?.["build-box.tail1234.ts.net:8443"], true);

        const creds = JSON.parse(
          await Deno.readTextFile(`${sb.home}/.openclaw/ecto-credentials.json`),
        );
        assert.deepEqual(Object.keys(creds), [
          "token",
          "url",
          "port",
          "created",
          "endpoint",
          "model",
        ]);
        assert.equal(creds.token, token);
        assert.equal(creds.url, url);
        assert.equal(creds.port, sb.gateway.port);
        const mode = (await Deno.stat(`${sb.home}/.openclaw/ecto-credentials.json`)).mode! & 0o777;
        assert.equal(mode, 0o600);
        const stateMode = (await Deno.stat(sb.env.ECTO_STATE_DIR!)).mode! & 0o777;
        assert.equal(stateMode, 0o700);
      },
    );

    await t.step(
      "a real chat completion over HTTPS through Funnel reaches the stub LLM",
      async () => {
        const response = await publicRequest(sb, 8443, "/v1/chat/completions", {
          key: token,
          headers: {
            "content-type": "application/json",
            "x-openclaw-session-key": "agent:main:main",
          },
          body: JSON.stringify({
            model: "openclaw/default",
            messages: [{ role: "user", content: "Hello!" }],
          }),
        });
        assert.equal(response.status, 200, response.body);
        assert.equal(JSON.parse(response.body).choices[0].message.content, sb.stub.reply);
        const seen = sb.stub.requests.at(-1)!;
        assert.equal(seen.headers.get("x-openclaw-session-key"), null);
        const unauth = await publicRequest(sb, 8443, "/v1/models");
        assert.equal(unauth.status, 401);
        const tools = await publicRequest(sb, 8443, "/tools/invoke", { key: token, body: "{}" });
        assert.equal(tools.status, 404);
      },
    );

    await t.step("the edge holds no secret in its argv", async () => {
      const pid = await edgePid(sb);
      assert.ok(pid, "the edge has a pid");
      const { alive, command: argv } = await processInfo(pid!);
      assert.ok(alive);
      assert.match(argv, /edge run/);
      assert.ok(!argv.includes(token));
      assert.ok(!argv.includes(sb.gateway.token!));
    });

    await t.step(
      "connecting again changes nothing, proves again, prints the same summary",
      async () => {
        const run = await runEcto(["connect", "--json"], env);
        assert.equal(run.code, 0, run.stdout + run.stderr); // --json: the error is on stdout
        const result = jsonOf(run);
        assert.deepEqual(result.changed, []);
        assert.equal(result.token, token);
        assert.equal(result.url, url);
        assert.equal((result.proof as { path: string }).path, "public");
      },
    );

    await t.step(
      "status holds on every layer and shows at most 8 characters of the key",
      async () => {
        const run = await runEcto(["status", "--json"], env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const report = jsonOf(run);
        assert.equal(report.ok, true);
        const names = (report.layers as Array<{ name: string; ok: boolean }>).map((l) => l.name);
        assert.deepEqual(names, [
          "exposure",
          "tailscale",
          "funnel",
          "edge",
          "gateway",
          "credentials",
          "public",
        ]);
        assert.ok(!run.stdout.includes(token));
        assert.match(run.stdout, /ecto_.{0,3}…/);
        const human = await runEcto(["status"], env);
        assert.equal(human.code, 0);
        assert.match(human.stdout, /All layers hold/);
        assert.ok(!human.stdout.includes(token));
      },
    );

    await t.step("--restart restarts the edge without touching Tailscale", async () => {
      const before = await edgePid(sb);
      const configBefore = JSON.stringify(await sb.tailscale.serveConfig());
      const run = await runEcto(["connect", "--restart", "--json"], env);
      assert.equal(run.code, 0, run.stdout + run.stderr); // --json: the error is on stdout
      const after = await edgePid(sb);
      assert.notEqual(after, before);
      assert.equal(JSON.stringify(await sb.tailscale.serveConfig()), configBefore);
    });

    await t.step("--regenerate-token: the old key gets 401, the new one 200", async () => {
      const run = await runEcto(["connect", "--regenerate-token", "--json"], env);
      assert.equal(run.code, 0, run.stdout + run.stderr); // --json: the error is on stdout
      const fresh = jsonOf(run).token as string;
      assert.notEqual(fresh, token);
      const old = await publicRequest(sb, 8443, "/v1/models", { key: token });
      assert.equal(old.status, 401);
      const ok = await publicRequest(sb, 8443, "/v1/models", { key: fresh });
      assert.equal(ok.status, 200);
      token = fresh;
    });

    await t.step("a friend's key works until it is revoked", async () => {
      // The first such key needs ecto's confined agent, which changes openclaw/default for
      // direct gateway clients: without a terminal or --yes ecto says so and stops (exit 3).
      const asked = await runEcto(["keys", "add", "friend", "--json"], env);
      assert.equal(asked.code, 3, asked.stderr);
      assert.equal((jsonOf(asked).error as { code: string }).code, "confined_agent_consent");
      const add = await runEcto(["keys", "add", "friend", "--yes", "--json"], env);
      assert.equal(add.code, 0, add.stderr);
      const friend = jsonOf(add) as { id: string; key: string; agent: string };
      assert.equal(friend.agent, "ecto-guest");
      const ok = await publicRequest(sb, 8443, "/v1/models", { key: friend.key });
      assert.equal(ok.status, 200);
      assert.ok(!ok.body.includes("openclaw/main"), "only the key's own agent is listed");
      const list = await runEcto(["keys", "list", "--json"], env);
      assert.ok(!list.stdout.includes(friend.key), "the list never shows a secret");
      const revoke = await runEcto(["keys", "revoke", friend.id, "--json"], env);
      assert.equal(revoke.code, 0, revoke.stderr);
      const gone = await publicRequest(sb, 8443, "/v1/models", { key: friend.key });
      assert.equal(gone.status, 401);
    });

    await t.step("the skill's scripts run with no terminal and --json", async () => {
      for (const script of ["status.sh", "connect.sh"]) {
        const out = await new Deno.Command("bash", {
          args: [`${repoRoot}scripts/${script}`, "--json"],
          env,
          clearEnv: true,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stdout = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 0, `${script}: ${new TextDecoder().decode(out.stderr)}`);
        assert.equal(JSON.parse(stdout).ok, true);
      }
    });

    await t.step(
      "disconnect removes our route and the edge, leaves the foreign route",
      async () => {
        const pid = await edgePid(sb);
        const run = await runEcto(["disconnect", "--json"], env);
        assert.equal(run.code, 0, run.stderr);
        const config = await sb.tailscale.serveConfig();
        assert.deepEqual(config, FOREIGN);
        assert.ok(pid && !(await processInfo(pid)).alive, "the edge process is gone");
        const status = await runEcto(["status", "--json", "--no-public"], env);
        assert.equal(status.code, 1);
        assert.equal((jsonOf(status).firstProblem as { layer: string }).layer, "funnel");
        // Keys and gateway settings stay for a quick reconnect.
        assert.ok(await Deno.stat(`${sb.home}/.openclaw/ecto-credentials.json`));
      },
    );

    await t.step("disconnect again is safe", async () => {
      const run = await runEcto(["disconnect", "--json"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(jsonOf(run).actions, []);
      assert.deepEqual(await sb.tailscale.serveConfig(), FOREIGN);
    });

    await t.step(
      "--purge restores the gateway settings and deletes keys and credentials",
      async () => {
        const run = await runEcto(["disconnect", "--purge", "--json"], env);
        assert.equal(run.code, 0, run.stderr);
        const models = await fetch(`${sb.gateway.url}/v1/models`, {
          headers: { authorization: `Bearer ${sb.gateway.token}` },
        });
        await models.body?.cancel();
        assert.equal(models.status, 404, "chat completions are off again");
        await assert.rejects(Deno.stat(`${sb.home}/.openclaw/ecto-credentials.json`));
        await assert.rejects(Deno.stat(`${sb.env.ECTO_STATE_DIR}/keys.json`));
        const config = await Deno.readTextFile(sb.gateway.configPath);
        assert.ok(!config.includes("ecto-guest"), "ecto's confined agent is gone");
      },
    );

    await t.step(
      "Ctrl-C during connect leaves nothing half written; re-running finishes",
      async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ectoDenoArgs(["connect", "--json"]),
          env,
          clearEnv: true,
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        // Interrupt inside the patch: ecto says (a JSON progress line on stderr) that it starts
        // changing the gateway settings, and writes the snapshot right before the slow CLI call.
        const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
        let said = "";
        while (!/"step":"openclaw\.configure","status":"start"/.test(said)) {
          const { value, done } = await lines.read();
          assert.ok(!done, `connect ended before configuring OpenClaw:\n${said}`);
          said += value;
        }
        const snapshot = `${env.ECTO_STATE_DIR}/openclaw-snapshot.json`;
        // Bounded, not timed: the snapshot comes within ms on a quiet machine, seconds under load.
        await pollUntil(() => Deno.stat(snapshot).then(() => true, () => false), {
          timeoutMs: 60_000,
          intervalMs: 10,
          what: "the snapshot after the configure step started",
        });
        child.kill("SIGINT");
        const interrupted = await child.status;
        await lines.cancel();
        assert.equal(interrupted.success, false, "connect was interrupted, not finished");
        for (const entry of Deno.readDirSync(env.ECTO_STATE_DIR!)) {
          assert.ok(!entry.name.endsWith(".tmp"), `half-written ${entry.name}`);
        }
        const run = await runEcto(["connect", "--json"], env);
        assert.equal(run.code, 0, run.stderr);
        assert.equal((jsonOf(run).proof as { path: string }).path, "public");
        const purge = await runEcto(["disconnect", "--purge", "--json"], env);
        assert.equal(purge.code, 0, purge.stderr);
        assert.deepEqual(await sb.tailscale.serveConfig(), FOREIGN);
      },
    );

    await t.step("no DNS was asked: the loopback stub resolver saw no question", () => {
      assert.deepEqual(sb.dns.questions, []);
    });
  },
});
