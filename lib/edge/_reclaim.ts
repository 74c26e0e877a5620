/**
 * Gives memory back after a burst. V8 grows its heap under load and, with no
 * allocation afterwards, never collects it again, so an idle edge that once
 * served a burst would sit at 150+ MB RSS. When no request has arrived for
 * `idleMs` and the heap is larger than `heapThreshold`, this runs one full
 * collection (via `node:v8`'s `--expose-gc`), which brings RSS back down.
 * A request that arrives during it waits for it (tens of ms, only after idleness).
 *
 * @module
 */

/** What the reclaimer watches: a counter that moves with every request. */
export interface RequestCounter {
  readonly handled: number;
}

let gcFn: (() => void) | null | undefined;

/** V8's `gc()` (exposed on first use), or `null` when it cannot be had. */
export async function fullGc(): Promise<(() => void) | null> {
  if (gcFn !== undefined) return gcFn;
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === "function") return gcFn = global as () => void;
  try {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    const fn = runInNewContext("gc");
    gcFn = typeof fn === "function" ? fn as () => void : null;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/** Options of {@link startIdleReclaimer}. */
export interface ReclaimerOptions {
  /** Quiet time before collecting, ms. Default 1000. */
  idleMs?: number;
  /** Collect only when the V8 heap is larger than this, bytes. Default 24 MiB. */
  heapThreshold?: number;
  /** How often to look, ms. Default 500. */
  intervalMs?: number;
  /** Clock, ms. Default `performance.now`. */
  now?: () => number;
  /** The V8 heap size now, bytes. Default `Deno.memoryUsage().heapTotal`. */
  heapTotal?: () => number;
  /** Runs one full collection. Default V8's `gc()` via {@link fullGc}. */
  collect?: () => void;
  /** Calls `look` every `ms`; returns the stop function. Default an unref'd `setInterval`. */
  every?: (look: () => void, ms: number) => () => void;
}

/** Starts watching `counter`; returns the function that stops it. */
export function startIdleReclaimer(
  counter: RequestCounter,
  options: ReclaimerOptions = {},
): () => void {
  const idleMs = options.idleMs ?? 1000;
  const threshold = options.heapThreshold ?? 24 * 1024 * 1024;
  const now = options.now ?? (() => performance.now());
  const heapTotal = options.heapTotal ?? (() => Deno.memoryUsage().heapTotal);
  const collect = options.collect ?? (() => void fullGc().then((gc) => gc?.()));
  const every = options.every ?? ((look: () => void, ms: number) => {
    const timer = setInterval(look, ms);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  });
  let last = counter.handled;
  let quietSince = now();
  return every(() => {
    const t = now();
    if (counter.handled !== last) {
      last = counter.handled;
      quietSince = t;
      return;
    }
    if (t - quietSince < idleMs) return;
    quietSince = Infinity; // once per quiet spell
    if (heapTotal() <= threshold) return;
    collect();
  }, options.intervalMs ?? 500);
}
