/**
 * `ecto test` and `ecto logs` end to end: `cli.ts` spawned under the shipped
 * permission set (network loopback only), the tailscale double first on PATH,
 * a real OpenClaw gateway with the stub LLM, after a real `ecto connect`.
 */
import assert from "node:assert/strict";
import { ectoDenoArgs, jsonOf, runEcto } from "./e2e/run_ecto.ts";
import { publicRequest, type Sandbox, startSandbox } from "./e2e/sandbox.ts";
import { stopPid } from "./harness/gateway.ts";
import { pollUntil } from "./harness/poll.ts";

const ONE_MODEL = "/v1/models/openclaw%2Fdefault";

/** The audit log's records once `done` holds (the edge flushes every 250 ms; bounded poll). */
async function auditWhen(
  sb: Sandbox,
  done: (records: Array<Record<string, unknown>>) => boolean,
): Promise<Array<Record<string, unknown>>> {
  const path = `${sb.env.ECTO_STATE_DIR}/audit.log`;
  return await pollUntil(async () => {
    const text = await Deno.readTextFile(path).catch(() => "");
    const records = text.split("\n").filter((l) => l).map((l) => JSON.parse(l));
    return done(records) && records;
  }, { what: "the records in the audit log" });
}

/** The figures, for the report (stderr: a test prints nothing else). */
function note(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text + "\n"));
}

/** Reads a child's stdout line by line. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const lines: string[] = [];
  return {
    lines,
    async until(test: (line: string) => boolean, what: string): Promise<string> {
      for (;;) {
        const found = lines.find(test);
        if (found !== undefined) return found;
        const { value, done } = await reader.read();
        assert.ok(!done, `stdout ended before ${what}:\n${lines.join("\n")}`);
        buffer += value;
        const parts = buffer.split("\n");
        buffer = parts.pop()!;
        lines.push(...parts);
      }
    },
    cancel: () => reader.cancel(),
  };
}

Deno.test({
  name: "`ecto test` sends a real chat completion; `ecto logs` shows who used it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using sb = await startSandbox();
    const env = sb.env;
    // The sandbox's own clean-up reads edge.pid as a bare number, but it is JSON: without a
    // disconnect the edge would outlive the test.
    await using _edge = {
      [Symbol.asyncDispose]: async () => void await runEcto(["disconnect", "--json"], env),
    };
    let owner = "";
    let friend = { id: "", key: "" };
    let port = 443;

    await t.step(
      "before connect: `ecto test` exits 3 and says run ecto connect first",
      async () => {
        const run = await runEcto(["test", "--json"], env);
        assert.equal(run.code, 3, run.stderr);
        const error = jsonOf(run).error as { code: string; fix: string };
        assert.equal(error.code, "not_connected");
        assert.equal(error.fix, "Run ecto connect first.");
        const human = await runEcto(["test"], env);
        assert.equal(human.code, 3);
        assert.match(human.stderr, /run ecto connect first/i);
      },
    );

    await t.step("connect", async () => {
      const run = await runEcto(["connect", "--json"], env);
      assert.equal(run.code, 0, run.stderr);
      const result = jsonOf(run);
      owner = result.token as string;
      port = result.funnelPort as number;
    });

    await t.step(
      "`ecto test --json`: the public path, the stub's answer, usage tokens",
      async () => {
        const before = sb.stub.requests.length;
        const run = await runEcto(["test", "--json"], env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const result = jsonOf(run) as {
          path: string;
          via: string;
          firstLine: string;
          ttfbMs: number;
          totalMs: number;
          stream: boolean;
          throughput: {
            tokens: number | null;
            tokenSource: string;
            tokensPerSecond: number | null;
          };
        };
        assert.equal(result.path, "public");
        assert.match(result.via, /^ECTO_CONNECT_TO target 127\.0\.0\.1:\d+$/);
        assert.equal(result.stream, false);
        assert.equal(result.firstLine, sb.stub.reply);
        assert.ok(result.ttfbMs > 0 && result.ttfbMs <= result.totalMs);
        assert.ok(sb.stub.requests.length > before, "the request reached the stub LLM");
        assert.ok(
          result.throughput.tokenSource === "usage" || result.throughput.tokenSource === "none",
        );
        assert.ok(
          !run.stdout.includes(owner) && !run.stderr.includes(owner),
          "the key is never printed",
        );
        note(
          `ecto test: ttfb ${result.ttfbMs} ms, total ${result.totalMs} ms, ${
            JSON.stringify(result.throughput)
          }`,
        );
      },
    );

    await t.step(
      "`ecto test --stream`: streamed, timed, tokens per second, first line",
      async () => {
        const run = await runEcto(["test", "--stream"], env);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /answered \(stream, model openclaw\/default\)/);
        assert.match(run.stdout, /path +public, via ECTO_CONNECT_TO target 127\.0\.0\.1:\d+/);
        assert.match(run.stdout, /time to first byte \d+/);
        assert.match(
          run.stdout,
          /throughput +[\d.]+ tokens\/s \(\d+ (completion tokens? from usage|content chunks? counted, no usage)/,
        );
        assert.ok(run.stdout.includes(`answer             ${sb.stub.reply}`), run.stdout);
        const streamed = sb.stub.requests.at(-1)!.body as { stream?: boolean };
        assert.equal(streamed.stream, true, "the gateway asked the model for a stream");
        const js = await runEcto(["test", "--stream", "--json"], env);
        assert.equal(js.code, 0, js.stderr);
        const doc = jsonOf(js) as { stream: boolean; firstContentMs?: number; ttfbMs: number };
        assert.equal(doc.stream, true);
        note(`ecto test --stream: ${JSON.stringify(doc)}`);
      },
    );

    await t.step("a stale key in the credentials file: exit 1, layer edge, 401, fix", async () => {
      const file = `${sb.home}/.openclaw/ecto-credentials.json`;
      const original = await Deno.readTextFile(file);
      const creds = JSON.parse(original);
      await Deno.writeTextFile(
        file,
        JSON.stringify({ ...creds, token: "ecto_not_a_real_key_000000000000" }),
      );
      try {
        const run = await runEcto(["test", "--json"], env);
        assert.equal(run.code, 1, run.stdout);
        const doc = jsonOf(run) as {
          ok: boolean;
          layer: string;
          status: number;
          error: { code: string; fix: string };
        };
        assert.equal(doc.ok, false);
        assert.equal(doc.layer, "edge");
        assert.equal(doc.status, 401);
        assert.equal(doc.error.code, "test_edge_unauthorized");
        assert.match(doc.error.fix, /ecto connect/);
      } finally {
        await Deno.writeTextFile(file, original);
      }
    });

    await t.step("a few requests from a friend's key and from no key", async () => {
      const add = await runEcto(["keys", "add", "friend-phone", "--yes", "--json"], env);
      assert.equal(add.code, 0, add.stderr);
      friend = jsonOf(add) as { id: string; key: string };
      assert.equal((await publicRequest(sb, port, "/v1/models", { key: friend.key })).status, 200);
      assert.equal((await publicRequest(sb, port, ONE_MODEL, { key: friend.key })).status, 200);
      assert.equal((await publicRequest(sb, port, "/v1/models")).status, 401);
      // Not an OpenAI route: refused before the key is looked at, so logged without a key.
      assert.equal(
        (await publicRequest(sb, port, "/tools/invoke", { key: friend.key })).status,
        404,
      );
      await auditWhen(
        sb,
        (records) =>
          records.filter((r) => r.keyName === "friend-phone").length >= 2 &&
          records.some((r) => r.status === 401 && r.keyId === undefined) &&
          records.some((r) => r.status === 404 && r.path === "/tools/invoke"),
      );
    });

    await t.step("`ecto logs` shows the rows with key names and statuses", async () => {
      const run = await runEcto(["logs"], env);
      assert.equal(run.code, 0, run.stderr);
      const [header, ...rows] = run.stdout.trimEnd().split("\n");
      assert.match(header!, /^TIME \(UTC\) +KEY +CLIENT +METHOD +PATH +STATUS +DURATION +TOKENS$/);
      const row = (name: string, method: string, path: string, status: number) =>
        rows.some((r) => {
          const cells = r.split(/ {2,}/);
          // time, key, client, method, path, status, duration, tokens
          return cells[1] === name && cells[3] === method && cells[4] === path &&
            cells[5] === String(status);
        });
      assert.ok(row("owner", "POST", "/v1/chat/completions", 200), run.stdout);
      assert.ok(row("owner", "GET", "/v1/models", 200), run.stdout);
      assert.ok(row("friend-phone", "GET", "/v1/models", 200), run.stdout);
      assert.ok(row("friend-phone", "GET", ONE_MODEL, 200), run.stdout);
      assert.ok(row("–", "GET", "/v1/models", 401), run.stdout);
      assert.ok(row("–", "POST", "/v1/chat/completions", 401), run.stdout);
      assert.ok(row("–", "GET", "/tools/invoke", 404), run.stdout);
      assert.ok(!run.stdout.includes(owner) && !run.stdout.includes(friend.key), "no secret");
      assert.match(run.stderr, /^\d+ requests/);
    });

    await t.step(
      "`ecto logs --key` filters by id and by name; --json prints lines unchanged",
      async () => {
        const byName = await runEcto(["logs", "--key", "friend-phone", "--json"], env);
        assert.equal(byName.code, 0, byName.stderr);
        const lines = byName.stdout.trimEnd().split("\n");
        assert.equal(lines.length, 2, byName.stdout);
        const records = lines.map((l) => JSON.parse(l));
        assert.ok(records.every((r) => r.keyId === friend.id && r.keyName === "friend-phone"));
        const file = await Deno.readTextFile(`${env.ECTO_STATE_DIR}/audit.log`);
        for (const line of lines) assert.ok(file.includes(line + "\n"), "unchanged");
        const byId = await runEcto(["logs", "--key", friend.id, "--json"], env);
        assert.equal(byId.stdout, byName.stdout);
        const none = await runEcto(["logs", "--key", "nobody", "--since", "1h"], env);
        assert.equal(none.code, 0);
        assert.equal(none.stdout.trimEnd().split("\n").length, 1, "only the header");
        const bad = await runEcto(["logs", "--since", "yesterday"], env);
        assert.equal(bad.code, 2, bad.stderr);
      },
    );

    await t.step(
      "`ecto logs --follow` prints new requests as they come, until SIGTERM",
      async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ectoDenoArgs(["logs", "--follow", "--key", "friend-phone"]),
          env: { NO_COLOR: "1", ...env },
          clearEnv: true,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        // A bound, not a synchronisation: a follower that never prints fails instead of hanging.
        const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
        const out = lineReader(child.stdout);
        const friendModels = () =>
          out.lines.filter((l) => l.split(/ {2,}/)[4] === "/v1/models").length;
        try {
          await out.until((l) => l.startsWith("TIME (UTC)"), "the header");
          await out.until((l) => l.includes(ONE_MODEL), "the history");
          assert.equal(friendModels(), 1);
          assert.equal(
            (await publicRequest(sb, port, "/v1/models", { key: friend.key })).status,
            200,
          );
          await out.until(() => friendModels() === 2, "the new row");
          // The owner's requests are filtered out while following, too.
          assert.equal((await publicRequest(sb, port, "/v1/models", { key: owner })).status, 200);
          assert.equal(
            (await publicRequest(sb, port, "/v1/models", { key: friend.key })).status,
            200,
          );
          await out.until(() => friendModels() === 3, "the second new row");
          assert.ok(
            out.lines.slice(1).every((l) => l.split(/ {2,}/)[1] === "friend-phone"),
            out.lines.join("\n"),
          );
        } finally {
          child.kill("SIGTERM");
          const status = await child.status;
          clearTimeout(guard);
          await out.cancel().catch(() => {});
          const stderr = await new Response(child.stderr).text();
          assert.equal(status.code, 0, `logs --follow ended badly on SIGTERM: ${stderr}`);
          assert.match(stderr, /requests/);
        }
      },
    );

    await t.step("no answer in time: exit 1, layer timeout, with its fix", async () => {
      const run = await runEcto(["test", "--json", "--timeout", "0.001"], env);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const doc = jsonOf(run) as { layer: string; error: { code: string; fix: string } };
      assert.equal(doc.layer, "timeout");
      assert.match(doc.error.fix, /--timeout/);
    });

    await t.step(
      "the gateway down: exit 1, layer gateway, the edge's 5xx, with its fix",
      async () => {
        // Only the process: `gateway.stop()` also removes the sandbox's HOME.
        await stopPid(sb.gateway.pid);
        const run = await runEcto(["test"], env);
        assert.equal(run.code, 1, run.stdout + run.stderr);
        assert.match(run.stderr, /Gateway: the request failed upstream \(5\d\d/);
        assert.match(run.stderr, /ecto connect --restart/);
        const js = await runEcto(["test", "--json"], env);
        const doc = jsonOf(js) as { layer: string; status: number };
        assert.equal(doc.layer, "gateway");
        assert.ok(doc.status >= 500 && doc.status < 600, String(doc.status));
      },
    );
  },
});
