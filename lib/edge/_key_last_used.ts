/**
 * `lastUsed` times, kept in memory and written in batches (every flush
 * interval, and on `flush()`/`close()`), so an accepted request never waits
 * for a write.
 *
 * @module
 */
import type { KeyRecord } from "./_key_file.ts";

/** Options of {@link LastUsedBatch}. */
export interface LastUsedBatchOptions {
  /** How long a time waits before being written, ms. */
  intervalMs: number;
  /** Writes the times (id → epoch ms); a rejection keeps them for the next attempt. */
  write: (used: ReadonlyMap<string, number>) => Promise<void>;
  /** Told why a write failed (a lost `lastUsed` is not worth failing a request). */
  onError: (error: unknown) => void;
}

/** The `lastUsed` times not yet written; see the module documentation. */
export class LastUsedBatch {
  #options: LastUsedBatchOptions;
  #pending = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(options: LastUsedBatchOptions) {
    this.#options = options;
  }

  /** Key `id` was used at `now` (epoch ms); starts the flush timer unless it runs or is closed. */
  mark(id: string, now: number): void {
    this.#pending.set(id, now);
    if (this.#timer === undefined && !this.#closed) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#options.intervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Drops key `id`'s pending time (the key is gone). */
  forget(id: string): void {
    this.#pending.delete(id);
  }

  /** `record` with its pending `lastUsed` time, when that is newer. */
  overlay(record: KeyRecord): KeyRecord {
    const used = this.#pending.get(record.id);
    if (used === undefined) return record;
    const iso = new Date(used).toISOString();
    return record.lastUsed !== undefined && record.lastUsed >= iso
      ? record
      : { ...record, lastUsed: iso };
  }

  /** Writes pending times now. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.size === 0) return this.#flushing ?? Promise.resolve();
    const pending = this.#pending;
    this.#pending = new Map();
    const run = async () => {
      await this.#flushing?.catch(() => {});
      await this.#options.write(pending);
    };
    const flushing = run().catch((error) => {
      // Keep the times for the next attempt; a lost lastUsed is not worth failing a request.
      for (const [id, t] of pending) {
        if ((this.#pending.get(id) ?? 0) < t) this.#pending.set(id, t);
      }
      this.#options.onError(error);
    }).finally(() => {
      if (this.#flushing === flushing) this.#flushing = undefined;
    });
    this.#flushing = flushing;
    return flushing;
  }

  /** Flushes pending times and stops the flush timer for good. */
  close(): Promise<void> {
    this.#closed = true;
    return this.flush();
  }
}
