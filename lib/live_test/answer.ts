/**
 * Reading a chat completion's answer: the `chat.completion` object, or the
 * SSE stream of `chat.completion.chunk`s with the time each event arrived;
 * then the figures `ecto test` prints (time to first byte, tokens per second,
 * the answer's first line). Pure.
 *
 * @module
 */
import type { TimedChunk } from "./https_post.ts";

/** One server-sent event's `data` and when it was complete. */
export interface SseEvent {
  /** Milliseconds after the request. */
  atMs: number;
  /** The `data:` lines, joined by newlines. */
  data: string;
}

/** Splits timed body pieces into SSE events (`data:` fields only; comments and other fields skipped). */
export function parseSse(chunks: readonly TimedChunk[]): SseEvent[] {
  const events: SseEvent[] = [];
  let buffer = "";
  let data: string[] = [];
  const flushEvent = (atMs: number) => {
    if (data.length > 0) events.push({ atMs, data: data.join("\n") });
    data = [];
  };
  const takeLine = (line: string, atMs: number) => {
    if (line === "") return flushEvent(atMs);
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
  };
  let lastMs = 0;
  for (const chunk of chunks) {
    lastMs = chunk.atMs;
    buffer += chunk.text;
    const lines = buffer.split(/\r\n|\n|\r/);
    buffer = lines.pop()!;
    for (const line of lines) takeLine(line, chunk.atMs);
  }
  if (buffer !== "") takeLine(buffer, lastMs);
  flushEvent(lastMs);
  return events;
}

/** Token counts from an OpenAI `usage` object. */
export interface Usage {
  /** `prompt_tokens`. */
  promptTokens?: number;
  /** `completion_tokens`. */
  completionTokens: number;
}

function readUsage(value: unknown): Usage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.completion_tokens !== "number") return undefined;
  return {
    completionTokens: v.completion_tokens,
    ...(typeof v.prompt_tokens === "number" ? { promptTokens: v.prompt_tokens } : {}),
  };
}

function errorMessage(value: unknown): string | undefined {
  const error = (value as { error?: unknown } | null)?.error;
  if (error === undefined || error === null) return undefined;
  if (typeof error === "string") return error;
  const message = (error as { message?: unknown }).message;
  return typeof message === "string" ? message : JSON.stringify(error).slice(0, 200);
}

/** What an answer held. */
export interface Answer {
  /** The assistant's text. */
  content: string;
  /** `usage`, when the answer carried it. */
  usage?: Usage;
  /** Content pieces (stream: chunks with non-empty `delta.content`; otherwise 1). */
  contentChunks: number;
  /** Stream: when the first content arrived, ms after the request. */
  firstContentMs?: number;
  /** Stream: whether `data: [DONE]` ended it. */
  done?: boolean;
  /** An error the gateway sent instead of (or in the middle of) an answer. */
  error?: string;
}

/** A `chat.completion` object's answer; `undefined` when the body is not one. */
export function readCompletion(body: string): Answer | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const error = errorMessage(value);
  if (error !== undefined) return { content: "", contentChunks: 0, error };
  const v = value as { object?: unknown; choices?: unknown; usage?: unknown };
  if (!Array.isArray(v?.choices)) return undefined;
  const content = (v.choices[0] as { message?: { content?: unknown } } | undefined)?.message
    ?.content;
  if (typeof content !== "string") return undefined;
  const usage = readUsage(v.usage);
  return { content, contentChunks: 1, ...(usage ? { usage } : {}) };
}

/** A stream's answer from its events; `undefined` when no event was a completion chunk. */
export function readStream(events: readonly SseEvent[]): Answer | undefined {
  let content = "";
  let contentChunks = 0;
  let firstContentMs: number | undefined;
  let usage: Usage | undefined;
  let error: string | undefined;
  let done = false;
  let chunks = 0;
  for (const event of events) {
    if (event.data.trim() === "[DONE]") {
      done = true;
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(event.data);
    } catch {
      continue;
    }
    const message = errorMessage(value);
    if (message !== undefined) {
      error = message;
      continue;
    }
    const v = value as { choices?: unknown; usage?: unknown };
    if (!Array.isArray(v?.choices)) continue;
    chunks++;
    usage = readUsage(v.usage) ?? usage;
    for (const choice of v.choices) {
      const piece = (choice as { delta?: { content?: unknown } })?.delta?.content;
      if (typeof piece === "string" && piece !== "") {
        content += piece;
        contentChunks++;
        firstContentMs ??= event.atMs;
      }
    }
  }
  if (chunks === 0 && error === undefined) return undefined;
  return {
    content,
    contentChunks,
    done,
    ...(firstContentMs === undefined ? {} : { firstContentMs }),
    ...(usage ? { usage } : {}),
    ...(error === undefined ? {} : { error }),
  };
}

/** The answer's first non-empty line, at most 160 characters. */
export function firstLine(content: string): string {
  const line = content.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== "") ?? "";
  return line.length > 160 ? line.slice(0, 159) + "…" : line;
}

/** Throughput figures. */
export interface Throughput {
  /** Completion tokens (from `usage`), or content chunks counted when there is no `usage`. */
  tokens: number | null;
  /** Where `tokens` came from. */
  tokenSource: "usage" | "chunks" | "none";
  /** The time the rate is over: first content to end of stream, or the whole request. */
  windowMs: number;
  /** `tokens` per second over `windowMs`; `null` when unknown. */
  tokensPerSecond: number | null;
}

/**
 * Tokens per second. A stream is measured from its first content to its end
 * (the model's speed, not its thinking time) unless that is under 1 ms (one
 * burst), then over the whole request like a plain answer.
 */
export function throughput(answer: Answer, totalMs: number): Throughput {
  const source = answer.usage ? "usage" : answer.done !== undefined ? "chunks" : "none";
  const tokens = answer.usage
    ? answer.usage.completionTokens
    : source === "chunks"
    ? answer.contentChunks
    : null;
  const streamWindow = answer.firstContentMs === undefined ? 0 : totalMs - answer.firstContentMs;
  const windowMs = Math.max(streamWindow >= 1 ? streamWindow : totalMs, 0.001);
  return {
    tokens,
    tokenSource: source,
    windowMs,
    // Three significant figures: a slow agent's 0.032 tokens/s must not print as 0.
    tokensPerSecond: tokens === null ? null : Number(((tokens / windowMs) * 1000).toPrecision(3)),
  };
}
