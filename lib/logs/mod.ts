/**
 * `ecto logs`: the edge's audit log (`~/.ecto/audit.log` and its rotations)
 * read, filtered by key and time, and laid out as a table; `--follow` keeps
 * reading as the edge writes, across rotations.
 *
 * @example
 * ```ts
 * import { formatRow, parseAuditLines, readAuditLines } from "./mod.ts";
 * const { entries } = parseAuditLines(await readAuditLines("/home/me/.ecto/audit.log"));
 * entries.map(formatRow);
 * ```
 *
 * @module
 */
export {
  type EntryTokens,
  type LogEntry,
  type LogFilter,
  matchesFilter,
  parseAuditLine,
  parseAuditLines,
  type ParsedLog,
  parseTokens,
} from "./parse.ts";
export {
  formatDuration,
  formatHeader,
  formatRow,
  formatSummary,
  formatTime,
  formatTokens,
  NONE,
} from "./format.ts";
export { auditFiles, readAuditLines, readRotatedLines } from "./read.ts";
export { followAuditLog, type FollowOptions } from "./follow.ts";
export { parseSince } from "../core/since.ts";
