/**
 * Daily budgets: the arithmetic on an injected clock, UTC day rollover, and
 * the meter's synchronous admission (requests counted in flight before any
 * await).
 */
import assert from "node:assert/strict";
import { checkBudget, msUntilNextUtcDay, utcDay, utcDayBefore } from "../lib/usage/budget.ts";
import { UsageMeter } from "../lib/usage/meter.ts";
import { sinceDay } from "../lib/usage/report.ts";
import type { UsageDelta } from "../lib/usage/store.ts";
import { FakeClock } from "./fixtures/edge/helpers.ts";

const NOON = Date.UTC(2026, 11, 1, 12, 0, 0);
const use = (requests: number, tokens: number, inFlight = 0, largestAnswer = 0) => ({
  requests,
  tokens,
  inFlight,
  largestAnswer,
});

Deno.test("`utcDay()`, `msUntilNextUtcDay()`, `utcDayBefore()` count UTC days", () => {
  assert.equal(utcDay(NOON), "2026-12-01");
  assert.equal(msUntilNextUtcDay(NOON), 12 * 3_600_000);
  assert.equal(msUntilNextUtcDay(Date.UTC(2026, 11, 1)), 86_400_000, "at midnight: a whole day");
  assert.equal(msUntilNextUtcDay(Date.UTC(2026, 11, 1, 23, 59, 59, 999)), 1);
  assert.equal(utcDayBefore(NOON, 6), "2026-11-25");
  assert.equal(utcDay(Date.UTC(2026, 11, 31, 23, 59, 59)), "2026-12-31");
});

Deno.test("`checkBudget()`: requests admit while used + in flight < limit", () => {
  const budget = { maxRequestsPerDay: 3 };
  assert.equal(checkBudget(budget, use(2, 0), NOON).ok, true);
  assert.equal(checkBudget(budget, use(1, 0, 1), NOON).ok, true);
  const refused = checkBudget(budget, use(2, 0, 1), NOON);
  assert.deepEqual(refused, {
    ok: false,
    budget: "requests",
    limit: 3,
    retryAfterMs: 12 * 3_600_000,
  });
  assert.equal(checkBudget({}, use(1e9, 1e9, 1e9), NOON).ok, true, "no budget: no limit");
  assert.equal(checkBudget({ maxRequestsPerDay: 0 }, use(5, 0), NOON).ok, true, "0: no limit");
});

Deno.test("`checkBudget()`: tokens admit while used < limit, reserving the largest answer per request in flight", () => {
  const budget = { maxTokensPerDay: 100 };
  assert.equal(checkBudget(budget, use(5, 99), NOON).ok, true);
  assert.equal(checkBudget(budget, use(5, 100), NOON).ok, false);
  // nothing in flight: the largest answer is not reserved
  assert.equal(checkBudget(budget, use(5, 60, 0, 30), NOON).ok, true);
  // 60 used + 1 in flight × 30 = 90 < 100: admitted; with 2 in flight 120 ≥ 100: refused
  assert.equal(checkBudget(budget, use(5, 60, 1, 30), NOON).ok, true);
  const r = checkBudget(budget, use(5, 60, 2, 30), NOON);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.budget, "tokens");
});

Deno.test("`UsageMeter.admit()` counts in flight synchronously: 10 admissions, budget 3, 3 tickets", () => {
  const clock = new FakeClock(NOON);
  const meter = new UsageMeter(undefined, { now: clock.now });
  const key = { id: "k_a", name: "alice", limits: { maxRequestsPerDay: 3 } };
  const results = Array.from({ length: 10 }, () => meter.admit(key, clock.now()));
  assert.equal(results.filter((r) => r.ok).length, 3);
  for (const r of results) if (r.ok) r.ticket.finish({ status: 200, bytesIn: 1, bytesOut: 2 });
  assert.equal(meter.admit(key, clock.now()).ok, false, "3 used: the 4th is refused");
});

Deno.test("`UsageMeter`: a cancelled ticket gives its request back", () => {
  const meter = new UsageMeter(undefined, { now: () => NOON });
  const key = { id: "k_a", name: "a", limits: { maxRequestsPerDay: 1 } };
  const first = meter.admit(key, NOON);
  assert.ok(first.ok);
  assert.equal(meter.admit(key, NOON).ok, false);
  first.ticket.cancel();
  first.ticket.finish({ status: 200, bytesIn: 0, bytesOut: 0 }); // ignored after cancel
  assert.equal(meter.admit(key, NOON).ok, true);
});

Deno.test("`UsageMeter`: the budget starts again at the next UTC day", () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 1, 23, 59, 0));
  const meter = new UsageMeter(undefined, { now: clock.now });
  const key = { id: "k_a", name: "a", limits: { maxTokensPerDay: 10 } };
  const a = meter.admit(key, clock.now());
  assert.ok(a.ok);
  a.ticket.finish({ status: 200, bytesIn: 0, bytesOut: 0, usage: { prompt: 6, completion: 6 } });
  const refused = meter.admit(key, clock.now());
  assert.ok(!refused.ok);
  assert.equal(refused.retryAfterMs, 60_000);
  clock.advance(60_000);
  assert.equal(meter.admit(key, clock.now()).ok, true, "00:00 UTC: a new day");
  assert.deepEqual(meter.today("k_a"), { requests: 0, tokens: 0, inFlight: 1 });
});

Deno.test("`UsageMeter.flush()` writes one batch per key and day; a failed write is kept and retried", () => {
  const clock = new FakeClock(NOON);
  const batches: UsageDelta[][] = [];
  let fail = true;
  const writer = {
    add(deltas: readonly UsageDelta[]) {
      if (fail) throw new Error("disk full");
      batches.push([...deltas]);
    },
  };
  const meter = new UsageMeter(writer, { now: clock.now, flushIntervalMs: 3_600_000 });
  const key = { id: "k_a", name: "alice" };
  for (const status of [200, 500]) {
    const r = meter.admit(key, clock.now());
    assert.ok(r.ok);
    r.ticket.finish({ status, bytesIn: 10, bytesOut: 20, usage: { prompt: 3, completion: 4 } });
  }
  meter.refused(key, clock.now());
  meter.flush();
  assert.ok(meter.lastError instanceof Error);
  assert.equal(batches.length, 0);
  fail = false;
  const r = meter.admit(key, clock.now());
  assert.ok(r.ok);
  r.ticket.finish({ status: 200, bytesIn: 1, bytesOut: 1, failed: true });
  meter.flush();
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0].map(({ lastUsed: _, ...d }) => d), [{
    keyId: "k_a",
    keyName: "alice",
    day: "2026-12-01",
    requests: 3,
    promptTokens: 6,
    completionTokens: 8,
    errors: 2,
    refused: 1,
    bytesIn: 21,
    bytesOut: 41,
  }]);
  meter.flush();
  assert.equal(batches.length, 1, "nothing new: nothing written");
  void meter.close();
});

Deno.test("`UsageMeter` with today's totals from the database keeps a restarted edge's budget", () => {
  const meter = new UsageMeter(undefined, {
    now: () => NOON,
    today: new Map([["k_a", { requests: 5, tokens: 40 }]]),
  });
  assert.equal(
    meter.admit({ id: "k_a", name: "a", limits: { maxRequestsPerDay: 5 } }, NOON).ok,
    false,
  );
  assert.equal(
    meter.admit({ id: "k_a", name: "a", limits: { maxTokensPerDay: 40 } }, NOON).ok,
    false,
  );
  assert.equal(
    meter.admit({ id: "k_a", name: "a", limits: { maxTokensPerDay: 41 } }, NOON).ok,
    true,
  );
});

Deno.test("`sinceDay()` gives the first UTC day --since covers, and refuses the rest with a fix", () => {
  assert.equal(sinceDay("7d", NOON), "2026-11-24");
  assert.equal(sinceDay("1d", NOON), "2026-11-30");
  assert.equal(sinceDay("1h", NOON), "2026-12-01");
  assert.equal(sinceDay("2w", NOON), "2026-11-17");
  assert.equal(sinceDay("today", NOON), "2026-12-01");
  assert.equal(sinceDay("2026-10-01", NOON), "2026-10-01");
  for (const bad of ["0d", "7", "yesterday", "2026-13-45"]) {
    assert.throws(
      () => sinceDay(bad, NOON),
      (e: Error & { fix?: string }) => /30m, 1h or 7d/.test(e.fix ?? ""),
      bad,
    );
  }
});
