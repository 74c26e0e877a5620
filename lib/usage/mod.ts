/**
 * Usage and budgets per key: token usage parsed from gateway answers as they
 * pass, daily budgets decided synchronously, and the SQLite usage database
 * (`~/.ecto/usage.db`, built-in `node:sqlite`, WAL, the edge the one writer).
 *
 * @example
 * ```ts
 * import { UsageStore, utcDayBefore } from "./lib/usage/mod.ts";
 *
 * using store = UsageStore.openReader(paths.usageDb);
 * const rows = store?.rows({ since: utcDayBefore(Date.now(), 6) }) ?? [];
 * ```
 *
 * @module
 */
export {
  type BudgetDecision,
  type BudgetUse,
  checkBudget,
  type DailyBudget,
  hasBudget,
  msUntilNextUtcDay,
  utcDay,
  utcDayBefore,
} from "./budget.ts";
export {
  MAX_EVENT_BYTES,
  parseSseEvent,
  SseUsageScanner,
  type TokenUsage,
  usageFromJson,
  usageOf,
} from "./parse.ts";
export {
  type Admission,
  type MeteredKey,
  type RequestEnd,
  UsageMeter,
  type UsageMeterOptions,
  type UsageTicket,
  type UsageWriter,
} from "./meter.ts";
export { type UsageDelta, type UsageRow, UsageStore, UsageStoreError } from "./store.ts";
export { readUsage, sinceDay, usageToday } from "./report.ts";
