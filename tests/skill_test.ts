/**
 * The skill as a user installs it and as OpenClaw's exec runs it: SKILL.md
 * loaded by the real OpenClaw as eligible, `openclaw skills install <dir>`
 * (the real CLI) putting it where OpenClaw looks, `scripts/_ecto.sh` finding
 * ecto in the environment OpenClaw's `exec` gives a command (system dirs first
 * on PATH, the gateway's HOME), and `--quiet` keeping the agent's one stream
 * down to the result document. tests/skill_agent_test.ts drives the whole
 * skill through OpenClaw's agent.
 */
import assert from "node:assert/strict";
import { ensureOpenClaw } from "./harness/openclaw_install.ts";
import { repoRoot, runEcto } from "./e2e/run_ecto.ts";

const SCRIPTS = ["connect.sh", "status.sh", "disconnect.sh", "_ecto.sh"];
/** OpenClaw's exec puts these first on PATH (measured on 2026.9.6, Linux). */
const EXEC_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function stage(dir: string, files: string[] = ["SKILL.md"]): Promise<void> {
  await Deno.mkdir(`${dir}/scripts`, { recursive: true });
  for (const file of files) await Deno.copyFile(`${repoRoot}${file}`, `${dir}/${file}`);
  for (const script of SCRIPTS) {
    await Deno.copyFile(`${repoRoot}scripts/${script}`, `${dir}/scripts/${script}`);
    await Deno.chmod(`${dir}/scripts/${script}`, 0o755);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

/** The Deno module cache of this machine (a child with another HOME must not re-download). */
function denoDir(): string {
  return Deno.env.get("DENO_DIR") ??
    (Deno.build.os === "darwin"
      ? `${Deno.env.get("HOME")}/Library/Caches/deno`
      : `${Deno.env.get("HOME")}/.cache/deno`);
}

async function run(
  program: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(program, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("OpenClaw loads SKILL.md as the eligible `ecto-connection` skill with the seed's triggers", async () => {
  const install = await ensureOpenClaw();
  const home = await Deno.makeTempDir({ prefix: "ecto-skill-" });
  try {
    const dir = `${home}/.openclaw/workspace/skills/ecto-connection`;
    await stage(dir);
    const out = await run(install.openclawBin, ["skills", "info", "ecto-connection", "--json"], {
      HOME: home,
      PATH: `${install.nodeBinDir}:${Deno.env.get("PATH")}`,
    });
    assert.equal(out.code, 0, out.stderr);
    const info = JSON.parse(out.stdout.slice(out.stdout.indexOf("{")));
    assert.equal(info.name, "ecto-connection");
    assert.equal(info.eligible, true);
    assert.equal(info.emoji, "🔌");
    assert.deepEqual(info.requirements.os, ["darwin", "linux"]);
    assert.ok(info.description.length < 160, `description is ${info.description.length} chars`);
    for (
      const phrase of [
        "connect with ecto",
        "setup ecto connection",
        "expose openclaw publicly",
        "enable external access",
      ]
    ) {
      assert.ok(info.description.includes(phrase), phrase);
    }
    const body = await Deno.readTextFile(`${dir}/SKILL.md`);
    assert.ok(body.includes('"command": "{baseDir}/scripts/connect.sh --json --quiet"'));
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("`openclaw skills install <dir>` puts the skill in the workspace skills folder, scripts executable; `--force` updates it", async () => {
  const install = await ensureOpenClaw();
  const home = await Deno.makeTempDir({ prefix: "ecto-skill-install-" });
  try {
    await stage(`${home}/src/ecto`, ["SKILL.md", "README.md"]);
    const env = {
      HOME: home,
      PATH: `${install.nodeBinDir}:${Deno.env.get("PATH")}`,
      OPENCLAW_NO_AUTO_UPDATE: "1",
    };
    const first = await run(install.openclawBin, ["skills", "install", `${home}/src/ecto`], env);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    // The slug comes from SKILL.md's name, not from the folder's.
    const dir = `${home}/.openclaw/workspace/skills/ecto-connection`;
    assert.equal(
      await Deno.readTextFile(`${dir}/SKILL.md`),
      await Deno.readTextFile(`${repoRoot}SKILL.md`),
    );
    for (const script of SCRIPTS) {
      const mode = (await Deno.stat(`${dir}/scripts/${script}`)).mode! & 0o111;
      assert.equal(mode, 0o111, `${script} is executable`);
    }
    const info = await run(
      install.openclawBin,
      ["skills", "info", "ecto-connection", "--json"],
      env,
    );
    const parsed = JSON.parse(info.stdout.slice(info.stdout.indexOf("{")));
    assert.equal(parsed.source, "openclaw-workspace");
    assert.equal(parsed.eligible, true);
    // A second install refuses to overwrite; --force is how a user updates.
    const again = await run(install.openclawBin, ["skills", "install", `${home}/src/ecto`], env);
    assert.notEqual(again.code, 0);
    assert.match(again.stdout + again.stderr, /already exists/);
    const forced = await run(
      install.openclawBin,
      ["skills", "install", `${home}/src/ecto`, "--force"],
      env,
    );
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("`scripts/_ecto.sh` finds ecto from OpenClaw's exec environment, in its documented order", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "ecto-skill-find-" });
  const home = `${root}/home`;
  const skill = `${home}/.openclaw/workspace/skills/ecto-connection`;
  const pathDir = `${root}/path-bin`;
  try {
    await stage(skill, ["SKILL.md", "cli.ts", "deno.json", "deno.lock", "mod.ts"]);
    await copyTree(`${repoRoot}lib`, `${skill}/lib`);
    await Deno.mkdir(pathDir, { recursive: true });
    const fake = async (path: string, name: string) => {
      await Deno.mkdir(path.replace(/\/[^/]+$/, ""), { recursive: true });
      await Deno.writeTextFile(path, `#!/bin/sh\nprintf '%s\\n' "${name}" "$@"\n`);
      await Deno.chmod(path, 0o755);
    };
    // What exec hands the command: system dirs first, the gateway's HOME, OPENCLAW_SHELL.
    const env = (extra: Record<string, string> = {}) => ({
      HOME: home,
      PATH: `${EXEC_SYSTEM_PATH}:${pathDir}`,
      OPENCLAW_SHELL: "exec",
      ...extra,
    });
    const connect = (extra?: Record<string, string>) =>
      run("bash", [`${skill}/scripts/connect.sh`, "--json", "--quiet"], env(extra));

    const bare = { HOME: home, PATH: `/usr/bin:/bin:${pathDir}` };
    const denoInBare = (await run("bash", ["-c", "command -v deno ecto || true"], bare)).stdout;
    await t.step({
      name: "nothing found: exit 4, one JSON document with the fix, on stdout",
      ignore: denoInBare.trim() !== "", // this machine has deno or ecto in /usr/bin
      fn: async () => {
        const out = await run("bash", [`${skill}/scripts/connect.sh`, "--json"], bare);
        assert.equal(out.code, 4);
        const doc = JSON.parse(out.stdout);
        assert.equal(doc.ok, false);
        assert.equal(doc.error.code, "ecto_not_installed");
        assert.match(doc.error.fix, /ecto binary/);
        const human = await run("bash", [`${skill}/scripts/status.sh`], bare);
        assert.equal(human.code, 4);
        assert.equal(human.stdout, "");
        assert.match(human.stderr, /^error: ecto is not installed/);
      },
    });

    await t.step("Deno runs cli.ts from the skill folder when no binary is around", async () => {
      const out = await run("bash", [`${skill}/scripts/_ecto.sh`, "version"], {
        ...env({ DENO_DIR: denoDir() }),
        PATH: `${EXEC_SYSTEM_PATH}:${Deno.execPath().replace(/\/[^/]+$/, "")}`,
      });
      assert.equal(out.code, 0, out.stderr);
      const version = JSON.parse(await Deno.readTextFile(`${repoRoot}deno.json`)).version;
      assert.equal(out.stdout.trim(), version);
    });

    const order: Array<[string, string, () => Promise<void>]> = [
      ["~/.deno/bin/ecto", "deno-bin", () => fake(`${home}/.deno/bin/ecto`, "deno-bin")],
      ["~/.local/bin/ecto", "local-bin", () => fake(`${home}/.local/bin/ecto`, "local-bin")],
      ["`ecto` on PATH", "on-path", () => fake(`${pathDir}/ecto`, "on-path")],
      ["the binary beside the skill", "beside", () => fake(`${skill}/ecto`, "beside")],
    ];
    for (const [where, name, place] of order) {
      await t.step(
        `${where} wins over everything found later; arguments pass through`,
        async () => {
          await place();
          const out = await connect();
          assert.equal(out.code, 0, out.stderr);
          assert.deepEqual(out.stdout.trim().split("\n"), [name, "connect", "--json", "--quiet"]);
        },
      );
    }

    await t.step("ECTO_BIN wins over the binary beside the skill", async () => {
      await fake(`${root}/explicit/ecto`, "explicit");
      const out = await connect({ ECTO_BIN: `${root}/explicit/ecto` });
      assert.deepEqual(out.stdout.trim().split("\n"), ["explicit", "connect", "--json", "--quiet"]);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("`--quiet`: with `--json` nothing but the result document, stderr empty; without it, progress lines", async () => {
  const home = await Deno.makeTempDir({ prefix: "ecto-quiet-" });
  try {
    // A missing tailscale fails fast (exit 4) after one progress step.
    const env = {
      HOME: home,
      PATH: "/usr/bin:/bin",
      DENO_DIR: denoDir(),
      ECTO_TAILSCALE: `${home}/no-tailscale`,
    };
    const loud = await runEcto(["connect", "--json"], env);
    assert.equal(loud.code, 4, loud.stderr);
    assert.ok(loud.stderr.split("\n").some((l) => l.startsWith('{"event":"step"')), loud.stderr);
    for (const command of ["connect", "status", "disconnect"]) {
      const quiet = await runEcto([command, "--json", "--quiet"], env);
      assert.equal(quiet.stderr, "", `${command}: ${quiet.stderr}`);
      const doc = JSON.parse(quiet.stdout);
      assert.equal(typeof doc.ok, "boolean", command);
    }
    const quiet = await runEcto(["connect", "--json", "--quiet"], env);
    assert.equal(quiet.code, 4);
    // The preflight's first refusal: no OpenClaw on this PATH (checked before Tailscale).
    assert.equal(JSON.parse(quiet.stdout).error.code, "openclaw_not_installed");
    const help = await runEcto(["connect", "--help"], env);
    assert.match(help.stdout, /-q, --quiet/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
