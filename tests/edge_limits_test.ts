import assert from "node:assert/strict";
import {
  clientAddress,
  DEFAULT_KEY_LIMITS,
  FailedAuthLimiter,
  KeyLimiter,
  limiterKey,
  resolveKeyLimits,
  TokenBucket,
} from "../lib/edge/limits.ts";

Deno.test("`TokenBucket` gives its burst, then one token per refill interval", () => {
  const bucket = new TokenBucket(60, 3, 0); // one per second
  assert.deepEqual([bucket.take(0), bucket.take(0), bucket.take(0)], [0, 0, 0]);
  assert.equal(bucket.take(0), 1000);
  assert.equal(bucket.take(400), 600);
  assert.equal(bucket.take(1000), 0);
  assert.equal(bucket.take(1000), 1000);
  assert.equal(bucket.isFull(1000), false);
  assert.equal(bucket.isFull(4000), true);
  assert.equal(new TokenBucket(0, 1, 0).take(0), 0);
  assert.equal(new TokenBucket(0, 1, 0).take(0) + new TokenBucket(0, 1, 0).take(0), 0);
});

Deno.test("`KeyLimiter.acquire()` enforces rate and concurrency per key; 0 means unlimited", async (t) => {
  await t.step("rate", () => {
    const limiter = new KeyLimiter();
    const limits = { requestsPerMinute: 60, burst: 2, maxConcurrent: 0 };
    const a = limiter.acquire("k", limits, 0);
    const b = limiter.acquire("k", limits, 0);
    const c = limiter.acquire("k", limits, 0);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(c, { ok: false, reason: "rate", retryAfterMs: 1000 });
    assert.ok(limiter.acquire("other", limits, 0).ok, "buckets are per key");
    assert.ok(limiter.acquire("k", limits, 1000).ok);
  });
  await t.step("concurrency", () => {
    const limiter = new KeyLimiter();
    const limits = { requestsPerMinute: 0, burst: 0, maxConcurrent: 2 };
    const a = limiter.acquire("k", limits, 0);
    const b = limiter.acquire("k", limits, 0);
    const c = limiter.acquire("k", limits, 0);
    assert.equal(c.ok, false);
    assert.equal(!c.ok && c.reason, "concurrency");
    assert.equal(limiter.inFlight("k"), 2);
    if (a.ok) {
      a.release();
      a.release(); // idempotent
    }
    assert.equal(limiter.inFlight("k"), 1);
    assert.ok(limiter.acquire("k", limits, 0).ok);
    if (b.ok) b.release();
  });
  await t.step("unlimited", () => {
    const limiter = new KeyLimiter();
    const limits = { requestsPerMinute: 0, burst: 0, maxConcurrent: 0 };
    for (let i = 0; i < 10_000; i++) assert.ok(limiter.acquire("k", limits, 0).ok);
  });
  await t.step("changed limits apply to an existing bucket", () => {
    const limiter = new KeyLimiter();
    assert.ok(limiter.acquire("k", { requestsPerMinute: 60, burst: 5, maxConcurrent: 0 }, 0).ok);
    const tight = { requestsPerMinute: 60, burst: 1, maxConcurrent: 0 };
    assert.equal(limiter.acquire("k", tight, 0).ok, true);
    assert.equal(limiter.acquire("k", tight, 0).ok, false);
  });
});

Deno.test("`resolveKeyLimits()` merges a key's own limits over its role's defaults", () => {
  assert.deepEqual(resolveKeyLimits("owner", undefined), DEFAULT_KEY_LIMITS.owner);
  assert.deepEqual(resolveKeyLimits("client", { burst: 5 }), {
    ...DEFAULT_KEY_LIMITS.client,
    burst: 5,
  });
  assert.ok(
    DEFAULT_KEY_LIMITS.owner.requestsPerMinute > DEFAULT_KEY_LIMITS.client.requestsPerMinute,
  );
  assert.ok(DEFAULT_KEY_LIMITS.owner.maxConcurrent >= 1000, "owner can hold 1000 streams");
});

Deno.test("`FailedAuthLimiter` locks a client out after too many wrong keys", async (t) => {
  await t.step("lockout, Retry-After countdown, end", () => {
    const limiter = new FailedAuthLimiter({ maxFailures: 3, windowMs: 60_000, lockoutMs: 10_000 });
    assert.deepEqual([0, 1, 2].map((i) => limiter.fail("a", i)), [0, 0, 0]);
    assert.equal(limiter.check("a", 3), 0);
    assert.equal(limiter.fail("a", 3), 10_000);
    assert.equal(limiter.check("a", 5_003), 5_000);
    assert.equal(limiter.check("b", 5_003), 0);
    assert.equal(limiter.check("a", 13_003), 0);
  });
  await t.step("nothing resets the count inside the window (a good key does not call in)", () => {
    const limiter = new FailedAuthLimiter({ maxFailures: 2, lockoutMs: 1_000 });
    assert.equal(limiter.fail("a", 0), 0);
    assert.equal(limiter.fail("a", 1), 0);
    assert.equal(limiter.fail("a", 2), 1_000);
  });
  await t.step("failures during a lockout stay locked out and never restart the count", () => {
    const limiter = new FailedAuthLimiter({ maxFailures: 2, lockoutMs: 1_000 });
    for (let i = 0; i < 3; i++) limiter.fail("a", 0);
    // every further wrong key while locked: the lockout left, never 0 (never a 401)
    assert.deepEqual([1, 2, 3, 4, 5].map((t) => limiter.fail("a", t)), [999, 998, 997, 996, 995]);
  });
  await t.step("the table is bounded", () => {
    const limiter = new FailedAuthLimiter({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) limiter.fail(`10.0.${i >> 8}.${i & 255}`, i);
    assert.ok(limiter.size <= 100);
  });
});

Deno.test("`clientAddress()` trusts Funnel's single X-Forwarded-For, else the peer", () => {
  assert.equal(clientAddress("203.0.113.7", "127.0.0.1"), "203.0.113.7");
  assert.equal(clientAddress(" 2001:db8::1 ", "127.0.0.1"), "2001:db8::1");
  assert.equal(clientAddress("10.0.0.1, 203.0.113.7", "127.0.0.1"), "203.0.113.7");
  assert.equal(clientAddress("unknown", "127.0.0.1"), "127.0.0.1");
  assert.equal(clientAddress("<script>", "::1"), "::1");
  assert.equal(clientAddress(null, "127.0.0.1"), "127.0.0.1");
});

Deno.test("`limiterKey()` groups IPv6 clients by /64", () => {
  assert.equal(limiterKey("203.0.113.7"), "203.0.113.7");
  assert.equal(limiterKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  assert.equal(limiterKey("2001:0DB8:0001:0002:ffff:0:0:3"), "2001:db8:1:2::/64");
  assert.equal(limiterKey("::1"), "0:0:0:0::/64");
  assert.equal(limiterKey("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
});

Deno.test("`startIdleReclaimer()` collects once per quiet spell, only when the heap is large", async () => {
  const { fullGc, startIdleReclaimer } = await import("../lib/edge/_reclaim.ts");
  const gc = await fullGc();
  assert.equal(typeof gc, "function", "V8's gc() can be had (the reclaimer would be a no-op)");
  let t = 0;
  let heap = 100;
  let collections = 0;
  let look: (() => void) | undefined;
  let stopped = false;
  const counter = { handled: 0 };
  const stop = startIdleReclaimer(counter, {
    idleMs: 1_000,
    heapThreshold: 50,
    now: () => t,
    heapTotal: () => heap,
    collect: () => collections++,
    every: (fn) => {
      look = fn;
      return () => stopped = true;
    },
  });
  const tick = (ms: number) => {
    t += ms;
    look!();
  };
  tick(500);
  assert.equal(collections, 0, "not before idleMs");
  counter.handled++;
  tick(900); // busy: the quiet spell restarts
  tick(900);
  assert.equal(collections, 0);
  tick(200);
  assert.equal(collections, 1, "after 1 s without requests");
  tick(5_000);
  assert.equal(collections, 1, "once per quiet spell");
  counter.handled++;
  heap = 10;
  tick(1);
  tick(2_000);
  assert.equal(collections, 1, "a small heap is left alone");
  stop();
  assert.ok(stopped);
});
