/**
 * One coarse timer for every deadline the handler watches (body reads,
 * upstream reads), instead of a timer per request: creating timers costs on
 * the hot path. The timer runs only while something is watched, and stops
 * after two ticks with nothing to watch.
 *
 * @module
 */

/** Something with a deadline: `expire()` runs once `deadline` has passed. */
export interface Deadline {
  /** When it expires, in the clock's ms. Movable while watched. */
  deadline: number;
  /** Called once, by the sweep that finds the deadline passed. */
  expire(): void;
}

/** Options of {@link Deadlines}. */
export interface DeadlinesOptions {
  /** Clock, ms. */
  now: () => number;
  /** How often deadlines are checked, ms. */
  intervalMs: number;
  /** Called at the end of every sweep with its time (housekeeping; tests wait on it). */
  onSweep?: (t: number) => void;
}

/** The watched deadlines and their sweeper. */
export class Deadlines {
  readonly #watched = new Set<Deadline>();
  readonly #options: DeadlinesOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #idleTicks = 0;

  /** Nothing is watched and no timer runs until the first {@link watch}. */
  constructor(options: DeadlinesOptions) {
    this.#options = options;
  }

  /** Starts watching `d` (and the sweeper, if it is not running). */
  watch(d: Deadline): void {
    this.#watched.add(d);
    if (this.#timer === undefined) {
      // unref'd: the server (or an upstream request) is what keeps the process alive.
      const timer = setInterval(() => this.#sweep(), this.#options.intervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Stops watching `d`. */
  unwatch(d: Deadline): void {
    this.#watched.delete(d);
  }

  /** Forgets everything and stops the timer. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }

  #sweep(): void {
    const t = this.#options.now();
    for (const d of this.#watched) {
      if (d.deadline <= t) {
        this.#watched.delete(d);
        d.expire();
      }
    }
    this.#options.onSweep?.(t);
    if (this.#watched.size > 0) this.#idleTicks = 0;
    else if (this.#timer !== undefined && ++this.#idleTicks >= 2) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
