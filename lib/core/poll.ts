/**
 * The one way ecto waits: {@link sleep} is the only timer-backed pause, and
 * {@link poll} the only polling loop, bounded and driven by an injected clock
 * so tests move time instead of waiting for it.
 *
 * @module
 */

/** Waits `ms` milliseconds on a timer: the default every injected `sleep` falls back to. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Options for {@link poll}. */
export interface PollOptions {
  /** Give up once this much time has passed by `now` (the check runs once more at the bound). */
  timeoutMs: number;
  /** Pause between checks. */
  intervalMs: number;
  /** Milliseconds clock (default `Date.now`). */
  now?: () => number;
  /** The pause (default {@link sleep}). */
  sleep?: (ms: number) => Promise<void>;
  /** Called before each pause with the time waited so far (progress reports). */
  onWait?: (elapsedMs: number) => void;
}

/**
 * Runs `check` at once and then every `intervalMs` until it returns a value
 * (not `undefined`) or `timeoutMs` has passed; returns the value and the time
 * it took, or `undefined` at the bound.
 */
export async function poll<T>(
  check: () => Promise<T | undefined>,
  options: PollOptions,
): Promise<{ value: T; elapsedMs: number } | undefined> {
  const now = options.now ?? Date.now;
  const pause = options.sleep ?? sleep;
  const started = now();
  for (;;) {
    const value = await check();
    const elapsedMs = now() - started;
    if (value !== undefined) return { value, elapsedMs };
    if (elapsedMs >= options.timeoutMs) return undefined;
    options.onWait?.(elapsedMs);
    await pause(Math.min(options.intervalMs, options.timeoutMs - elapsedMs));
  }
}

/**
 * A clock that counts only the time spent in its own `sleep`, for loops whose
 * bound is "this many pauses" and whose callers inject just a `sleep`.
 */
export function waitedClock(
  pause: (ms: number) => Promise<void> = sleep,
): { now: () => number; sleep: (ms: number) => Promise<void> } {
  let waited = 0;
  return {
    now: () => waited,
    sleep: async (ms) => {
      waited += ms;
      await pause(ms);
    },
  };
}
