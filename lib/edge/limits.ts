/**
 * The edge's abuse limits, as pure data structures driven by an injected
 * clock (milliseconds, e.g. `performance.now()`): a token bucket per key, a
 * concurrency count per key, and a failed-authentication lockout per client
 * address. Nothing here reads a clock, starts a timer or touches I/O, so tests
 * move time by passing a different `now`.
 *
 * A limit value of `0` means "no limit".
 *
 * @module
 */

/** Per-key request limits. `0` disables a limit. */
export interface KeyLimits {
  /** Sustained request rate (token bucket refill), requests per minute. */
  requestsPerMinute?: number;
  /** Bucket size: how many requests may arrive at once after a quiet spell. */
  burst?: number;
  /** Requests of this key in flight at the same time (streams count until they end). */
  maxConcurrent?: number;
  /** Requests forwarded per UTC day (a daily budget; see `lib/usage/budget.ts`). */
  maxRequestsPerDay?: number;
  /** Prompt plus completion tokens per UTC day (a daily budget). */
  maxTokensPerDay?: number;
}

/** The rate and concurrency fields of {@link KeyLimits}, every one decided. */
export type ResolvedKeyLimits = Required<
  Pick<KeyLimits, "requestsPerMinute" | "burst" | "maxConcurrent">
>;

/** Defaults per key role: generous for the owner, modest for keys handed to others. */
export const DEFAULT_KEY_LIMITS: Readonly<Record<"owner" | "client", ResolvedKeyLimits>> = {
  owner: { requestsPerMinute: 6000, burst: 1000, maxConcurrent: 1024 },
  client: { requestsPerMinute: 120, burst: 30, maxConcurrent: 16 },
};

/** Request-shape limits and timeouts the handler enforces before anything reaches the gateway. */
export interface RequestLimits {
  /** Largest request body, bytes (the gateway's own limit is 20 MB). */
  maxBodyBytes: number;
  /** Largest total size of request header names and values, bytes. */
  maxHeaderBytes: number;
  /** Most request header fields. */
  maxHeaderCount: number;
  /** A client must deliver its whole request body within this many ms (slow-client guard). */
  bodyTimeoutMs: number;
}

/** Defaults for {@link RequestLimits}. */
export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = {
  maxBodyBytes: 20 * 1024 * 1024,
  maxHeaderBytes: 32 * 1024,
  maxHeaderCount: 100,
  bodyTimeoutMs: 60_000,
};

/** Settings of {@link FailedAuthLimiter}. */
export interface FailedAuthOptions {
  /** Wrong keys tolerated per client within `windowMs`. */
  maxFailures: number;
  /** Window the failures are counted in, ms. */
  windowMs: number;
  /** How long a client is refused after exceeding `maxFailures`, ms. */
  lockoutMs: number;
  /** Clients remembered at most (oldest forgotten first), so the table cannot grow without bound. */
  maxEntries: number;
}

/** Defaults for {@link FailedAuthOptions} (like the gateway's own: 10 per minute, 5 min lockout). */
export const DEFAULT_FAILED_AUTH: Readonly<FailedAuthOptions> = {
  maxFailures: 10,
  windowMs: 60_000,
  lockoutMs: 300_000,
  maxEntries: 10_000,
};

/** Merges a key's own limits over its role's defaults. */
export function resolveKeyLimits(
  role: "owner" | "client",
  own: KeyLimits | undefined,
  defaults: Readonly<Record<"owner" | "client", ResolvedKeyLimits>> = DEFAULT_KEY_LIMITS,
): ResolvedKeyLimits {
  const base = defaults[role];
  if (!own) return base;
  return {
    requestsPerMinute: own.requestsPerMinute ?? base.requestsPerMinute,
    burst: own.burst ?? base.burst,
    maxConcurrent: own.maxConcurrent ?? base.maxConcurrent,
  };
}

/**
 * A token bucket: holds up to `burst` tokens, refills `perMinute` per minute,
 * and each request takes one.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  #perMs: number;
  #burst: number;

  /** A full bucket at time `now`. */
  constructor(perMinute: number, burst: number, now: number) {
    this.#perMs = perMinute / 60_000;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#last = now;
  }

  /** Changes the rate and size (a key's limits were edited), keeping the tokens held. */
  reconfigure(perMinute: number, burst: number): void {
    this.#perMs = perMinute / 60_000;
    this.#burst = Math.max(1, burst);
    if (this.#tokens > this.#burst) this.#tokens = this.#burst;
  }

  /** Takes one token: returns 0 when granted, else the ms until one is available. */
  take(now: number): number {
    const elapsed = now - this.#last;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#perMs);
      this.#last = now;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    if (this.#perMs <= 0) return Infinity;
    return Math.ceil((1 - this.#tokens) / this.#perMs);
  }

  /** Whether the bucket has refilled completely by `now` (so it can be forgotten). */
  isFull(now: number): boolean {
    return this.#tokens + Math.max(0, now - this.#last) * this.#perMs >= this.#burst;
  }
}

/** Why {@link KeyLimiter.acquire} refused. */
export type LimitRefusal = { ok: false; reason: "rate" | "concurrency"; retryAfterMs: number };

/** A granted request slot; call `release()` exactly once when the request (or its stream) ends. */
export type LimitGrant = { ok: true; release: () => void };

/** Per-key rate and concurrency accounting. */
export class KeyLimiter {
  #buckets = new Map<string, TokenBucket>();
  #inFlight = new Map<string, number>();

  /**
   * Admits one request of key `keyId` at time `now` under `limits`, or says
   * why not and when to retry. A granted slot must be released.
   *
   * @param keyId the key's id
   * @param limits the key's resolved limits
   * @param now the current time, ms
   * @returns a grant to release, or a refusal with a retry delay
   */
  acquire(keyId: string, limits: ResolvedKeyLimits, now: number): LimitGrant | LimitRefusal {
    const inFlight = this.#inFlight.get(keyId) ?? 0;
    if (limits.maxConcurrent > 0 && inFlight >= limits.maxConcurrent) {
      return { ok: false, reason: "concurrency", retryAfterMs: 1000 };
    }
    if (limits.requestsPerMinute > 0) {
      let bucket = this.#buckets.get(keyId);
      if (!bucket) {
        bucket = new TokenBucket(limits.requestsPerMinute, limits.burst, now);
        this.#buckets.set(keyId, bucket);
      } else bucket.reconfigure(limits.requestsPerMinute, limits.burst);
      const wait = bucket.take(now);
      if (wait > 0) return { ok: false, reason: "rate", retryAfterMs: wait };
    }
    this.#inFlight.set(keyId, inFlight + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.#inFlight.get(keyId) ?? 1) - 1;
        if (n <= 0) this.#inFlight.delete(keyId);
        else this.#inFlight.set(keyId, n);
      },
    };
  }

  /** Requests of `keyId` in flight now. */
  inFlight(keyId: string): number {
    return this.#inFlight.get(keyId) ?? 0;
  }

  /** Forgets full buckets (memory hygiene; call now and then). */
  prune(now: number): void {
    for (const [id, bucket] of this.#buckets) if (bucket.isFull(now)) this.#buckets.delete(id);
  }
}

interface FailureEntry {
  windowStart: number;
  failures: number;
  lockedUntil: number;
}

/**
 * Counts wrong keys per client address and locks a client out after too many:
 * during the lockout every request of that client gets 429, even with a good
 * key (like the gateway's own limiter), so guessing cannot continue.
 */
export class FailedAuthLimiter {
  #entries = new Map<string, FailureEntry>();
  #options: FailedAuthOptions;

  /** A limiter with `options` (defaults: {@link DEFAULT_FAILED_AUTH}). */
  constructor(options: Partial<FailedAuthOptions> = {}) {
    this.#options = { ...DEFAULT_FAILED_AUTH, ...options };
  }

  /** 0 when `client` may try now, else the ms until its lockout ends. */
  check(client: string, now: number): number {
    const entry = this.#entries.get(client);
    if (!entry) return 0;
    return entry.lockedUntil > now ? entry.lockedUntil - now : 0;
  }

  /**
   * Records a wrong key from `client`; returns the lockout left (ms) when the
   * client is (now) locked out, else 0. Check and count are one synchronous
   * step, so requests verified in parallel cannot slip past the limit: at most
   * `maxFailures` wrong keys per window are ever answered with anything but 429.
   * A good key never resets the count.
   */
  fail(client: string, now: number): number {
    const o = this.#options;
    let entry = this.#entries.get(client);
    if (entry && entry.lockedUntil > now) return entry.lockedUntil - now;
    if (!entry || now - entry.windowStart >= o.windowMs) {
      if (entry) this.#entries.delete(client);
      entry = { windowStart: now, failures: 0, lockedUntil: entry?.lockedUntil ?? 0 };
      if (this.#entries.size >= o.maxEntries) this.#evict(now);
      this.#entries.set(client, entry);
    }
    entry.failures++;
    if (entry.failures > o.maxFailures) {
      entry.lockedUntil = now + o.lockoutMs;
      entry.failures = 0;
      entry.windowStart = now;
      return o.lockoutMs;
    }
    return 0;
  }

  /** Clients currently remembered. */
  get size(): number {
    return this.#entries.size;
  }

  #evict(now: number): void {
    // First drop everything stale; if still full, drop the oldest insertion.
    for (const [key, e] of this.#entries) {
      if (e.lockedUntil <= now && now - e.windowStart >= this.#options.windowMs) {
        this.#entries.delete(key);
      }
    }
    while (this.#entries.size >= this.#options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }
}

const ADDRESS_RE = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * The client address a request is attributed to. The edge only listens on
 * loopback, so its TCP peer is always tailscaled (or a local process);
 * Tailscale Funnel replaces `X-Forwarded-For` with the one public client
 * address. That value is used when it parses as an IP address; otherwise the
 * peer address is.
 */
export function clientAddress(forwardedFor: string | null, peer: string): string {
  return forwardedClient(forwardedFor) ?? peer;
}

/** The address in `X-Forwarded-For` (its last entry) when it parses as an IP address. */
export function forwardedClient(forwardedFor: string | null): string | undefined {
  if (forwardedFor === null) return undefined;
  const comma = forwardedFor.lastIndexOf(",");
  const value = (comma === -1 ? forwardedFor : forwardedFor.slice(comma + 1)).trim();
  return ADDRESS_RE.test(value) ? value : undefined;
}

/**
 * The key a client address is limited under: an IPv4 address as is, an IPv6
 * address by its /64 prefix (one subscriber usually holds a whole /64).
 */
export function limiterKey(address: string): string {
  if (!address.includes(":")) return address;
  const expanded = expandIpv6(address);
  return expanded === undefined ? address : `${expanded.slice(0, 4).join(":")}::/64`;
}

function expandIpv6(address: string): string[] | undefined {
  const zone = address.indexOf("%");
  const a = (zone === -1 ? address : address.slice(0, zone)).replace(/^\[|\]$/g, "");
  if (a.includes(".")) return undefined; // IPv4-mapped: keep the whole thing
  const halves = a.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0 || (halves.length === 1 && head.length !== 8)) return undefined;
  const groups = [...head, ...Array<string>(fill).fill("0"), ...tail];
  return groups.map((g) => (g === "" ? "0" : g.toLowerCase().replace(/^0+(?=.)/, "")));
}
