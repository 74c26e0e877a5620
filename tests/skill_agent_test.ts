/**
 * The skill as OpenClaw's own agent runs it. A real gateway, the skill
 * installed with `openclaw skills install` into the workspace skills folder,
 * the tailscale double, and a scripted model (tests/harness/agent_llm.ts) that
 * reads SKILL.md from the location OpenClaw lists and makes the `exec` and
 * `process` calls it prescribes. The owner chats through `/v1/chat/completions`
 * with the gateway token; the assertions are on what OpenClaw really did: the
 * prompt it built, the tools it ran, the results it handed the model.
 *
 * What gets installed: `ECTO_SKILL_SOURCE` when set (the release workflow
 * points it at the unpacked skill bundle: SKILL.md, scripts, the binary);
 * else, with `ECTO_BIN` set, SKILL.md and scripts with that binary beside
 * them, as in the bundle; else the source tree, which `scripts/_ecto.sh`
 * runs with Deno.
 */
import assert from "node:assert/strict";
import { ensureOpenClaw } from "./harness/openclaw_install.ts";
import { freePort, type Gateway, gatewayLimitsEnv, startGateway } from "./harness/gateway.ts";
import { startStubLlm, type StubLlm } from "./harness/stub_llm.ts";
import {
  baseDirOf,
  type ChatMessage,
  intentOf,
  listedSkill,
  messageText,
  pollOutput,
  readOutcome,
  sessionOutcome,
  type SkillAgent,
  skillAgent,
  toolCalls,
  transcript,
} from "./harness/agent_llm.ts";
import { connectOperator } from "./harness/operator_client.ts";
import { TailscaleDouble } from "./tailscale_double/control.ts";
import { passThroughEnv } from "./e2e/sandbox.ts";
import { funnelRequest } from "./tailscale_double/https_client.ts";
import { ectoBin, repoRoot, runEcto } from "./e2e/run_ecto.ts";

const SKILL = "ecto-connection";
/** What a source checkout brings for `_ecto.sh`'s Deno fallback. */
const SOURCE_FILES = ["SKILL.md", "README.md", "deno.json", "deno.lock", "cli.ts", "mod.ts"];
const SOURCE_DIRS = ["lib", "scripts"];

interface World extends AsyncDisposable {
  home: string;
  skillDir: string;
  gateway: Gateway;
  stub: StubLlm;
  tailscale: TailscaleDouble;
  agent: SkillAgent;
  /** The environment ecto runs with inside the agent's exec (for the test's own checks). */
  ectoEnv: Record<string, string>;
}

/** Copies what a user installs: the source tree, or SKILL.md + scripts + the binary. */
async function stageSkill(into: string): Promise<void> {
  await Deno.mkdir(into, { recursive: true });
  const files = ectoBin ? ["SKILL.md", "README.md"] : SOURCE_FILES;
  for (const file of files) await Deno.copyFile(`${repoRoot}${file}`, `${into}/${file}`);
  for (const dir of ectoBin ? ["scripts"] : SOURCE_DIRS) {
    await copyTree(`${repoRoot}${dir}`, `${into}/${dir}`);
  }
  if (ectoBin) {
    await Deno.copyFile(ectoBin, `${into}/ecto`);
    await Deno.chmod(`${into}/ecto`, 0o755);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) {
      await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
      await Deno.chmod(
        `${to}/${entry.name}`,
        (await Deno.stat(`${from}/${entry.name}`)).mode! & 0o777,
      );
    }
  }
}

async function openclaw(gateway: Gateway, args: string[], stdin?: string) {
  const child = new Deno.Command(gateway.openclawBin, {
    args,
    env: gateway.env(),
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Starts the world: double, scripted model, gateway with ecto's environment, the skill installed. */
async function startWorld(): Promise<World> {
  const install = await ensureOpenClaw();
  const tailscale = await TailscaleDouble.start({ backendState: "Running", publicDnsReady: false });
  const agent = skillAgent();
  const stub = await startStubLlm({ respond: agent.respond });
  const home = await Deno.makeTempDir({ prefix: "ecto-agent-" });
  const denoDir = Deno.execPath().replace(/\/[^/]+$/, "");
  const ts = tailscale.env();
  const ectoEnv: Record<string, string> = {
    ...passThroughEnv(),
    ...gatewayLimitsEnv(),
    NO_COLOR: "1",
    TS_DOUBLE_DIR: ts.TS_DOUBLE_DIR,
    ECTO_DOUBLE_DENO: ts.ECTO_DOUBLE_DENO,
    ECTO_CA_FILE: ts.ECTO_CA_FILE,
    ECTO_CONNECT_TO: ts.ECTO_CONNECT_TO,
    // OpenClaw puts the system directories first on exec's PATH: name the double explicitly.
    ECTO_TAILSCALE: tailscale.cliPath,
    ECTO_OPENCLAW: install.openclawBin,
    ECTO_STATE_DIR: `${home}/.ecto`,
    ECTO_SUPERVISOR: "detached",
    ECTO_EDGE_LISTEN: `127.0.0.1:${freePort()}`,
    ECTO_OPENCLAW_LOG: `${home}/openclaw-gateway.log`,
  };
  let gateway: Gateway | undefined;
  try {
    gateway = await startGateway({
      stubUrl: stub.url,
      home,
      start: false,
      // A small default yield: connect is handed to the background as on a slow machine.
      extraConfig: { tools: { exec: { backgroundMs: 1000 } } },
      extraEnv: {
        ...ectoEnv,
        PATH: `${tailscale.binDir}:${install.nodeBinDir}:${
          Deno.env.get("PATH") ?? "/usr/bin:/bin"
        }:${denoDir}`,
      },
    });
    const bundle = Deno.env.get("ECTO_SKILL_SOURCE");
    const staged = await Deno.makeTempDir({ prefix: "ecto-skill-src-" });
    try {
      if (!bundle) await stageSkill(`${staged}/ecto`);
      const installed = await openclaw(gateway, ["skills", "install", bundle ?? `${staged}/ecto`]);
      assert.equal(installed.code, 0, installed.stdout + installed.stderr);
    } finally {
      await Deno.remove(staged, { recursive: true });
    }
    await gateway.start();
  } catch (error) {
    await gateway?.stop().catch(() => {});
    await Deno.remove(home, { recursive: true }).catch(() => {});
    await stub.close();
    await tailscale[Symbol.asyncDispose]();
    throw error;
  }
  const gw = gateway;
  const env = { ...ectoEnv, HOME: home, PATH: `${tailscale.binDir}:${Deno.env.get("PATH")}` };
  return {
    home,
    skillDir: `${home}/.openclaw/workspace/skills/${SKILL}`,
    gateway: gw,
    stub,
    tailscale,
    agent,
    ectoEnv: env,
    async [Symbol.asyncDispose]() {
      await runEcto(["disconnect", "--purge", "--json", "--quiet"], env).catch(() => {});
      await gw.stop().catch(() => {});
      await Deno.remove(home, { recursive: true }).catch(() => {});
      await stub.close().catch(() => {});
      await tailscale[Symbol.asyncDispose]().catch(() => {});
    },
  };
}

interface Turn {
  user: string;
  answer: string;
  /** The chat requests OpenClaw sent the model during this turn. */
  requests: Array<Record<string, unknown>>;
  /** The tool calls of the turn with the results OpenClaw handed back, from its last request. */
  calls: ReturnType<typeof toolCalls>;
}

/** The owner says `text` in their chat (the API, with the owner's gateway token). */
async function say(world: World, chat: string, text: string): Promise<Turn> {
  const before = world.agent.requests.length;
  const response = await fetch(`${world.gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${world.gateway.token}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({
      model: "openclaw/default",
      user: chat,
      messages: [{ role: "user", content: text }],
    }),
    signal: AbortSignal.timeout(300_000),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `${body}\n${await world.gateway.logTail()}`);
  const answer = JSON.parse(body).choices[0].message.content as string;
  const requests = world.agent.requests.slice(before);
  const last = requests.at(-1);
  assert.ok(last, "OpenClaw asked the model");
  const messages = (last.messages ?? []) as ChatMessage[];
  const userAt = messages.findLastIndex((m) =>
    m.role === "user" && messageText(m.content).includes(text)
  );
  return { user: text, answer, requests, calls: toolCalls(messages.slice(userAt + 1)) };
}

/**
 * The one JSON document the last exec of a turn handed the model: its output,
 * or everything its polls brought (fails unless that is exactly one document).
 */
function resultDocument(turn: Turn): Record<string, unknown> {
  const outcome = sessionOutcome(turn.calls);
  assert.ok(outcome.document, `not exactly one JSON document:\n${outcome.text}`);
  return outcome.document;
}

function execCommands(turn: Turn): string[] {
  return turn.calls.filter((c) => c.name === "exec").map((c) => String(c.args.command));
}

async function publicModels(world: World, port: number, token: string) {
  return await funnelRequest({
    localPort: world.tailscale.publicPorts[port]!,
    hostname: world.tailscale.dnsName,
    host: port === 443 ? world.tailscale.dnsName : `${world.tailscale.dnsName}:${port}`,
    caPem: await Deno.readTextFile(world.tailscale.caFile),
    method: "GET",
    path: "/v1/models",
    headers: { authorization: `Bearer ${token}` },
  });
}

/** Every file under `dir` whose text contains `needle` (paths relative to `dir`). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else if (entry.isFile) {
        const bytes = await Deno.readFile(full).catch(() => new Uint8Array());
        if (new TextDecoder().decode(bytes).includes(needle)) {
          found.push(full.slice(dir.length + 1));
        }
      }
    }
  };
  await walk(dir);
  return found.sort();
}

/** The key is nowhere but ecto's own 0600 files and the owner's chat history: not the gateway log, queues, config. */
async function assertKeyOnlyInEctoFiles(world: World, token: string): Promise<void> {
  assert.match(token, /^ecto_/);
  const log = (await world.gateway.logTail(100_000)).split("\n");
  const leaks = log.flatMap((line, i) =>
    line.includes(token) ? [log.slice(Math.max(0, i - 3), i + 1).join("\n")] : []
  );
  assert.deepEqual(
    leaks.map((l) => l.replaceAll(token, "<key>")),
    [],
    "not in the gateway log",
  );
  const places = await filesContaining(world.home, token);
  // ecto's own two files, and at most the owner's own chat history (the Control UI chat's
  // store keeps the reply that showed the key; OpenClaw masks it in API chats' transcripts).
  // All 0600; no gateway log, outbound queue, delivery log, task ledger or config holds it.
  const ownerChatStore = /^\.openclaw\/agents\/main\/agent\/openclaw-agent\.sqlite(-wal|-shm)?$/;
  assert.deepEqual(
    places.filter((p) => !ownerChatStore.test(p)),
    [".ecto/owner-key", ".openclaw/ecto-credentials.json"],
  );
  for (const place of places) {
    assert.equal((await Deno.stat(`${world.home}/${place}`)).mode! & 0o777, 0o600, place);
  }
  // The command OpenClaw ran (and shows in approval cards and task views) holds no secret.
  for (const request of world.agent.requests) {
    for (const call of toolCalls((request.messages ?? []) as ChatMessage[])) {
      assert.ok(!JSON.stringify(call.args).includes(token));
    }
  }
}

const transcripts: string[] = [];

function record(world: World, turn: Turn, secrets: string[]): void {
  const redact = (text: string) =>
    secrets.filter(Boolean).reduce((t, s) => t.replaceAll(s, `${s.slice(0, 5)}…[redacted]`), text)
      .replaceAll(world.home, "~");
  transcripts.push(transcript(turn.user, turn.requests.at(-1)!, turn.answer, redact));
}

Deno.test({
  name:
    "OpenClaw's agent runs the ecto skill in a real chat: connect, status, disconnect, exit 3s, approvals",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using world = await startWorld();
    const installedSkill = await Deno.readTextFile(`${world.skillDir}/SKILL.md`);
    const baseDir = world.skillDir;
    let token = "";

    await t.step(
      "from nothing: connect is backgrounded, polled, and ends with URL, model and key in the owner's chat",
      async () => {
        // Public DNS has not caught up: connect cannot finish until the agent is polling.
        world.agent.onBackgrounded = () => world.tailscale.update({ publicDnsReady: true });
        const turn = await say(world, "owner-1", "connect with ecto");
        world.agent.onBackgrounded = undefined;

        // The skill was in the prompt OpenClaw built, with the location it was installed to.
        const system = messageText((turn.requests[0].messages as ChatMessage[])[0].content);
        const listed = listedSkill(system, SKILL);
        assert.ok(listed, "ecto-connection is in <available_skills>");
        assert.match(listed.description, /connect with ecto/);
        assert.equal(listed.location, `~/.openclaw/workspace/skills/${SKILL}/SKILL.md`);
        // The model read it with `read` and got the installed file.
        assert.equal(turn.calls[0].name, "read");
        assert.equal(turn.calls[0].result, installedSkill);
        // exec ran the connect script with SKILL.md's parameters; it was backgrounded.
        const exec = turn.calls.find((c) => c.name === "exec")!;
        assert.deepEqual(exec.args, {
          command: `${baseDir}/scripts/connect.sh --json --quiet`,
          timeoutSeconds: 600,
        });
        assert.match(exec.result!, /^Command still running \(session [\w-]+/);
        const polls = turn.calls.filter((c) => c.name === "process");
        assert.ok(polls.length >= 1, "the agent polled the backgrounded connect");
        for (const poll of polls) {
          assert.equal(poll.args.action, "poll");
          assert.equal(poll.args.timeout, 30000);
          assert.equal(poll.args.sessionId, readOutcome(exec.result!).running);
        }
        assert.match(polls.at(-1)!.result!, /Process exited with code 0\.$/);
        // The tool result holds exactly one JSON document: no progress lines around it.
        const doc = resultDocument(turn);
        assert.equal(doc.ok, true);
        assert.equal(doc.url, `https://${world.tailscale.dnsName}`);
        assert.equal(doc.model, "openclaw/default");
        assert.equal((doc.proof as { path: string }).path, "public");
        token = doc.token as string;
        assert.match(token, /^ecto_/);
        // The owner's answer carries the endpoint, the model and the key.
        assert.ok(turn.answer.includes(doc.endpoint as string), turn.answer);
        assert.ok(turn.answer.includes("openclaw/default"));
        assert.ok(turn.answer.includes(token), "the key is shown in the owner's private chat");
        // And it works from the internet side.
        const models = await publicModels(world, 443, token);
        assert.equal(models.status, 200, models.body);
        record(world, turn, [token, world.gateway.token!]);
      },
    );

    await t.step(
      "the key reaches nothing but the owner's chat",
      () => assertKeyOnlyInEctoFiles(world, token),
    );

    await t.step('"is ecto connected?" runs status.sh and answers yes', async () => {
      const turn = await say(world, "owner-2", "is ecto connected?");
      assert.deepEqual(execCommands(turn), [`${baseDir}/scripts/status.sh --json --quiet`]);
      const doc = resultDocument(turn);
      assert.equal(doc.ok, true);
      assert.ok(!JSON.stringify(doc).includes(token), "status shows only a key preview");
      assert.match(turn.answer, /^Yes/);
      record(world, turn, [token]);
    });

    await t.step(
      '"turn off external access" runs disconnect.sh; the public URL stops answering',
      async () => {
        const turn = await say(world, "owner-3", "turn off external access");
        assert.deepEqual(execCommands(turn), [`${baseDir}/scripts/disconnect.sh --json --quiet`]);
        assert.equal(resultDocument(turn).ok, true);
        assert.match(turn.answer, /External access is off/);
        assert.deepEqual(await world.tailscale.serveConfig(), {});
        const after = await runEcto(["status", "--json", "--no-public"], world.ectoEnv);
        assert.equal(after.code, 1);
        assert.equal(JSON.parse(after.stdout).firstProblem.layer, "funnel");
        record(world, turn, [token]);
        // Back to nothing for the next cases.
        const purge = await runEcto(["disconnect", "--purge", "--json"], world.ectoEnv);
        assert.equal(purge.code, 0, purge.stderr);
      },
    );

    await t.step("Funnel not allowed: exit 3 with the enable URL reaches the owner", async () => {
      await world.tailscale.update({ funnelAttr: false });
      const turn = await say(world, "owner-4", "connect with ecto");
      const doc = resultDocument(turn);
      const error = doc.error as { code: string; url: string };
      assert.equal(error.code, "funnel_not_enabled");
      assert.match(error.url, /^https:\/\/login\.tailscale\.com\/f\/funnel\?node=/);
      assert.ok(turn.answer.includes(error.url), turn.answer);
      assert.deepEqual(await world.tailscale.serveConfig(), {});
      await assert.rejects(Deno.stat(`${world.home}/.openclaw/ecto-credentials.json`));
      record(world, turn, []);
    });

    await t.step(
      'login needed: the login URL reaches the owner; after "done" the agent runs connect again and it completes',
      async () => {
        await world.tailscale.update({ funnelAttr: true, backendState: "NeedsLogin" });
        const first = await say(world, "owner-5", "connect with ecto");
        const error = resultDocument(first).error as { url: string };
        assert.match(error.url, /^https:\/\/login\.tailscale\.com\/a\//);
        assert.ok(first.answer.includes(error.url), first.answer);
        record(world, first, []);

        await world.tailscale.approveLogin();
        const second = await say(world, "owner-5", "done");
        assert.equal(second.calls[0].name, "exec", "SKILL.md was already in the conversation");
        assert.deepEqual(execCommands(second), [`${baseDir}/scripts/connect.sh --json --quiet`]);
        const doc = resultDocument(second);
        assert.equal(doc.ok, true);
        token = doc.token as string;
        assert.ok(second.answer.includes(doc.endpoint as string));
        record(world, second, [token]);
      },
    );

    await t.step(
      "exec approvals on, the owner's Control UI chat: the card shows the plain script; approved, connect runs",
      async () => {
        // The owner turns approvals on (host approvals: allowlist, ask on a miss).
        const policy = await openclaw(
          world.gateway,
          ["approvals", "set", "--stdin"],
          JSON.stringify({
            version: 1,
            defaults: { security: "allowlist", ask: "on-miss", askFallback: "deny" },
          }),
        );
        assert.equal(policy.code, 0, policy.stdout + policy.stderr);
        // The test plays the Control UI: an operator client that chats and resolves approvals.
        await using ui = await connectOperator(world.gateway.url, world.gateway.token!, {
          scopes: ["operator.read", "operator.write", "operator.admin", "operator.approvals"],
        });
        const before = world.agent.requests.length;
        const ack = await ui.request("chat.send", {
          sessionKey: "agent:main:main",
          message: "connect with ecto",
          idempotencyKey: crypto.randomUUID(),
        });
        const requested = await ui.nextEvent("exec.approval.requested");
        const request = requested.payload.request as {
          command?: string;
          allowedDecisions?: string[];
        };
        assert.equal(request.command, `${baseDir}/scripts/connect.sh --json --quiet`);
        assert.ok(request.allowedDecisions?.includes("allow-once"));
        await ui.request("exec.approval.resolve", {
          id: requested.payload.id,
          decision: "allow-once",
        });
        const final = await ui.nextEvent(
          "chat",
          (p) => p.runId === ack.runId && p.state === "final",
          300_000,
        );
        const answer = messageText((final.payload.message as { content: unknown }).content);
        const requests = world.agent.requests.slice(before);
        const messages = (requests.at(-1)!.messages ?? []) as ChatMessage[];
        const userAt = messages.findLastIndex((m) =>
          m.role === "user" && messageText(m.content).includes("connect with ecto")
        );
        const turn: Turn = {
          user: "connect with ecto",
          answer,
          requests,
          calls: toolCalls(messages.slice(userAt + 1)),
        };
        assert.deepEqual(execCommands(turn), [`${baseDir}/scripts/connect.sh --json --quiet`]);
        const doc = resultDocument(turn);
        assert.equal(doc.ok, true, JSON.stringify(doc));
        assert.ok(answer.includes(doc.endpoint as string), answer);
        assert.ok(answer.includes(token), "the Control UI is the owner's private chat");
        record(world, turn, [token]);
      },
    );

    await t.step(
      "exec approvals on, a chat that cannot show approvals: nothing runs, the agent tells the owner how to allow it; allowed, it completes",
      async () => {
        // A chat through the API is headless in OpenClaw 2026.9.6: a miss is denied at once.
        const before = JSON.stringify(await world.tailscale.serveConfig());
        const first = await say(world, "owner-6", "connect with ecto");
        const exec = first.calls.find((c) => c.name === "exec")!;
        assert.equal(exec.args.command, `${baseDir}/scripts/connect.sh --json --quiet`);
        assert.equal(readOutcome(exec.result!).approval, "denied", exec.result);
        assert.match(first.answer, /exec approvals stopped/);
        assert.equal(JSON.stringify(await world.tailscale.serveConfig()), before, "nothing ran");
        record(world, first, [token]);

        // The owner does what the agent said, with OpenClaw's CLI.
        const allow = /`openclaw (approvals allowlist add [^`]+)`/.exec(first.answer)?.[1];
        assert.ok(allow, first.answer);
        const added = await openclaw(world.gateway, shellWords(allow));
        assert.equal(added.code, 0, added.stdout + added.stderr);

        const second = await say(world, "owner-6", "done");
        assert.deepEqual(execCommands(second), [`${baseDir}/scripts/connect.sh --json --quiet`]);
        const doc = resultDocument(second);
        assert.equal(doc.ok, true, JSON.stringify(doc));
        assert.deepEqual(doc.changed, [], "already connected: nothing changed");
        record(world, second, [token]);
      },
    );

    await t.step(
      "after every chat (API and Control UI): nowhere but ecto's files and the owner's chat history",
      () => assertKeyOnlyInEctoFiles(world, token),
    );

    if (Deno.env.get("ECTO_PRINT_TRANSCRIPT")) {
      // deno-lint-ignore no-console -- opt-in transcript for the closing note
      console.log(transcripts.join("\n\n----\n\n"));
    }
  },
});

/** Splits `approvals allowlist add --agent main "<glob>"` into argv (double quotes only). */
function shellWords(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

Deno.test("the scripted model reads OpenClaw's tool results the way SKILL.md says (recorded 2026.9.6 texts)", () => {
  const backgrounded =
    "Command still running (session tidal-summit, pid 18645). Use process (list/poll/log/write/send-keys/submit/paste/kill/clear/remove) for follow-up.";
  assert.equal(readOutcome(backgrounded).running, "tidal-summit");
  // A poll that returned because output arrived, then the one that saw the exit.
  const early = '{\n  "ok": true,\n  "url": "https://a.ts.net"\n}\n\nProcess still running.';
  assert.equal(readOutcome(early).running, "");
  const exited = readOutcome("(no new output)\n\nProcess exited with code 0.", pollOutput(early));
  assert.equal(exited.exitCode, 0);
  assert.deepEqual(exited.document, { ok: true, url: "https://a.ts.net" });
  const foreground = readOutcome('{\n  "ok": false\n}\n\n(Command exited with code 3)');
  assert.equal(foreground.exitCode, 3);
  assert.deepEqual(foreground.document, { ok: false });
  // Progress lines around the document: not one document, so no document.
  assert.equal(readOutcome('{"event":"step"}\n{\n  "ok": true\n}').document, undefined);
  const headless =
    '{\n  "status": "error",\n  "tool": "exec",\n  "error": "exec denied: Headless runs cannot wait for interactive exec approval."\n}';
  assert.equal(readOutcome(headless).approval, "denied");
  const pending = readOutcome("Approval required (id ab12, full ab12-…).\nHost: gateway");
  assert.deepEqual([pending.approval, pending.approvalId], ["pending", "ab12"]);
  assert.equal(
    baseDirOf(
      "~/.openclaw/workspace/skills/ecto-connection/SKILL.md",
      "## Workspace\nWorking directory: /home/u/.openclaw/workspace\n",
    ),
    "/home/u/.openclaw/workspace/skills/ecto-connection",
  );
  assert.equal(intentOf("connect with ecto"), "connect");
  assert.equal(intentOf("is ecto connected?"), "status");
  assert.equal(intentOf("turn off external access"), "disconnect");
  assert.equal(intentOf("done"), "done");
  assert.equal(intentOf("what's the weather?"), undefined);
});
