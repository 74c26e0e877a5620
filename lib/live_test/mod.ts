/**
 * `ecto test`: one real chat completion through the published URL with the
 * owner key (it costs tokens), over the proof's paths, reporting the path
 * taken, time to first byte, tokens per second and the answer's first line —
 * or the layer that failed, with its fix.
 *
 * @example
 * ```ts
 * import { runLiveTest } from "./mod.ts";
 * const result = await runLiveTest({
 *   target: { url: "https://box.tail1234.ts.net", token: "ecto_…", model: "openclaw/default" },
 *   stream: true,
 *   env: (name) => Deno.env.get(name),
 * });
 * result.throughput.tokensPerSecond;
 * ```
 *
 * @module
 */
export {
  type Answer,
  firstLine,
  parseSse,
  readCompletion,
  readStream,
  type SseEvent,
  type Throughput,
  throughput,
  type Usage,
} from "./answer.ts";
export {
  ExchangeTimeout,
  type HttpsPost,
  httpsPost,
  type HttpsPostRequest,
  type HttpsPostResponse,
  type TimedChunk,
} from "./https_post.ts";
export { renderLiveTest } from "./render.ts";
export {
  DEFAULT_PROMPT,
  type LiveTestDeps,
  type LiveTestOptions,
  type LiveTestResult,
  type LiveTestTarget,
  notConnectedError,
  runLiveTest,
} from "./run.ts";
export {
  type FailedLayer,
  LiveTestError,
  noAnswerError,
  statusError,
  transportLayer,
} from "./verdict.ts";
