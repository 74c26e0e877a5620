/**
 * What `ecto usage` and `ecto keys list` show: rows of the usage database
 * read-only (it works while the edge writes), filtered by day and key.
 *
 * @module
 */
import { parseSince } from "../core/since.ts";
import { utcDay } from "./budget.ts";
import { type UsageRow, UsageStore } from "./store.ts";

/** The first UTC day `--since` covers (see `parseSince` in `lib/core/since.ts`). */
export function sinceDay(spec: string, now: number): string {
  return utcDay(parseSince(spec, now));
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
