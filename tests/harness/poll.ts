/**
 * The tests' one bounded poll: for what no event, ready line or promise
 * announces (a file another process writes, a process exiting, a gateway
 * hot-applying its config). It checks at once, then every `intervalMs`,
 * and checks one last time at the bound before it fails, so a slow machine
 * gets the whole bound and a fast one does not wait a fixed time.
 *
 * @module
 */

/** Options of {@link pollUntil}. */
export interface PollOptions {
  /** The bound, ms (default 10 000). */
  timeoutMs?: number;
  /** The pause between checks, ms (default 25). */
  intervalMs?: number;
  /** What is awaited, for the failure message (default "the condition"). */
  what?: string;
}

/** A check's answer: a value ends the poll; `undefined`, `null` or `false` means not yet. */
export type PollAnswer<T> = T | undefined | null | false;

/**
 * Resolves with the first answer of `check` that is not `undefined`, `null` or `false`;
 * rejects when none came within `timeoutMs` (naming `what`) or when `check` throws.
 *
 * @param check what is awaited (may be async)
 * @param options the bound, the interval and a name for the failure message
 */
export async function pollUntil<T>(
  check: () => PollAnswer<T> | Promise<PollAnswer<T>>,
  options: PollOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const last = performance.now() >= deadline;
    const answer = await check();
    if (answer !== undefined && answer !== null && answer !== false) return answer;
    if (last) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.what ?? "the condition"}`,
      );
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Math.min(intervalMs, deadline - performance.now())))
    );
  }
}

/**
 * `promise`, or a rejection naming `what` when it has not settled within `ms`: a test that
 * waits on an event fails with a reason instead of hanging.
 *
 * @param promise what is awaited
 * @param ms the bound
 * @param what what is awaited, for the failure message
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
