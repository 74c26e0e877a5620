/**
 * Reading the edge's audit log (JSON lines, format in `lib/edge/audit.ts`):
 * one line to one entry, a malformed line to `undefined` (counted, never
 * thrown), `--since` specs, and the `--key` filter. Pure.
 *
 * @module
 */

/** Tokens a request used, when the edge recorded them (the usage work adds `tokens`). */
export interface EntryTokens {
  /** Prompt tokens, when known. */
  prompt?: number;
  /** Completion tokens, when known. */
  completion?: number;
  /** Total tokens. */
  total: number;
}

/** One audited request as `ecto logs` shows it. */
export interface LogEntry {
  /** ISO 8601 arrival time. */
  time: string;
  /** Arrival time in ms since the epoch (for `--since`). */
  timeMs: number;
  /** The key's id, when a key was accepted. */
  keyId?: string;
  /** The key's name, when a key was accepted. */
  keyName?: string;
  /** Client address. */
  client: string;
  /** Request method. */
  method: string;
  /** Request path (no query). */
  path: string;
  /** Status sent to the client. */
  status: number;
  /** Milliseconds from arrival to the end of the response. */
  durationMs: number;
  /** Tokens, when the record has them. */
  tokens?: EntryTokens;
  /** Why the edge answered itself or the stream ended early. */
  outcome?: string;
  /** Whether the answer was an event stream. */
  streamed?: boolean;
  /** The line as it was written (what `--json` prints). */
  raw: string;
}

/** Lines read, and how many could not be understood. */
export interface ParsedLog {
  /** Entries in file order. */
  entries: LogEntry[];
  /** Non-empty lines that were not an audit record. */
  malformed: number;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * `tokens` as a number, or `{prompt, completion, total}` in snake or camel
 * case (`total` summed when absent).
 */
export function parseTokens(value: unknown): EntryTokens | undefined {
  const n = num(value);
  if (n !== undefined) return { total: n };
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const prompt = num(v.prompt ?? v.promptTokens ?? v.prompt_tokens);
  const completion = num(v.completion ?? v.completionTokens ?? v.completion_tokens);
  const total = num(v.total ?? v.totalTokens ?? v.total_tokens) ??
    (prompt !== undefined || completion !== undefined
      ? (prompt ?? 0) + (completion ?? 0)
      : undefined);
  if (total === undefined) return undefined;
  return {
    ...(prompt === undefined ? {} : { prompt }),
    ...(completion === undefined ? {} : { completion }),
    total,
  };
}

/** One audit line to an entry; `undefined` when it is not an audit record. */
export function parseAuditLine(line: string): LogEntry | undefined {
  const raw = line.trim();
  if (raw === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const timeMs = typeof v.time === "string" ? Date.parse(v.time) : NaN;
  const status = num(v.status);
  if (
    Number.isNaN(timeMs) || status === undefined || typeof v.method !== "string" ||
    typeof v.path !== "string"
  ) {
    return undefined;
  }
  const entry: LogEntry = {
    time: v.time as string,
    timeMs,
    client: typeof v.client === "string" ? v.client : "",
    method: v.method,
    path: v.path,
    status,
    durationMs: num(v.durationMs) ?? 0,
    raw,
  };
  if (typeof v.keyId === "string") entry.keyId = v.keyId;
  if (typeof v.keyName === "string") entry.keyName = v.keyName;
  if (typeof v.outcome === "string") entry.outcome = v.outcome;
  if (typeof v.streamed === "boolean") entry.streamed = v.streamed;
  // The usage work writes `tokens` (a total) beside top-level `promptTokens`/`completionTokens`.
  const split = parseTokens({ promptTokens: v.promptTokens, completionTokens: v.completionTokens });
  const tokens = parseTokens(v.tokens) ?? split;
  if (tokens) {
    entry.tokens = split && tokens.prompt === undefined && tokens.completion === undefined
      ? { ...split, total: tokens.total }
      : tokens;
  }
  return entry;
}

/** Parses many lines (a file's text); blank lines are ignored, the rest counted if malformed. */
export function parseAuditLines(lines: Iterable<string>): ParsedLog {
  const entries: LogEntry[] = [];
  let malformed = 0;
  for (const line of lines) {
    if (line.trim() === "") continue;
    const entry = parseAuditLine(line);
    if (entry) entries.push(entry);
    else malformed++;
  }
  return { entries, malformed };
}

/** What to keep. */
export interface LogFilter {
  /** A key id or key name (exact, case-sensitive for ids, case-insensitive for names). */
  key?: string;
  /** Keep entries at or after this time (ms since the epoch). */
  sinceMs?: number;
}

/** Whether `entry` passes `filter`. */
export function matchesFilter(entry: LogEntry, filter: LogFilter): boolean {
  if (filter.sinceMs !== undefined && entry.timeMs < filter.sinceMs) return false;
  if (filter.key !== undefined) {
    const key = filter.key;
    const byId = entry.keyId === key;
    const byName = entry.keyName !== undefined && entry.keyName.toLowerCase() === key.toLowerCase();
    if (!byId && !byName) return false;
  }
  return true;
}
