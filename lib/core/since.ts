/**
 * `--since`, one meaning for every command that takes it (`ecto usage`,
 * `ecto logs`): a duration before now, `today`, or an ISO 8601 date or time.
 *
 * @module
 */
import { UsageError } from "./errors.ts";

const UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 };

/**
 * The instant (ms since the epoch) `spec` names: `30m`, `1h`, `7d`, `2w`
 * before `now`; `today` (UTC midnight); or an ISO date or time. Throws
 * {@link UsageError} with the accepted forms otherwise.
 */
export function parseSince(spec: string, now: number): number {
  const text = spec.trim().toLowerCase();
  if (text === "today") return Math.floor(now / UNITS.d!) * UNITS.d!;
  const match = /^(\d{1,6})\s*([smhdw])$/.exec(text);
  if (match && Number(match[1]) > 0) return now - Number(match[1]) * UNITS[match[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(spec.trim());
    if (!Number.isNaN(t)) return t;
  }
  throw new UsageError(`--since "${spec}" is neither a duration nor a date.`, {
    fix: "Use a duration like 30m, 1h or 7d, today, or an ISO date like 2026-12-01.",
  });
}
