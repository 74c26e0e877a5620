/**
 * `ecto test`'s result for people. Pure.
 *
 * @module
 */
import type { LiveTestResult } from "./run.ts";

function ms(value: number): string {
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(2)} s`;
}

/** A few lines: path, timings, throughput, the answer's first line. */
export function renderLiveTest(result: LiveTestResult): string {
  const { throughput: t } = result;
  const path = result.path === "public"
    ? `public, via ${result.via}`
    : result.privateMode
    ? `tailnet (private mode: there is no public path), via ${result.via}`
    : `tailnet only, via ${result.via}; the public path did not answer (${
      result.publicError ?? "unknown"
    })`;
  const rate = t.tokensPerSecond === null
    ? "unknown (the answer had no usage)"
    : `${t.tokensPerSecond} tokens/s (${t.tokens} ${
      t.tokenSource === "usage"
        ? `completion token${t.tokens === 1 ? "" : "s"} from usage`
        : `content chunk${t.tokens === 1 ? "" : "s"} counted, no usage`
    } in ${ms(Math.round(t.windowMs))})`;
  const lines = [
    `Chat completion through ${result.url} answered (${
      result.stream ? "stream" : "one answer"
    }, model ${result.model}).`,
    `  path               ${path}`,
    `  time to first byte ${ms(result.ttfbMs)}`,
    ...(result.firstContentMs === undefined
      ? []
      : [`  first content      ${ms(result.firstContentMs)}`]),
    `  total              ${ms(result.totalMs)}`,
    `  throughput         ${rate}`,
    `  answer             ${result.firstLine === "" ? "(empty)" : result.firstLine}`,
  ];
  return lines.join("\n") + "\n";
}
