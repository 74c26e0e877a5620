/**
 * The pieces the plan and undo are built from (`plan_changes.ts`,
 * `undo_patch.ts`, the write guard in `cli.ts`), tested on their own: the
 * whole plan is tested in `openclaw_test.ts` and `takeover_test.ts`.
 */
import assert from "node:assert/strict";
import { ActionRequiredError, EctoError } from "../lib/core/errors.ts";
import { maxRestart, planRecorder } from "../lib/openclaw/plan_changes.ts";
import { planUndo, undoPatch, undoRestartKind } from "../lib/openclaw/undo_patch.ts";
import { assertConfigChangeable } from "../lib/openclaw/cli.ts";
import type { OpenClawSnapshot } from "../lib/openclaw/snapshot.ts";

const snapshot = (entries: OpenClawSnapshot["entries"]): OpenClawSnapshot => ({
  version: 1,
  configPath: "/c",
  createdAt: "",
  updatedAt: "",
  entries,
});

Deno.test("`planRecorder()` records a change as patch, display line and snapshot entry", () => {
  const rec = planRecorder({ gateway: { auth: { token: "old-secret" } } });
  rec.change(["gateway", "http", "endpoints", "chatCompletions", "enabled"], true);
  rec.change(["gateway", "auth", "token"], "new-secret", { secret: true });
  assert.deepEqual(rec.patch, {
    gateway: {
      http: { endpoints: { chatCompletions: { enabled: true } } },
      auth: { token: "new-secret" },
    },
  });
  assert.deepEqual(rec.changes, [
    {
      path: ["gateway", "http", "endpoints", "chatCompletions", "enabled"],
      from: undefined,
      to: true,
    },
    { path: ["gateway", "auth", "token"], from: "<redacted>", to: "<new 64-hex token>" },
  ]);
  // The topmost absent ancestor is recorded, and a secret's old value never is.
  assert.deepEqual(rec.snapshot, [
    { path: ["gateway", "http"], absent: true },
    { path: ["gateway", "auth", "token"], redacted: true },
  ]);
  assert.ok(!JSON.stringify([rec.changes, rec.snapshot]).includes("secret"));
});

Deno.test("`planRecorder()` gives a permanent change no snapshot entry and one entry per ancestor", () => {
  const rec = planRecorder({});
  rec.change(["gateway", "tailscale", "mode"], "off", { permanent: true });
  rec.change(["gateway", "http", "endpoints", "chatCompletions", "enabled"], true);
  rec.change(["gateway", "http", "endpoints", "responses", "enabled"], true);
  assert.deepEqual(rec.permanent, [["gateway", "tailscale", "mode"]]);
  assert.deepEqual(rec.snapshot, [{ path: ["gateway"], absent: true }]);
  assert.equal(rec.changes.length, 3);
});

Deno.test("`planRecorder().needs()` keeps the strongest restart and every reason in order", () => {
  const rec = planRecorder({});
  assert.equal(rec.restart, "none");
  rec.needs("full", "bind");
  rec.needs("automatic", "mode");
  assert.equal(rec.restart, "full");
  assert.deepEqual(rec.reasons, ["bind", "mode"]);
  assert.equal(maxRestart("restart", "automatic"), "restart");
  assert.equal(maxRestart("none", "restart"), "restart");
});

Deno.test("`planUndo()` returns the same patch and restart as `undoPatch()`/`undoRestartKind()`, and the settings after", () => {
  const config = {
    gateway: {
      bind: "loopback",
      auth: { mode: "token", token: "a".repeat(64) },
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
  };
  const snap = snapshot([
    { path: ["gateway", "http"], absent: true },
    { path: ["gateway", "bind"], value: "lan" },
  ]);
  const undo = planUndo(config, snap);
  assert.deepEqual(undo.patch, undoPatch(snap));
  assert.equal(undo.restart, undoRestartKind(config, snap));
  assert.equal(undo.restart, "full");
  assert.equal(undo.after.bind, "lan");
  assert.equal(undo.after.chatCompletions, false);
  assert.equal(undo.after.credential?.value, "a".repeat(64));
});

Deno.test("`planUndo()` asks for a restart when it removes the token of a token-mode gateway", () => {
  const config = { gateway: { auth: { mode: "token", token: "a".repeat(64) } } };
  const undo = planUndo(config, snapshot([{ path: ["gateway", "auth", "token"], redacted: true }]));
  assert.equal(undo.restart, "restart");
  assert.equal(undo.after.token.state, "absent");
});

Deno.test("`assertConfigChangeable()` refuses a Nix-managed config before looking at the file", async () => {
  const env = (name: string) => name === "OPENCLAW_NIX_MODE" ? "1" : undefined;
  await assert.rejects(
    () => assertConfigChangeable(env, "/nonexistent/openclaw.json", ["gateway.bind"]),
    (error: unknown) =>
      error instanceof ActionRequiredError && error.code === "openclaw_config_readonly" &&
      error.message.includes("/nonexistent/openclaw.json"),
  );
});

Deno.test("`assertConfigChangeable()` refuses a read-only config file with openclaw_config_not_writable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ecto-plan-parts-" });
  try {
    const path = `${dir}/openclaw.json`;
    await Deno.writeTextFile(path, "{}");
    await Deno.chmod(path, 0o444);
    await assert.rejects(
      () => assertConfigChangeable(() => undefined, path, []),
      (error: unknown) =>
        error instanceof EctoError && error.code === "openclaw_config_not_writable" &&
        error.message.includes(path),
    );
    await Deno.chmod(path, 0o644);
    await assertConfigChangeable(() => undefined, path, []); // writable: no refusal
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
