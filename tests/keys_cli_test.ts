/**
 * `ecto keys` end to end under the binary's permission set: binding to an
 * agent, expiry, the consent the confined agent needs, and clear refusals.
 * No gateway: `--agent` keys only need OpenClaw's config file.
 */
import assert from "node:assert/strict";
import { runEcto } from "./e2e/run_ecto.ts";

async function sandbox(): Promise<AsyncDisposable & { env: Record<string, string> }> {
  const home = await Deno.makeTempDir({ prefix: "ecto-keys-cli-" });
  await Deno.mkdir(`${home}/.openclaw`, { mode: 0o700 });
  await Deno.writeTextFile(
    `${home}/.openclaw/openclaw.json`,
    `{ agents: { entries: { main: {}, family: { tools: { deny: ["*"] } } } } }`,
  );
  // HOME changes, so the module cache and TLS settings must be passed through.
  const pass: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (/^(DENO_DIR|DENO_CERT|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY)$/i.test(name)) {
      pass[name] = value;
    }
  }
  pass.DENO_DIR ??= `${Deno.env.get("HOME")}/${
    Deno.build.os === "darwin" ? "Library/Caches/deno" : ".cache/deno"
  }`;
  return {
    env: { ...pass, HOME: home, PATH: "/usr/bin:/bin", ECTO_STATE_DIR: `${home}/.ecto` },
    [Symbol.asyncDispose]: () => Deno.remove(home, { recursive: true }),
  };
}

Deno.test("`ecto keys add --agent --expires` binds and expires a key; `keys list` shows both", async () => {
  await using sb = await sandbox();
  const add = await runEcto([
    "keys",
    "add",
    "alice",
    "--agent",
    "main",
    "--expires",
    "7d",
    "--json",
  ], sb.env);
  assert.equal(add.code, 0, add.stderr);
  const out = JSON.parse(add.stdout);
  assert.equal(out.agent, "main");
  assert.equal(out.model, "openclaw/main");
  assert.ok(Date.parse(out.expires) > Date.now() + 6 * 86_400_000);
  assert.match(add.stderr, /warning: The agent "main" can use machine tools \(exec/);
  assert.ok(!add.stderr.includes(out.key));

  const quiet = await runEcto(["keys", "add", "fam", "--agent", "family", "--json"], sb.env);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(JSON.parse(quiet.stdout).warnings.length, 0, "an agent without tools: no warning");

  const list = await runEcto(["keys", "list"], sb.env);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /alice\s+main\s+created .* expires \d{4}-/);
  assert.match(list.stdout, /fam\s+family/);
  assert.ok(!list.stdout.includes(out.key));
});

Deno.test("`ecto keys add` refusals: unknown agent, bad expiry, confined agent without consent", async () => {
  await using sb = await sandbox();
  const unknown = await runEcto(["keys", "add", "x", "--agent", "nope", "--json"], sb.env);
  assert.equal(unknown.code, 2);
  assert.match(JSON.parse(unknown.stdout).error.message, /no agent "nope" \(it has main, family\)/);

  for (const bad of ["soon", "0m", "2001-01-01T00:00:00Z"]) {
    const run = await runEcto(["keys", "add", "x", "--agent", "main", "--expires", bad], sb.env);
    assert.equal(run.code, 2, `${bad}: ${run.stderr}`);
  }

  // Already multi-agent: no consent needed, so ecto goes on to add its agent and needs the CLI.
  const confined = await runEcto(["keys", "add", "friend", "--json"], sb.env);
  assert.equal(confined.code, 4, confined.stdout);
  assert.equal(JSON.parse(confined.stdout).error.code, "openclaw_not_installed");

  // A single-agent OpenClaw: ecto says what would change and waits for --yes (exit 3).
  await Deno.writeTextFile(`${sb.env.HOME}/.openclaw/openclaw.json`, `{}`);
  const ask = await runEcto(["keys", "add", "friend", "--json"], sb.env);
  assert.equal(ask.code, 3, ask.stdout);
  const error = JSON.parse(ask.stdout).error;
  assert.equal(error.code, "confined_agent_consent");
  assert.match(error.message, /openclaw\/default/);
  assert.match(error.message, /openclaw\/main/);
  assert.match(error.fix, /--yes/);
  const none = await runEcto(["keys", "list", "--json"], sb.env);
  assert.deepEqual(JSON.parse(none.stdout).keys, [], "no key was created");
});

Deno.test("`ecto keys add --help` documents --agent, --expires and --yes", async () => {
  await using sb = await sandbox();
  const run = await runEcto(["keys", "add", "--help"], sb.env);
  assert.equal(run.code, 0, run.stderr);
  for (const flag of ["--agent", "--expires", "--yes", "confined agent"]) {
    assert.ok(run.stdout.includes(flag), `missing ${flag}`);
  }
  const connect = await runEcto(["connect", "--help"], sb.env);
  assert.ok(connect.stdout.includes("--agent"));
});

Deno.test("`ecto keys edit` re-binds and re-dates a key", async () => {
  await using sb = await sandbox();
  const add = await runEcto(
    ["keys", "add", "bob", "--agent", "main", "--expires", "1h", "--json"],
    sb.env,
  );
  assert.equal(add.code, 0, add.stderr);
  const { id } = JSON.parse(add.stdout);
  const edit = await runEcto([
    "keys",
    "edit",
    id,
    "--agent",
    "family",
    "--expires",
    "never",
    "--json",
  ], sb.env);
  assert.equal(edit.code, 0, edit.stderr);
  const record = JSON.parse(edit.stdout).key;
  assert.equal(record.agent, "family");
  assert.equal(record.expires, undefined);
  const nothing = await runEcto(["keys", "edit", id], sb.env);
  assert.equal(nothing.code, 2);
  const missing = await runEcto(["keys", "edit", "k_nope", "--agent", "main"], sb.env);
  assert.equal(missing.code, 2);
});
