/**
 * Micro-benchmarks of usage counting (`deno bench --allow-read --allow-write
 * bench/usage_bench.ts`): what the edge adds per answer (scanning a stream
 * for usage, reading a JSON answer's usage, admitting and finishing a request
 * in the meter) and what one flush of the usage database costs (a batch of
 * 100 key-days in one transaction, WAL, synchronous=NORMAL).
 *
 * @module
 */
import { UsageMeter } from "../lib/usage/meter.ts";
import { SseUsageScanner, usageFromJson } from "../lib/usage/parse.ts";
import { UsageStore } from "../lib/usage/store.ts";

const enc = new TextEncoder();
const chunk = (content: string) =>
  `data: {"id":"chatcmpl_x","object":"chat.completion.chunk","created":1,"model":"openclaw/main","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
/** 50 content chunks, then the usage chunk and [DONE], one network chunk each. */
const STREAM = [
  ...Array.from({ length: 50 }, (_, i) => enc.encode(chunk(`word${i} `))),
  enc.encode(
    `data: {"id":"chatcmpl_x","object":"chat.completion.chunk","created":1,"model":"openclaw/main","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":50,"total_tokens":170}}\n\n`,
  ),
  enc.encode("data: [DONE]\n\n"),
];
const JSON_ANSWER = enc.encode(JSON.stringify({
  id: "chatcmpl_x",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "x".repeat(2000) } }],
  usage: { prompt_tokens: 120, completion_tokens: 500, total_tokens: 620 },
}));

Deno.bench("scan a 52-chunk SSE answer for usage (pass-through)", () => {
  const s = new SseUsageScanner({ strip: false });
  for (const c of STREAM) s.push(c);
  s.end();
});

Deno.bench("scan a 52-chunk SSE answer and strip the usage chunk", () => {
  const s = new SseUsageScanner({ strip: true });
  for (const c of STREAM) s.push(c);
  s.end();
});

Deno.bench("usage of a 2 KB JSON answer", () => {
  usageFromJson(JSON_ANSWER);
});

const meter = new UsageMeter(undefined);
const key = { id: "k_bench", name: "bench", limits: { maxRequestsPerDay: 1e12 } };
Deno.bench("meter: admit + finish one request", () => {
  const a = meter.admit(key, Date.now());
  if (a.ok) a.ticket.finish({ status: 200, bytesIn: 100, bytesOut: 1000 });
});

const dir = Deno.makeTempDirSync({ prefix: "ecto-usage-bench-" });
const store = await UsageStore.openWriter(`${dir}/usage.db`);
const batch = Array.from({ length: 100 }, (_, i) => ({
  keyId: `k_${i}`,
  keyName: `key ${i}`,
  day: "2026-12-01",
  requests: 1,
  promptTokens: 10,
  completionTokens: 20,
  errors: 0,
  refused: 0,
  bytesIn: 100,
  bytesOut: 1000,
  lastUsed: "2026-12-01T12:00:00.000Z",
}));
Deno.bench("usage.db: one flush of 100 key-days (one transaction)", () => {
  store.add(batch);
});
Deno.bench("usage.db: one flush of 1 key-day", () => {
  store.add(batch.slice(0, 1));
});
globalThis.addEventListener("unload", () => {
  store.close();
  Deno.removeSync(dir, { recursive: true });
});
