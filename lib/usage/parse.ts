/**
 * Token usage out of gateway answers, as they pass: `usage` in a JSON answer
 * (`prompt_tokens`/`completion_tokens`, or the Responses API's
 * `input_tokens`/`output_tokens`, also under `response.usage`) and in an SSE
 * stream (the `choices: []` usage chunk of `stream_options.include_usage`,
 * or `response.completed`).
 *
 * {@link SseUsageScanner} never holds a stream back: it splits the bytes at
 * event boundaries (`\n\n`), looks only at events that contain `"usage"`, and
 * passes each chunk on as it came. Only when it must strip the usage chunk
 * ecto asked for on the client's behalf does it pass whole events, keeping the
 * unfinished tail of one event (at most {@link MAX_EVENT_BYTES}) until its end
 * arrives.
 *
 * @module
 */

/** Tokens one answer used. */
export interface TokenUsage {
  /** Prompt (input) tokens, cached ones included. */
  prompt: number;
  /** Completion (output) tokens. */
  completion: number;
}

/** An SSE event larger than this is passed on unparsed (a usage chunk is a few hundred bytes). */
export const MAX_EVENT_BYTES = 1024 * 1024;

const LF = 10;
const CR = 13;
const USAGE = new TextEncoder().encode('"usage"');
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0
    ? Math.floor(value)
    : undefined;
}

/** A `usage` object's tokens (Chat Completions or Responses names), or `undefined`. */
export function usageOf(value: unknown): TokenUsage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const u = value as Record<string, unknown>;
  const prompt = count(u.prompt_tokens) ?? count(u.input_tokens);
  const completion = count(u.completion_tokens) ?? count(u.output_tokens);
  if (prompt === undefined && completion === undefined) return undefined;
  return { prompt: prompt ?? 0, completion: completion ?? 0 };
}

/** The usage of a parsed answer or stream event: `.usage` or `.response.usage`. */
function usageOfAnswer(value: unknown): TokenUsage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as { usage?: unknown; response?: { usage?: unknown } };
  return usageOf(v.usage) ?? usageOf(v.response?.usage);
}

/** The usage in a JSON answer's bytes, or `undefined` (not JSON, or no usage). */
export function usageFromJson(bytes: Uint8Array): TokenUsage | undefined {
  if (indexOf(bytes, USAGE, 0) === -1) return undefined;
  try {
    return usageOfAnswer(JSON.parse(decoder.decode(bytes)));
  } catch {
    return undefined;
  }
}

/** What one SSE event (its bytes, boundary excluded) says. */
export function parseSseEvent(
  event: Uint8Array,
): { usage: TokenUsage | undefined; usageOnly: boolean } {
  if (indexOf(event, USAGE, 0) === -1) return { usage: undefined, usageOnly: false };
  let data = "";
  for (const line of decoder.decode(event).split(/\r\n|\r|\n/)) {
    if (line.startsWith("data:")) {
      data += (data === "" ? "" : "\n") + line.slice(line.startsWith("data: ") ? 6 : 5);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return { usage: undefined, usageOnly: false };
  }
  const usage = usageOfAnswer(parsed);
  const choices = (parsed as { choices?: unknown }).choices;
  // The chunk `stream_options.include_usage` adds: no choices, only usage.
  const usageOnly = usage !== undefined && Array.isArray(choices) && choices.length === 0;
  return { usage, usageOnly };
}

/**
 * Scans an SSE stream for usage as it passes; with `strip`, drops the
 * usage-only chunk (the client did not ask for it). See the module docs.
 */
export class SseUsageScanner {
  /** The last usage seen so far. */
  usage: TokenUsage | undefined;
  #strip: boolean;
  #pending: Uint8Array = EMPTY;
  #skipping = false;

  /** A scanner; `strip`: remove the usage-only chunk from what passes. */
  constructor(options: { strip: boolean }) {
    this.#strip = options.strip;
  }

  /** Feeds `chunk`; returns the bytes to pass on now (the chunk itself unless stripping). */
  push(chunk: Uint8Array): Uint8Array {
    const data = this.#pending.byteLength === 0 ? chunk : concat(this.#pending, chunk);
    let start = 0;
    const kept: Uint8Array[] = [];
    while (true) {
      const boundary = eventEnd(data, start);
      if (boundary === -1) break;
      const [end, next] = boundary;
      const event = data.subarray(start, end);
      if (this.#skipping) this.#skipping = false;
      else {
        const seen = parseSseEvent(event);
        if (seen.usage) this.usage = seen.usage;
        if (this.#strip && seen.usageOnly) {
          start = next;
          continue;
        }
      }
      if (this.#strip) kept.push(data.subarray(start, next));
      start = next;
    }
    let rest = data.subarray(start);
    if (rest.byteLength > MAX_EVENT_BYTES) {
      // Too large to be a usage chunk: let it through and ignore the rest of that event.
      if (this.#strip) kept.push(rest);
      rest = EMPTY;
      this.#skipping = true;
    }
    this.#pending = rest.byteLength === 0 ? EMPTY : rest.slice();
    if (!this.#strip) return chunk;
    return kept.length === 1 ? kept[0] : concat(...kept);
  }

  /** The stream ended: parses and returns whatever unterminated event was left. */
  end(): Uint8Array {
    const rest = this.#pending;
    this.#pending = EMPTY;
    if (rest.byteLength === 0 || this.#skipping) return this.#strip ? rest : EMPTY;
    const seen = parseSseEvent(rest);
    if (seen.usage) this.usage = seen.usage;
    if (!this.#strip) return EMPTY;
    return seen.usageOnly ? EMPTY : rest;
  }
}

/** `[eventEnd, nextStart]` of the first blank line at or after `from`, or -1. */
function eventEnd(data: Uint8Array, from: number): [number, number] | -1 {
  let i = data.indexOf(LF, from);
  while (i !== -1) {
    if (data[i + 1] === LF) return [i, i + 2];
    if (data[i + 1] === CR && data[i + 2] === LF) return [i, i + 3];
    i = data.indexOf(LF, i + 1);
  }
  return -1;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  let i = haystack.indexOf(first, from);
  while (i !== -1 && i + needle.length <= haystack.length) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = haystack.indexOf(first, i + 1);
  }
  return -1;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 0) return EMPTY;
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
