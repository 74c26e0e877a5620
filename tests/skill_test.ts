/**
 * SKILL.md as the real OpenClaw reads it: installed into a throwaway
 * workspace, `openclaw skills info` must find it eligible with the seed's
 * name, emoji and trigger phrases.
 */
import assert from "node:assert/strict";
import { ensureOpenClaw } from "./harness/openclaw_install.ts";
import { repoRoot } from "./e2e/run_ecto.ts";

Deno.test("OpenClaw loads SKILL.md as the eligible `ecto-connection` skill with the seed's triggers", async () => {
  const install = await ensureOpenClaw();
  const home = await Deno.makeTempDir({ prefix: "ecto-skill-" });
  try {
    const dir = `${home}/.openclaw/workspace/skills/ecto-connection`;
    await Deno.mkdir(`${dir}/scripts`, { recursive: true });
    await Deno.copyFile(`${repoRoot}SKILL.md`, `${dir}/SKILL.md`);
    for (const script of ["connect.sh", "status.sh", "disconnect.sh", "_ecto.sh"]) {
      await Deno.copyFile(`${repoRoot}scripts/${script}`, `${dir}/scripts/${script}`);
    }
    const out = await new Deno.Command(install.openclawBin, {
      args: ["skills", "info", "ecto-connection", "--json"],
      env: { HOME: home, PATH: `${install.nodeBinDir}:${Deno.env.get("PATH")}` },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(stdout.slice(stdout.indexOf("{")));
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
    assert.match(body, /\{baseDir\}\/scripts\/connect\.sh --json/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
