/**
 * Daily budgets per key, as pure arithmetic on UTC days and counts (the
 * caller passes the clock's time, so tests move days by hand).
 *
 * Requests are counted when admitted, so a request budget is exact even
 * under concurrency: admit while `used + inFlight < limit`. Tokens are known
 * only once an answer ends, so a token budget admits while `used < limit`
 * and, once the key has answered today, also reserves the largest answer
 * seen so far for each request in flight (`used + inFlight × largest <
 * limit`): parallel requests near the limit cannot all slip through.
 *
 * @module
 */

/** A key's daily budgets (UTC days). `0` or absent: no budget. */
export interface DailyBudget {
  /** Requests forwarded to the gateway per UTC day. */
  maxRequestsPerDay?: number;
  /** Prompt plus completion tokens per UTC day. */
  maxTokensPerDay?: number;
}

/** What a key has used today and has in flight. */
export interface BudgetUse {
  /** Requests finished today. */
  requests: number;
  /** Tokens (prompt + completion) of requests finished today. */
  tokens: number;
  /** Requests admitted and not finished yet. */
  inFlight: number;
  /** The largest token count of one answer today (0: none yet). */
  largestAnswer: number;
}

/** Whether a request may go, and if not which budget it hit and when the day resets. */
export type BudgetDecision =
  | { ok: true }
  | { ok: false; budget: "requests" | "tokens"; limit: number; retryAfterMs: number };

const DAY_MS = 86_400_000;

/** The UTC day of `ms` as `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Milliseconds from `ms` to the next UTC midnight (never 0). */
export function msUntilNextUtcDay(ms: number): number {
  return (Math.floor(ms / DAY_MS) + 1) * DAY_MS - ms;
}

/** The UTC day `days` before `ms`'s day, as `YYYY-MM-DD`. */
export function utcDayBefore(ms: number, days: number): string {
  return utcDay(Math.floor(ms / DAY_MS) * DAY_MS - days * DAY_MS);
}

/** Whether a budget sets any limit. */
export function hasBudget(budget: DailyBudget | undefined): boolean {
  return (budget?.maxRequestsPerDay ?? 0) > 0 || (budget?.maxTokensPerDay ?? 0) > 0;
}

/** Decides one request of a key with `budget` and `use` at time `now` (epoch ms). */
export function checkBudget(
  budget: DailyBudget | undefined,
  use: BudgetUse,
  now: number,
): BudgetDecision {
  const maxRequests = budget?.maxRequestsPerDay ?? 0;
  if (maxRequests > 0 && use.requests + use.inFlight >= maxRequests) {
    return {
      ok: false,
      budget: "requests",
      limit: maxRequests,
      retryAfterMs: msUntilNextUtcDay(now),
    };
  }
  const maxTokens = budget?.maxTokensPerDay ?? 0;
  if (
    maxTokens > 0 &&
    (use.tokens >= maxTokens ||
      (use.inFlight > 0 && use.tokens + use.inFlight * use.largestAnswer >= maxTokens))
  ) {
    return { ok: false, budget: "tokens", limit: maxTokens, retryAfterMs: msUntilNextUtcDay(now) };
  }
  return { ok: true };
}
