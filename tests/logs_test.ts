import assert from "node:assert/strict";
import { UsageError } from "../lib/core/errors.ts";
import {
  followAuditLog,
  formatDuration,
  formatHeader,
  formatRow,
  formatSummary,
  matchesFilter,
  NONE,
  parseAuditLine,
  parseAuditLines,
  parseSince,
  parseTokens,
  readAuditLines,
} from "../lib/logs/mod.ts";

// Lines in the edge's format (lib/edge/audit.ts, the handler's field order), with four records
// carrying tokens (the usage work's top-level promptTokens/completionTokens/tokens, and others), a line cut mid-write, garbage, a blank line
// and a record whose time is not a date.
const FIXTURE = Deno.readTextFileSync(`${import.meta.dirname}/fixtures/logs/audit.log`);

Deno.test("`parseAuditLines()` reads the recorded log and counts, never throws on, malformed lines", () => {
  const { entries, malformed } = parseAuditLines(FIXTURE.split("\n"));
  assert.equal(entries.length, 8);
  assert.equal(malformed, 3, "the cut line, the garbage and the record without a date");
  assert.deepEqual(entries.map((e) => e.keyName ?? null), [
    null,
    "owner",
    "alice-laptop",
    "alice-laptop",
    "owner",
    "owner",
    "alice-laptop",
    "alice-laptop",
  ]);
  assert.deepEqual(entries.map((e) => e.status), [401, 200, 200, 429, 404, 200, 200, 200]);
  assert.equal(entries[0]!.outcome, "invalid_api_key");
  assert.equal(entries[2]!.streamed, true);
  assert.deepEqual(entries[2]!.tokens, { prompt: 12, completion: 30, total: 42 });
  assert.deepEqual(entries[5]!.tokens, { total: 17 });
  assert.equal(entries[1]!.tokens, undefined);
  // The usage work's shape: top-level promptTokens/completionTokens beside a `tokens` total.
  assert.deepEqual(entries[6]!.tokens, { prompt: 7, completion: 5, total: 12 });
  assert.deepEqual(entries[7]!.tokens, { prompt: 3, completion: 2, total: 5 });
});

Deno.test("`parseAuditLine()` keeps the line unchanged for --json", () => {
  const line = FIXTURE.split("\n")[1]!;
  assert.equal(parseAuditLine(line)!.raw, line);
  assert.equal(parseAuditLine("[1,2]"), undefined);
  assert.equal(parseAuditLine('{"time":"2026-12-01T00:00:00Z","method":"GET"}'), undefined);
});

Deno.test("`parseTokens()` takes a number or prompt/completion/total in either case", () => {
  assert.deepEqual(parseTokens(5), { total: 5 });
  assert.deepEqual(parseTokens({ prompt_tokens: 2, completion_tokens: 3 }), {
    prompt: 2,
    completion: 3,
    total: 5,
  });
  assert.deepEqual(parseTokens({ promptTokens: 1, completionTokens: 1, totalTokens: 2 }), {
    prompt: 1,
    completion: 1,
    total: 2,
  });
  assert.equal(parseTokens({}), undefined);
  assert.equal(parseTokens(-1), undefined);
  assert.equal(parseTokens("12"), undefined);
});

Deno.test("`formatRow()` shows time, key name, client, method, path, status, duration, tokens", async (t) => {
  const { entries } = parseAuditLines(FIXTURE.split("\n"));
  await t.step("a row without a key or tokens shows – for both", () => {
    const row = formatRow(entries[0]!);
    assert.match(
      row,
      /^2026-11-30 08:00:01 {2}– +203\.0\.113\.7 +GET +\/v1\/models +401 +0 ms +–$/,
    );
  });
  await t.step("a row with tokens shows the total", () => {
    const row = formatRow(entries[2]!);
    assert.match(row, /alice-laptop +2001:db8::5 +POST +\/v1\/chat\/completions +200 +1\.8 s +42$/);
  });
  await t.step("columns line up with the header", () => {
    const header = formatHeader();
    const row = formatRow(entries[1]!);
    for (const title of ["KEY", "CLIENT", "METHOD", "PATH"]) {
      const at = header.indexOf(title);
      assert.notEqual(row[at - 1], undefined);
      assert.equal(row[at - 1], " ", `${title} starts after a space in the row`);
      assert.notEqual(row[at], " ", `${title}'s value starts where its title does`);
    }
    assert.equal(row.length, header.length, "right-aligned last column ends with the header");
  });
  await t.step("durations read as ms, s, then m s", () => {
    assert.equal(formatDuration(0.4), "0 ms");
    assert.equal(formatDuration(999), "999 ms");
    assert.equal(formatDuration(1834.2), "1.8 s");
    assert.equal(formatDuration(125_000), "2 m 5 s");
  });
  await t.step("the summary counts requests and skipped lines", () => {
    assert.equal(formatSummary(1, 0), "1 request");
    assert.equal(formatSummary(6, 3), "6 requests; skipped 3 malformed lines");
    assert.equal(NONE, "–");
  });
});

Deno.test("`matchesFilter()` picks a key by id or by name, and a time window", () => {
  const { entries } = parseAuditLines(FIXTURE.split("\n"));
  const keep = (filter: Parameters<typeof matchesFilter>[1]) =>
    entries.filter((e) => matchesFilter(e, filter)).map((e) => e.time);
  assert.equal(keep({ key: "k_alice77" }).length, 4);
  assert.deepEqual(keep({ key: "Alice-Laptop" }), keep({ key: "k_alice77" }));
  assert.equal(keep({ key: "k_ALICE77" }).length, 0, "ids are exact");
  assert.equal(keep({ key: "nobody" }).length, 0);
  assert.deepEqual(keep({ sinceMs: Date.parse("2026-12-01T00:00:00Z"), key: "owner" }), [
    "2026-12-01T08:30:00.000Z",
    "2026-12-01T08:31:00.000Z",
  ]);
});

Deno.test("`parseSince()` takes 30m, 1h, 7d, 2w or an ISO date, and refuses the rest", () => {
  const now = Date.parse("2026-12-01T10:00:00Z");
  assert.equal(parseSince("1h", now), Date.parse("2026-12-01T09:00:00Z"));
  assert.equal(parseSince("30m", now), Date.parse("2026-12-01T09:30:00Z"));
  assert.equal(parseSince("7d", now), Date.parse("2026-11-24T10:00:00Z"));
  assert.equal(parseSince("2w", now), Date.parse("2026-11-17T10:00:00Z"));
  assert.equal(parseSince("2026-11-30T08:00:00Z", now), Date.parse("2026-11-30T08:00:00Z"));
  for (const bad of ["yesterday", "1y", "-1h", ""]) {
    assert.throws(() => parseSince(bad, now), UsageError, bad);
  }
});

Deno.test("`readAuditLines()` reads audit.log.2, audit.log.1, then audit.log", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/audit.log`;
    await Deno.writeTextFile(`${path}.2`, "oldest\n");
    await Deno.writeTextFile(`${path}.1`, "older\n");
    await Deno.writeTextFile(path, "live\n");
    assert.deepEqual((await readAuditLines(path)).filter((l) => l), ["oldest", "older", "live"]);
    assert.deepEqual(await readAuditLines(`${dir}/none.log`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Lines the follower emitted, and a wait for the next batch that resolves when it comes. */
function collector() {
  const lines: string[] = [];
  let waiting: { count: number; resolve: () => void } | undefined;
  return {
    lines,
    onLines(batch: string[]) {
      lines.push(...batch);
      if (waiting && lines.length >= waiting.count) waiting.resolve();
    },
    until(count: number): Promise<void> {
      if (lines.length >= count) return Promise.resolve();
      return new Promise((resolve) => (waiting = { count, resolve }));
    },
  };
}

for (const mode of ["a file watch", "the poll fallback alone"] as const) {
  Deno.test(`\`followAuditLog()\` emits new lines and follows a rotation, woken by ${mode}`, async () => {
    const dir = await Deno.makeTempDir();
    const stop = new AbortController();
    const path = `${dir}/audit.log`;
    await Deno.writeTextFile(path, "one\n");
    const seen = collector();
    const following = followAuditLog({
      path,
      signal: stop.signal,
      onLines: seen.onLines,
      ...(mode === "a file watch" ? { pollMs: 60_000 } : { watch: null, pollMs: 20 }),
    });
    try {
      await seen.until(1);
      await Deno.writeTextFile(path, "two\nthr", { append: true });
      await seen.until(2);
      await Deno.writeTextFile(path, "ee\n", { append: true });
      await seen.until(3);
      // The edge's rotation: the file becomes audit.log.1, a new audit.log is created.
      await Deno.rename(path, `${path}.1`);
      await Deno.writeTextFile(path, "four\n");
      await seen.until(4);
      await Deno.writeTextFile(path, "five\n", { append: true });
      await seen.until(5);
      assert.deepEqual(seen.lines, ["one", "two", "three", "four", "five"]);
    } finally {
      stop.abort();
      await following;
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("`followAuditLog()` waits for a log that does not exist yet", async () => {
  const dir = await Deno.makeTempDir();
  const stop = new AbortController();
  const seen = collector();
  const following = followAuditLog({
    path: `${dir}/audit.log`,
    signal: stop.signal,
    onLines: seen.onLines,
  });
  try {
    await Deno.writeTextFile(`${dir}/audit.log`, "first\n");
    await seen.until(1);
    assert.deepEqual(seen.lines, ["first"]);
  } finally {
    stop.abort();
    await following;
    await Deno.remove(dir, { recursive: true });
  }
});
