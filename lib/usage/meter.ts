/**
 * The edge's usage meter: counts each key's requests, tokens, errors and
 * bytes per UTC day in memory, decides daily budgets synchronously (no await
 * between the check and the count, so parallel requests cannot slip past a
 * budget), and writes what accumulated to the {@link UsageStore} once a
 * second and on `close()` — never on a request's path. A failed write keeps
 * its batch for the next one.
 *
 * @example
 * ```ts
 * const meter = await UsageMeter.open(paths.usageDb);
 * const admitted = meter.admit(key, Date.now());
 * if (!admitted.ok) return budgetExceeded(admitted);
 * // ... forward, then:
 * admitted.ticket.finish({ status: 200, bytesIn, bytesOut, usage, failed: false });
 * await meter.close();
 * ```
 *
 * @module
 */
import { type BudgetDecision, checkBudget, type DailyBudget, utcDay } from "./budget.ts";
import type { TokenUsage } from "./parse.ts";
import { type UsageDelta, UsageStore } from "./store.ts";

/** The key fields the meter needs (a {@link KeyRecord} fits). */
export interface MeteredKey {
  /** The key's id. */
  readonly id: string;
  /** The key's name. */
  readonly name: string;
  /** Its budgets (other limit fields are ignored). */
  readonly limits?: DailyBudget | undefined;
}

/** How a forwarded request ended. */
export interface RequestEnd {
  /** Status sent to the client. */
  status: number;
  /** Request body bytes forwarded. */
  bytesIn: number;
  /** Response body bytes sent. */
  bytesOut: number;
  /** Tokens the answer reported, if it did. */
  usage?: TokenUsage | undefined;
  /** Whether it broke off (timeout, client gone, gateway error) even with a good status. */
  failed?: boolean;
}

/** An admitted request: call `finish()` once it was forwarded, or `cancel()` if it never was. */
export interface UsageTicket {
  /** The request was forwarded and has ended. */
  finish(end: RequestEnd): void;
  /** The request was not forwarded after all (refused later, e.g. its body). */
  cancel(): void;
}

/** {@link UsageMeter.admit}'s answer. */
export type Admission =
  | { ok: true; ticket: UsageTicket }
  | Exclude<BudgetDecision, { ok: true }>;

/** Where batches go ({@link UsageStore} in production; tests pass fakes). */
export interface UsageWriter {
  /** Adds one batch atomically; throws when it could not. */
  add(deltas: readonly UsageDelta[]): void;
}

/** Options of {@link UsageMeter}. */
export interface UsageMeterOptions {
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** How often accumulated usage is written, ms. Default 1000. */
  flushIntervalMs?: number;
  /** Today's totals already in the database, per key id (a restarted edge keeps its budgets). */
  today?: ReadonlyMap<string, { requests: number; tokens: number }>;
}

interface KeyDay {
  day: string;
  requests: number;
  tokens: number;
  inFlight: number;
  largestAnswer: number;
}

/** See the module documentation. */
export class UsageMeter implements AsyncDisposable {
  /** The last write error (the batch is kept and retried), if any. */
  lastError: unknown;
  /** Batches written so far. */
  flushes = 0;
  #writer: UsageWriter | undefined;
  #closeWriter: (() => void) | undefined;
  #now: () => number;
  #flushIntervalMs: number;
  #keys = new Map<string, KeyDay>();
  #pending = new Map<string, UsageDelta>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** A meter writing to `writer` (none: counts in memory only). */
  constructor(writer: UsageWriter | undefined, options: UsageMeterOptions = {}) {
    this.#writer = writer;
    this.#now = options.now ?? Date.now;
    this.#flushIntervalMs = options.flushIntervalMs ?? 1000;
    const day = utcDay(this.#now());
    for (const [id, t] of options.today ?? []) {
      this.#keys.set(id, {
        day,
        requests: t.requests,
        tokens: t.tokens,
        inFlight: 0,
        largestAnswer: 0,
      });
    }
  }

  /**
   * Opens the usage database at `path` for writing and loads today's totals
   * (so budgets survive a restart).
   *
   * @throws {UsageStoreError} when the database cannot be opened.
   */
  static async open(
    path: string,
    options: Omit<UsageMeterOptions, "today"> = {},
  ): Promise<UsageMeter> {
    const store = await UsageStore.openWriter(path);
    const day = utcDay((options.now ?? Date.now)());
    const today = new Map<string, { requests: number; tokens: number }>();
    for (const row of store.rows({ since: day })) {
      if (row.day !== day) continue;
      today.set(row.keyId, {
        requests: row.requests,
        tokens: row.promptTokens + row.completionTokens,
      });
    }
    const meter = new UsageMeter(store, { ...options, today });
    meter.#closeWriter = () => store.close();
    return meter;
  }

  /**
   * Admits one request of `key` at `now` under its daily budgets, counting it
   * in flight at once, or says which budget it hit. Synchronous.
   */
  admit(key: MeteredKey, now: number): Admission {
    const state = this.#state(key.id, now);
    const decision = checkBudget(key.limits, state, now);
    if (!decision.ok) return decision;
    state.inFlight++;
    const day = state.day;
    let done = false;
    return {
      ok: true,
      ticket: {
        finish: (end) => {
          if (done) return;
          done = true;
          state.inFlight--;
          const tokens = end.usage ? end.usage.prompt + end.usage.completion : 0;
          if (state.day === day) {
            state.requests++;
            state.tokens += tokens;
            if (tokens > state.largestAnswer) state.largestAnswer = tokens;
          }
          const d = this.#delta(key, day, this.#now());
          d.requests++;
          d.promptTokens += end.usage?.prompt ?? 0;
          d.completionTokens += end.usage?.completion ?? 0;
          if (end.failed || end.status >= 400) d.errors++;
          d.bytesIn += end.bytesIn;
          d.bytesOut += end.bytesOut;
          this.#schedule();
        },
        cancel: () => {
          if (done) return;
          done = true;
          state.inFlight--;
        },
      },
    };
  }

  /** Counts a request of `key` the edge turned away itself. */
  refused(key: MeteredKey, now: number): void {
    this.#delta(key, utcDay(now), now).refused++;
    this.#schedule();
  }

  /** Today's use of key `id` as the budget sees it (requests, tokens, in flight). */
  today(id: string): { requests: number; tokens: number; inFlight: number } {
    const s = this.#state(id, this.#now());
    return { requests: s.requests, tokens: s.tokens, inFlight: s.inFlight };
  }

  /** Writes what accumulated, in one transaction. A failure keeps the batch for the next try. */
  flush(): void {
    if (this.#pending.size === 0 || !this.#writer) return;
    const batch = [...this.#pending.values()];
    this.#pending = new Map();
    try {
      this.#writer.add(batch);
      this.flushes++;
    } catch (error) {
      this.lastError = error;
      for (const d of batch) this.#merge(d);
    }
  }

  /** Flushes, stops the timer and closes the database. Later counts are kept in memory only. */
  close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
    this.#closed = true;
    this.#closeWriter?.();
    this.#closeWriter = undefined;
    this.#writer = undefined;
    return Promise.resolve();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #state(id: string, now: number): KeyDay {
    const day = utcDay(now);
    let s = this.#keys.get(id);
    if (s === undefined) {
      s = { day, requests: 0, tokens: 0, inFlight: 0, largestAnswer: 0 };
      this.#keys.set(id, s);
    } else if (s.day !== day) {
      // A new UTC day: the budgets start again; requests in flight stay counted.
      s.day = day;
      s.requests = 0;
      s.tokens = 0;
      s.largestAnswer = 0;
    }
    return s;
  }

  #delta(key: MeteredKey, day: string, now: number): UsageDelta {
    const id = `${key.id}\n${day}`;
    let d = this.#pending.get(id);
    if (d === undefined) {
      d = {
        keyId: key.id,
        keyName: key.name,
        day,
        requests: 0,
        promptTokens: 0,
        completionTokens: 0,
        errors: 0,
        refused: 0,
        bytesIn: 0,
        bytesOut: 0,
      };
      this.#pending.set(id, d);
    }
    d.keyName = key.name;
    d.lastUsed = new Date(now).toISOString();
    return d;
  }

  #merge(old: UsageDelta): void {
    const id = `${old.keyId}\n${old.day}`;
    const d = this.#pending.get(id);
    if (d === undefined) {
      this.#pending.set(id, old);
      return;
    }
    d.requests += old.requests;
    d.promptTokens += old.promptTokens;
    d.completionTokens += old.completionTokens;
    d.errors += old.errors;
    d.refused += old.refused;
    d.bytesIn += old.bytesIn;
    d.bytesOut += old.bytesOut;
    if ((old.lastUsed ?? "") > (d.lastUsed ?? "")) d.lastUsed = old.lastUsed;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed || !this.#writer) return;
    const timer = setInterval(() => {
      if (this.#pending.size === 0) {
        clearInterval(timer);
        this.#timer = undefined;
        return;
      }
      this.flush();
    }, this.#flushIntervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }
}
