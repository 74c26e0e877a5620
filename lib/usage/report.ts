/**
 * What `ecto usage` and `ecto keys list` show: rows of the usage database
 * read-only (it works while the edge writes), filtered by day and key.
 *
 * @module
 */
import { UsageError } from "../core/errors.ts";
import { utcDay, utcDayBefore } from "./budget.ts";
import { type UsageRow, UsageStore } from "./store.ts";

/**
 * The first UTC day `--since` covers: `7d` (today and the 6 days before),
 * `2w`, `today`, or a date `YYYY-MM-DD`. Pure.
 *
 * @throws {UsageError} for anything else.
 */
export function parseSince(text: string, now: number): string {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "today") return utcDay(now);
  const m = /^(\d{1,4})([dw])$/.exec(trimmed);
  if (m && Number(m[1]) > 0) return utcDayBefore(now, Number(m[1]) * (m[2] === "w" ? 7 : 1) - 1);
  if (/^\d{4}-\d{2}-\d{2}$/.test(trimmed) && !Number.isNaN(Date.parse(trimmed))) return trimmed;
  throw new UsageError(`"${text}" is not a number of days or a date.`, {
    fix: "Use e.g. --since 7d, 2w, today or 2026-12-01.",
  });
}

/** Rows of the usage database at `path` from day `since` on, of one key or all; none without a database. */
export function readUsage(path: string, filter: { since?: string; keyId?: string }): UsageRow[] {
  using store = UsageStore.openReader(path);
  return store?.rows(filter) ?? [];
}

/** Today's row per key id (UTC day of `now`). */
export function usageToday(path: string, now: number): Map<string, UsageRow> {
  const day = utcDay(now);
  return new Map(readUsage(path, { since: day }).map((r) => [r.keyId, r]));
}
