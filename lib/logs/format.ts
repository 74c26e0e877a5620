/**
 * The audit log as a table for people. Columns have fixed minimum widths so
 * that `--follow` can print the header first and rows as they come; a wider
 * value pushes its row out rather than being cut. Pure.
 *
 * @module
 */
import type { EntryTokens, LogEntry } from "./parse.ts";

/** Shown where a record has no value (no key accepted, no tokens recorded). */
export const NONE = "–";

const COLUMNS = [
  { title: "TIME (UTC)", width: 19 },
  { title: "KEY", width: 14 },
  { title: "CLIENT", width: 15 },
  { title: "METHOD", width: 6 },
  { title: "PATH", width: 20 },
  { title: "STATUS", width: 6, right: true },
  { title: "DURATION", width: 8, right: true },
  { title: "TOKENS", width: 6, right: true },
] as const;

function row(cells: string[]): string {
  return cells.map((cell, i) => {
    const column = COLUMNS[i]!;
    const last = i === cells.length - 1;
    if ("right" in column) return cell.padStart(column.width);
    return last ? cell : cell.padEnd(column.width);
  }).join("  ").trimEnd();
}

/** The header line. */
export function formatHeader(): string {
  return row(COLUMNS.map((c) => c.title));
}

/** `2026-12-01T09:21:07.123Z` → `2026-12-01 09:21:07`. */
export function formatTime(timeMs: number): string {
  return new Date(timeMs).toISOString().slice(0, 19).replace("T", " ");
}

/** `850 ms`, `1.2 s`, `2 m 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} m ${s % 60} s`;
}

/** The total, or {@link NONE}. */
export function formatTokens(tokens: EntryTokens | undefined): string {
  return tokens === undefined ? NONE : String(tokens.total);
}

/** One entry as a table row. */
export function formatRow(entry: LogEntry): string {
  return row([
    formatTime(entry.timeMs),
    entry.keyName ?? entry.keyId ?? NONE,
    entry.client || NONE,
    entry.method,
    entry.path,
    String(entry.status),
    formatDuration(entry.durationMs),
    formatTokens(entry.tokens),
  ]);
}

/** The closing line under a table: how many shown, how many lines were skipped. */
export function formatSummary(shown: number, malformed: number): string {
  const requests = shown === 1 ? "1 request" : `${shown} requests`;
  if (malformed === 0) return requests;
  return `${requests}; skipped ${malformed} malformed line${malformed === 1 ? "" : "s"}`;
}
