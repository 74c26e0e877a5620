import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { runEcto } from "./e2e/run_ecto.ts";

const base = {
  HOME: Deno.env.get("HOME") ?? "/tmp",
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
};

Deno.test("`ecto --version` prints the version from deno.json and exits 0", async () => {
  const run = await runEcto(["--version"], base);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), denoJson.version);
});

Deno.test("`ecto --help` lists every command and the exit codes", async () => {
  const run = await runEcto(["--help"], base);
  assert.equal(run.code, 0, run.stderr);
  for (const word of ["connect", "status", "disconnect", "edge", "Exit codes"]) {
    assert.match(run.stdout, new RegExp(word));
  }
});

Deno.test("`ecto connect --help` documents the seed's flags", async () => {
  const run = await runEcto(["connect", "--help"], base);
  assert.equal(run.code, 0, run.stderr);
  for (
    const flag of [
      "--regenerate-token",
      "--restart",
      "--json",
      "--yes",
      "--auth-key",
      "--funnel-port",
    ]
  ) {
    assert.ok(run.stdout.includes(flag), `missing ${flag}`);
  }
});

Deno.test("unknown commands and flags exit 2 with usage", async (t) => {
  await t.step("unknown command", async () => {
    const run = await runEcto(["frobnicate"], base);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown command 'frobnicate'/);
    assert.match(run.stderr, /ecto --help/);
  });
  await t.step("unknown flag", async () => {
    const run = await runEcto(["connect", "--frobnicate"], base);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown option '--frobnicate'/);
  });
  await t.step("a Funnel port Funnel does not serve", async () => {
    const run = await runEcto(["connect", "--funnel-port", "3000"], base);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /443, 8443, 10000/);
  });
});
