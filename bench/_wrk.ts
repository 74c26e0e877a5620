/**
 * Runs `wrk` (bounded duration, loopback only) and parses its report.
 *
 * @module
 */

/** What one wrk run measured. */
export interface WrkResult {
  connections: number;
  requests: number;
  requestsPerSec: number;
  /** Latency percentiles in milliseconds. */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** Responses outside 2xx/3xx. */
  non2xx: number;
  /** Connect/read/write/timeout errors. */
  socketErrors: number;
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) throw new Error(`cannot read the duration "${value}"`);
  const n = Number(m[1]);
  switch (m[2]) {
    case "us":
      return n / 1000;
    case "ms":
      return n;
    case "s":
      return n * 1000;
    default:
      return n * 60_000;
  }
}

/** Parses `wrk --latency` output. */
export function parseWrk(text: string, connections: number): WrkResult {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(text);
    if (!m) throw new Error(`wrk output has no ${p}% latency:\n${text}`);
    return toMs(m[1]!);
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const total = /(\d+) requests in/.exec(text);
  if (!rps || !total) throw new Error(`cannot read wrk output:\n${text}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    connections,
    requests: Number(total[1]),
    requestsPerSec: Number(rps[1]),
    p50Ms: pct("50"),
    p90Ms: pct("90"),
    p99Ms: pct("99"),
    non2xx,
    socketErrors: errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

/**
 * Writes a wrk Lua script that sets `headers` (0600): keys stay out of argv.
 * Returns its path.
 */
export async function writeHeaderScript(
  dir: string,
  headers: Record<string, string>,
): Promise<string> {
  const path = `${dir}/headers-${crypto.randomUUID().slice(0, 8)}.lua`;
  const lines = Object.entries(headers).map(([name, value]) =>
    `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`
  );
  await Deno.writeTextFile(path, lines.join("\n") + "\n", { mode: 0o600 });
  return path;
}

/**
 * Runs wrk against `url` with one thread and `connections` connections for
 * `seconds`; `script` is a Lua file from `writeHeaderScript` (or undefined).
 */
export async function runWrk(
  url: string,
  connections: number,
  seconds: number,
  script: string | undefined,
): Promise<WrkResult> {
  if (!url.startsWith("http://127.0.0.1:")) throw new Error("wrk is for loopback only");
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "5s", "--latency"];
  if (script) args.push("-s", script);
  args.push(url);
  const out = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  return parseWrk(text, connections);
}
