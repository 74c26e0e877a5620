/**
 * Usage out of gateway answers: JSON bodies, SSE streams split anywhere, the
 * usage chunk stripped only when ecto asked for it. The stream text is the
 * real gateway's (OpenClaw 2026.9.6 with `stream_options.include_usage`).
 */
import assert from "node:assert/strict";
import { SseUsageScanner, usageFromJson, usageOf } from "../lib/usage/parse.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const ID = "chatcmpl_1ae360df-dc6d-46a5-a0db-6904bbe74691";
const chunk = (rest: string) =>
  `data: {"id":"${ID}","object":"chat.completion.chunk","created":1796117049,"model":"openclaw/main",${rest}}\n\n`;
const ROLE = chunk(`"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]`);
const TEXT = chunk(
  `"choices":[{"index":0,"delta":{"content":"say \\"usage\\": 3"},"finish_reason":null}]`,
);
const STOP = chunk(`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`);
const USAGE = chunk(
  `"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}`,
);
const DONE = "data: [DONE]\n\n";
const STREAM = ROLE + TEXT + STOP + USAGE + DONE;

/** Feeds `text` to a scanner in pieces of `size` bytes; returns what passed and the scanner. */
function scan(text: string, size: number, strip: boolean) {
  const scanner = new SseUsageScanner({ strip });
  const bytes = enc.encode(text);
  let out = "";
  const d = new TextDecoder();
  for (let i = 0; i < bytes.length; i += size) {
    out += d.decode(scanner.push(bytes.subarray(i, i + size)), { stream: true });
  }
  out += d.decode(scanner.end());
  return { out, usage: scanner.usage };
}

Deno.test("`usageOf()` reads Chat Completions and Responses names, ignores junk", () => {
  assert.deepEqual(usageOf({ prompt_tokens: 3, completion_tokens: 4 }), {
    prompt: 3,
    completion: 4,
  });
  assert.deepEqual(usageOf({ input_tokens: 5, output_tokens: 6 }), { prompt: 5, completion: 6 });
  assert.equal(usageOf({ prompt_tokens: "3" }), undefined);
  assert.equal(usageOf(null), undefined);
  assert.deepEqual(usageOf({ prompt_tokens: -1, completion_tokens: 2 }), {
    prompt: 0,
    completion: 2,
  });
});

Deno.test("`usageFromJson()` takes `usage` from a chat.completion and a Responses answer", () => {
  const chat =
    `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`;
  assert.deepEqual(usageFromJson(enc.encode(chat)), { prompt: 1, completion: 1 });
  const responses =
    `{"object":"response","status":"completed","usage":{"input_tokens":9,"output_tokens":2}}`;
  assert.deepEqual(usageFromJson(enc.encode(responses)), { prompt: 9, completion: 2 });
  assert.equal(usageFromJson(enc.encode(`{"error":{"message":"bad"}}`)), undefined);
  assert.equal(usageFromJson(enc.encode(`{"usage": not json`)), undefined);
});

Deno.test("`SseUsageScanner` finds usage in a stream split at every byte offset", async (t) => {
  for (const strip of [false, true]) {
    await t.step(`strip: ${strip}`, () => {
      for (const size of [1, 2, 3, 7, 64, 100_000]) {
        const { out, usage } = scan(STREAM, size, strip);
        assert.deepEqual(usage, { prompt: 12, completion: 7 }, `size ${size}`);
        assert.equal(out, strip ? ROLE + TEXT + STOP + DONE : STREAM, `size ${size}`);
      }
    });
  }
});

Deno.test("`SseUsageScanner` without strip returns each chunk itself (no copy, no delay)", () => {
  const scanner = new SseUsageScanner({ strip: false });
  const piece = enc.encode(ROLE.slice(0, 30));
  assert.equal(scanner.push(piece), piece);
});

Deno.test("`SseUsageScanner` with strip passes whole events at once and holds only a partial one", () => {
  const scanner = new SseUsageScanner({ strip: true });
  const passed = dec.decode(scanner.push(enc.encode(ROLE + TEXT.slice(0, 20))));
  assert.equal(passed, ROLE);
  assert.equal(dec.decode(scanner.push(enc.encode(TEXT.slice(20)))), TEXT);
  assert.equal(scanner.push(enc.encode(USAGE)).byteLength, 0, "the usage chunk is dropped");
  assert.deepEqual(scanner.usage, { prompt: 12, completion: 7 });
});

Deno.test("`SseUsageScanner` keeps a content chunk that merely mentions usage, and CRLF streams", () => {
  const { out, usage } = scan(ROLE + TEXT + DONE, 5, true);
  assert.equal(out, ROLE + TEXT + DONE);
  assert.equal(usage, undefined);
  const crlf = STREAM.replaceAll("\n", "\r\n");
  const r = scan(crlf, 3, true);
  assert.deepEqual(r.usage, { prompt: 12, completion: 7 });
  assert.ok(!r.out.includes('"usage"'));
  assert.ok(r.out.endsWith("data: [DONE]\r\n\r\n"));
});

Deno.test("`SseUsageScanner` reads the Responses API's `response.completed` event", () => {
  const stream =
    `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n` +
    `event: response.completed\ndata: {"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":4,"output_tokens":3}}}\n\n` +
    DONE;
  const { out, usage } = scan(stream, 9, false);
  assert.equal(out, stream);
  assert.deepEqual(usage, { prompt: 4, completion: 3 });
});

Deno.test("`SseUsageScanner` lets an event larger than 1 MiB through untouched", () => {
  const big = `data: {"choices":[{"delta":{"content":"${"x".repeat(1_100_000)}"}}]}\n\n`;
  const { out, usage } = scan(big + USAGE + DONE, 65_536, true);
  assert.equal(out, big + DONE);
  assert.deepEqual(usage, { prompt: 12, completion: 7 });
});
