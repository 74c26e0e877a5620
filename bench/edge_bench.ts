/**
 * `deno task bench`: ecto's edge against nginx and caddy, in the same run,
 * in front of the same upstream (a stub OpenAI server in its own process),
 * everything on loopback free ports, every process started and stopped here.
 *
 * Measures: requests/s and p50/p99 latency of `GET /v1/models` at 1 and 32
 * connections (wrk) and the latency each proxy adds over going direct; SSE
 * time-to-first-byte and per-chunk delay added (50 chunks, 20 ms apart);
 * VmRSS at idle and with 1,000 idle streams held open. The edge is started
 * exactly as its supervisor starts it (cli.ts's `selfCommand()` + `edge run
 * --config FILE`, today `deno run --quiet --config=deno.json -P=ecto cli.ts …`). Writes a Markdown report to
 * `bench/results/latest.md` (and the raw numbers to `latest.json`) and prints it.
 *
 * Knobs (environment): `BENCH_SECONDS` (per wrk run, default 3), `BENCH_ROUNDS`
 * (interleaved wrk runs per cell, medians reported, default 3: 9 s measured per cell),
 * `BENCH_STREAMS` (default 1000), `BENCH_SSE_RUNS` (streams per target,
 * default 5), `BENCH_TARGETS` (e.g. `direct,edge`), `BENCH_EDGE_DENO_FLAGS` (extra
 * `deno run` flags for the edge, e.g. `--v8-flags=--perf-basic-prof` for `perf`),
 * `BENCH_QUIET_WAIT` (seconds to wait for an idle machine first, default 300),
 * `BENCH_RETRIES` (repeats of a wrk run disturbed by other processes, default 3; 0 on a
 * machine that stays busy, where only same-run ratios mean anything),
 * `BENCH_REFERENCE=0` (drops the wrk-only reference rows: `deno-min`, the smallest Deno proxy,
 * and `edge-noguard`, the edge without its connection guard).
 *
 * Not part of CI: it needs nginx, caddy and wrk, and takes about four minutes.
 *
 * @module
 */
import {
  type BenchProcess,
  cpuBusy,
  foreignCpuMs,
  freePort,
  processTable,
  rssKiB,
  spawnLogged,
  stopAll,
  treeCpuMs,
  treeRssKiB,
  waitForFile,
  waitForPort,
  waitForQuiet,
} from "./_proc.ts";
import { startCaddy, startNginx } from "./_proxies.ts";
import { holdStreams, type StreamTiming, timeStream } from "./_sse.ts";
import { runWrk, writeHeaderScript, type WrkResult } from "./_wrk.ts";
import { selfCommand } from "../cli.ts";
import { KeyStore } from "../lib/edge/mod.ts";
import { ectoPaths } from "../lib/core/paths.ts";

const BENCH_DIR = new URL(".", import.meta.url).pathname;
const REPO = new URL("..", import.meta.url).pathname;
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
const STREAMS = Number(Deno.env.get("BENCH_STREAMS") ?? 1000);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);
/** Other processes' CPU share (of one CPU) above which a wrk run is repeated. */
const FOREIGN_LIMIT = 0.15;
const RETRIES = Number(Deno.env.get("BENCH_RETRIES") ?? 3);
const SSE_RUNS = Number(Deno.env.get("BENCH_SSE_RUNS") ?? 5);
const SSE_CHUNKS = 50;
const SSE_SPACING_MS = 20;
const ONLY = Deno.env.get("BENCH_TARGETS")?.split(",").map((s) => s.trim());

type Name = "direct" | "edge" | "edge-noguard" | "nginx" | "nginx-1w" | "caddy" | "deno-min";

interface Target {
  name: Name;
  baseUrl: string;
  headers: Record<string, string>;
  /** Lua script setting `headers` for wrk. */
  wrkScript: string;
  /** The proxy's resident memory in KiB (master + workers for nginx); undefined for direct. */
  rss?: () => Promise<number>;
  /** CPU ms used so far by the process serving this target (the upstream, for direct). */
  cpu: () => Promise<number>;
  /** Measured by wrk only (a reference row, not part of the targets). */
  wrkOnly?: boolean;
  proc?: BenchProcess;
}

interface TargetResult {
  name: Name;
  wrk1?: WrkResult;
  wrk32?: WrkResult;
  /** CPU time of the serving process per request, µs, at 1 and 32 connections. */
  cpuUs1?: number;
  cpuUs32?: number;
  /** Every round's wrk result (the table shows medians). */
  rounds1?: WrkResult[];
  rounds32?: WrkResult[];
  sse?: { ttfbMs: number[]; transitMs: number[]; gapsMs: number[]; incomplete: number };
  idleKiB?: number;
  idleAfterLoadKiB?: number;
  streams?: { open: number; failed: number; rssKiB: number };
}

// ---------------------------------------------------------------------------
// statistics

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** The median of every metric over rounds (each metric on its own). */
function medianWrk(rounds: WrkResult[]): WrkResult {
  const m = (f: (r: WrkResult) => number) => percentile(rounds.map(f), 50);
  return {
    connections: rounds[0]!.connections,
    requests: m((r) => r.requests),
    requestsPerSec: m((r) => r.requestsPerSec),
    p50Ms: m((r) => r.p50Ms),
    p90Ms: m((r) => r.p90Ms),
    p99Ms: m((r) => r.p99Ms),
    non2xx: rounds.reduce((a, r) => a + r.non2xx, 0),
    socketErrors: rounds.reduce((a, r) => a + r.socketErrors, 0),
  };
}

/** A result for latest.json: SSE samples reduced to percentiles, numbers rounded. */
function summarize(r: TargetResult): unknown {
  const round = (v: number) => Math.round(v * 1000) / 1000;
  const pcts = (values: number[]) => ({
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    n: values.length,
  });
  return JSON.parse(JSON.stringify(
    {
      ...r,
      sse: r.sse && {
        ttfbMs: pcts(r.sse.ttfbMs),
        transitMs: pcts(r.sse.transitMs),
        gapsMs: pcts(r.sse.gapsMs),
        incomplete: r.sse.incomplete,
      },
    },
    (_key, value) => typeof value === "number" ? round(value) : value,
  ));
}

const ms = (v: number | undefined, digits = 3) =>
  v === undefined || Number.isNaN(v) ? "–" : `${v.toFixed(digits)} ms`;
const signedMs = (v: number | undefined, digits = 3) =>
  v === undefined || Number.isNaN(v) ? "–" : `${v >= 0 ? "+" : ""}${v.toFixed(digits)} ms`;
const range = (rounds: WrkResult[] | undefined) => {
  if (!rounds || rounds.length < 2) return "";
  const values = rounds.map((r) => r.requestsPerSec);
  const k = (v: number) => v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : rps(v);
  return ` (${k(Math.min(...values))}–${k(Math.max(...values))})`;
};
const us = (v: number | undefined) =>
  v === undefined || Number.isNaN(v) ? "–" : `${v.toFixed(0)} µs`;
const mb = (kib: number | undefined) => kib === undefined ? "–" : `${(kib / 1024).toFixed(1)} MB`;
const rps = (v: number | undefined) =>
  v === undefined ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: 0 });

// ---------------------------------------------------------------------------
// starting things

async function startUpstream(
  dir: string,
  token: string,
): Promise<{ proc: BenchProcess; port: number }> {
  const portFile = `${dir}/upstream.port`;
  const proc = await spawnLogged(
    "upstream",
    Deno.execPath(),
    [
      "run",
      "--no-config",
      "--allow-net=127.0.0.1",
      "--allow-env=BENCH_GATEWAY_TOKEN",
      `--allow-write=${portFile}`,
      `${BENCH_DIR}upstream_stub.ts`,
      portFile,
    ],
    {
      logFile: `${dir}/upstream.log`,
      env: { BENCH_GATEWAY_TOKEN: token, DENO_NO_UPDATE_CHECK: "1" },
    },
  );
  const port = Number(await waitForFile(portFile, proc));
  await waitForPort(port, proc);
  return { proc, port };
}

async function edgeAvailable(): Promise<boolean> {
  try {
    await Deno.stat(`${REPO}lib/edge/run.ts`);
    return true;
  } catch {
    return false;
  }
}

async function startEdge(
  dir: string,
  token: string,
  upstreamPort: number,
  variant: { name: string; guard: boolean } = { name: "edge", guard: true },
): Promise<{ proc: BenchProcess; port: number; key: string }> {
  const stateDir = `${dir}/${variant.name}-state`;
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const openclawConfigPath = `${dir}/openclaw.json`;
  await Deno.writeTextFile(
    openclawConfigPath,
    JSON.stringify({ gateway: { auth: { mode: "token", token } } }),
    { mode: 0o600 },
  );
  const port = freePort();
  const configPath = `${dir}/${variant.name}.json`;
  // The bench measures the proxy, not the rate limiter's refusals: the owner key's
  // limits are lifted (the limiter's bookkeeping still runs on every request).
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      listen: `127.0.0.1:${port}`,
      upstream: `http://127.0.0.1:${upstreamPort}`,
      openclawConfigPath,
      stateDir,
      keyLimits: { owner: { requestsPerMinute: 1e12, burst: 1e12, maxConcurrent: 1e6 } },
      // The reference row without the connection guard (no header/idle timeouts, one hop less).
      ...(variant.guard ? {} : { headerTimeoutMs: 0, idleTimeoutMs: 0 }),
    }),
    { mode: 0o600 },
  );
  const key = await createOwnerKey(stateDir);
  // Exactly what the supervisor runs: cli.ts's `selfCommand()` (what lib/edge/layer.ts
  // puts in the unit) + `edge run --config FILE`; extra deno flags go right after `run`.
  const extra = (Deno.env.get("BENCH_EDGE_DENO_FLAGS") ?? "").split(" ").filter(Boolean);
  const [program, ...args] = selfCommand();
  if (args[0] === "run") args.splice(1, 0, ...extra);
  const proc = await spawnLogged(
    variant.name,
    program!,
    [...args, "edge", "run", "--config", configPath],
    {
      logFile: `${dir}/${variant.name}.log`,
      cwd: REPO,
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    },
  );
  await waitForPort(port, proc, 30_000);
  return { proc, port, key };
}

/** An owner key in the edge's key store, made here so no secret goes through the edge's argv. */
async function createOwnerKey(stateDir: string): Promise<string> {
  const paths = ectoPaths((name) => name === "ECTO_STATE_DIR" ? stateDir : Deno.env.get(name));
  const store = await KeyStore.open(paths.keysFile);
  try {
    return (await store.create("bench", { role: "owner", agent: "main" })).key;
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------
// measuring

async function warm(target: Target): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${target.baseUrl}/v1/models`, { headers: target.headers });
    const body = await res.text();
    if (res.status !== 200) {
      throw new Error(
        `${target.name}: GET /v1/models answered ${res.status}: ${body.slice(0, 200)}`,
      );
    }
  }
  await timeStream(target.baseUrl, target.headers, 5, 2);
}

async function measureSse(target: Target): Promise<TargetResult["sse"]> {
  await timeStream(target.baseUrl, target.headers, 10, 5); // warm the path
  const runs: StreamTiming[] = [];
  for (let i = 0; i < SSE_RUNS; i++) {
    runs.push(await timeStream(target.baseUrl, target.headers, SSE_CHUNKS, SSE_SPACING_MS));
  }
  return {
    ttfbMs: runs.map((r) => r.ttfbMs),
    transitMs: runs.flatMap((r) => r.transitMs),
    gapsMs: runs.flatMap((r) => r.gapsMs),
    incomplete: runs.filter((r) => !r.done || r.transitMs.length !== SSE_CHUNKS).length,
  };
}

/** The bench's only output: the report on stdout, progress on stderr. */
function write(target: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += target.writeSync(bytes.subarray(written));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function machine(): Promise<string> {
  const text = async (cmd: string, args: string[]) => {
    try {
      const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
      return (new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr)).trim();
    } catch {
      return "?";
    }
  };
  const cpuinfo = await text("cat", ["/proc/cpuinfo"]);
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "?";
  const cores = navigator.hardwareConcurrency;
  const kernel = await text("uname", ["-sr"]);
  const nginx = (await text("nginx", ["-v"])).replace("nginx version: ", "");
  const caddy = (await text("caddy", ["version"])).split(" ")[0];
  const wrk = (await text("wrk", ["--version"])).split("\n")[0]?.split(" [")[0];
  return `${cores} vCPU (${model}), ${kernel}; Deno ${Deno.version.deno}; ${nginx}; caddy ${caddy}; ${wrk}`;
}

// ---------------------------------------------------------------------------
// reporting

interface Check {
  what: string;
  value: string;
  limit: string;
  pass: boolean | undefined;
}

function checks(results: Map<Name, TargetResult>): Check[] {
  const direct = results.get("direct");
  const edge = results.get("edge");
  const nginx = results.get("nginx");
  const caddy = results.get("caddy");
  const out: Check[] = [];
  const added = (r: TargetResult | undefined) =>
    r?.wrk1 && direct?.wrk1 ? r.wrk1.p50Ms - direct.wrk1.p50Ms : undefined;
  const eAdd = added(edge);
  const nAdd = added(nginx);
  out.push({
    what: "added p50 at 1 connection ≤ 2× nginx's",
    value: `edge ${signedMs(eAdd)} vs nginx ${signedMs(nAdd)}`,
    limit: nAdd === undefined ? "–" : `≤ ${signedMs(2 * nAdd)}`,
    pass: eAdd === undefined || nAdd === undefined ? undefined : eAdd <= 2 * nAdd,
  });
  const e32 = edge?.wrk32?.requestsPerSec;
  const c32 = caddy?.wrk32?.requestsPerSec;
  const n32 = nginx?.wrk32?.requestsPerSec;
  out.push({
    what: "requests/s at 32 connections ≥ caddy's",
    value: `edge ${rps(e32)} vs caddy ${rps(c32)}`,
    limit: `≥ ${rps(c32)}`,
    pass: e32 === undefined || c32 === undefined ? undefined : e32 >= c32,
  });
  out.push({
    what: "requests/s at 32 connections ≥ ½ nginx's",
    value: `edge ${rps(e32)} vs nginx ${rps(n32)}`,
    limit: n32 === undefined ? "–" : `≥ ${rps(n32 / 2)}`,
    pass: e32 === undefined || n32 === undefined ? undefined : e32 >= n32 / 2,
  });
  const sseAdd = edge?.sse && direct?.sse
    ? percentile(edge.sse.transitMs, 50) - percentile(direct.sse.transitMs, 50)
    : undefined;
  const sseAdd99 = edge?.sse && direct?.sse
    ? percentile(edge.sse.transitMs, 99) - percentile(direct.sse.transitMs, 99)
    : undefined;
  out.push({
    what: "SSE per-chunk delay added (p50; p99 shown)",
    value: `${signedMs(sseAdd)} (p99 ${signedMs(sseAdd99)})`,
    limit: "< 2 ms",
    pass: sseAdd === undefined ? undefined : sseAdd < 2,
  });
  const ttfbAdd = edge?.sse && direct?.sse
    ? percentile(edge.sse.ttfbMs, 50) - percentile(direct.sse.ttfbMs, 50)
    : undefined;
  out.push({
    what: "SSE first byte added (p50)",
    value: signedMs(ttfbAdd),
    limit: "≤ +0.500 ms",
    pass: ttfbAdd === undefined ? undefined : ttfbAdd <= 0.5,
  });
  out.push({
    what: "idle RSS after load",
    value: `${mb(edge?.idleKiB)} fresh, ${mb(edge?.idleAfterLoadKiB)} after load`,
    limit: "≤ 45 MB",
    pass: edge?.idleKiB === undefined
      ? undefined
      : Math.max(edge.idleKiB, edge.idleAfterLoadKiB ?? 0) <= 45 * 1024,
  });
  out.push({
    what: `RSS with ${STREAMS.toLocaleString("en-US")} open streams`,
    value: edge?.streams ? `${mb(edge.streams.rssKiB)} (${edge.streams.open} open)` : "–",
    limit: "≤ 150 MB",
    pass: edge?.streams === undefined
      ? undefined
      : edge.streams.rssKiB <= 150 * 1024 && edge.streams.open === STREAMS,
  });
  return out;
}

function report(machineLine: string, results: Map<Name, TargetResult>, notes: string[]): string {
  const direct = results.get("direct");
  const lines: string[] = [];
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  lines.push(`# ecto edge benchmark`, ``);
  lines.push(`${date}. ${machineLine}.`, ``);
  lines.push(
    `Everything on loopback; the upstream is a Deno stub OpenAI server in its own process; ` +
      `wrk runs 1 thread, ${ROUNDS} interleaved rounds of ${SECONDS} s per cell (medians shown, ` +
      `req/s range in brackets) after a 1 s warm-up; a run during which other processes used ` +
      `more than ${FOREIGN_LIMIT * 100}% of a CPU is repeated (up to ${RETRIES} times); ` +
      `wrk, the proxy and the upstream share the same ${navigator.hardwareConcurrency} vCPUs.`,
    ``,
  );

  lines.push(`## GET /v1/models (wrk)`, ``);
  lines.push(
    `CPU/req: user + system CPU time of the serving process(es) per request during the cell ` +
      `(for direct, the upstream's own; for a proxy, the proxy's alone). ` +
      `nginx-1w is nginx with one worker (the edge runs its JavaScript on one thread): ` +
      `a reference row, not one of the targets. edge-noguard is the edge without its ` +
      `connection guard (\`headerTimeoutMs: 0, idleTimeoutMs: 0\`: no header/idle timeouts, ` +
      `no relay hop), to show what the guard costs. deno-min is the ` +
      `smallest Deno proxy (\`Deno.serve\` + \`fetch\`, no key check, limits or audit).`,
    ``,
  );
  lines.push(
    `| target | req/s c=1 | p50 c=1 | p99 c=1 | added p50 c=1 | added p99 c=1 | req/s c=32 | p50 c=32 | p99 c=32 | CPU/req c=1 | CPU/req c=32 | errors |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  );
  for (const r of results.values()) {
    const a = r.wrk1;
    const b = r.wrk32;
    const base = direct?.wrk1;
    const errors = (a?.non2xx ?? 0) + (a?.socketErrors ?? 0) + (b?.non2xx ?? 0) +
      (b?.socketErrors ?? 0);
    lines.push(
      `| ${r.name} | ${rps(a?.requestsPerSec)}${range(r.rounds1)} | ${ms(a?.p50Ms)} | ${
        ms(a?.p99Ms)
      } | ${r.name === "direct" || !a || !base ? "–" : signedMs(a.p50Ms - base.p50Ms)} | ${
        r.name === "direct" || !a || !base ? "–" : signedMs(a.p99Ms - base.p99Ms)
      } | ${rps(b?.requestsPerSec)}${range(r.rounds32)} | ${ms(b?.p50Ms)} | ${ms(b?.p99Ms)} | ${
        us(r.cpuUs1)
      } | ${us(r.cpuUs32)} | ${errors} |`,
    );
  }
  lines.push(``);

  lines.push(
    `## SSE: POST /v1/chat/completions, ${SSE_CHUNKS} chunks ${SSE_SPACING_MS} ms apart, ${SSE_RUNS} streams per target`,
    ``,
    `Per-chunk delay = arrival at the client − the upstream's write time (same host clock); ` +
      `"added" subtracts the direct path's value from the same run.`,
    ``,
  );
  lines.push(
    `| target | TTFB p50 | TTFB added | chunk delay p50 | p99 | added p50 | added p99 | gap p99 − ${SSE_SPACING_MS} ms | incomplete |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
  );
  for (const r of results.values()) {
    const s = r.sse;
    const d = direct?.sse;
    if (!s) continue;
    const isDirect = r.name === "direct";
    lines.push(
      `| ${r.name} | ${ms(percentile(s.ttfbMs, 50))} | ${
        isDirect || !d ? "–" : signedMs(percentile(s.ttfbMs, 50) - percentile(d.ttfbMs, 50))
      } | ${ms(percentile(s.transitMs, 50))} | ${ms(percentile(s.transitMs, 99))} | ${
        isDirect || !d ? "–" : signedMs(percentile(s.transitMs, 50) - percentile(d.transitMs, 50))
      } | ${
        isDirect || !d ? "–" : signedMs(percentile(s.transitMs, 99) - percentile(d.transitMs, 99))
      } | ${signedMs(percentile(s.gapsMs, 99) - SSE_SPACING_MS)} | ${s.incomplete} |`,
    );
  }
  lines.push(``);

  lines.push(`## Memory (VmRSS; nginx = master + workers)`, ``);
  lines.push(
    `| target | idle (fresh) | idle (after load) | with ${
      STREAMS.toLocaleString("en-US")
    } open streams | streams open / failed |`,
    `|---|---:|---:|---:|---:|`,
  );
  for (const r of results.values()) {
    if (r.name === "direct" || r.name === "nginx-1w" || r.name === "deno-min") continue;
    if (r.name === "edge-noguard") continue;
    lines.push(
      `| ${r.name} | ${mb(r.idleKiB)} | ${mb(r.idleAfterLoadKiB)} | ${mb(r.streams?.rssKiB)} | ${
        r.streams ? `${r.streams.open} / ${r.streams.failed}` : "–"
      } |`,
    );
  }
  lines.push(``);

  lines.push(`## Targets (the edge)`, ``);
  lines.push(`| target | measured | limit | result |`, `|---|---|---|---|`);
  for (const c of checks(results)) {
    lines.push(
      `| ${c.what} | ${c.value} | ${c.limit} | ${
        c.pass === undefined ? "not measured" : c.pass ? "**pass**" : "**FAIL**"
      } |`,
    );
  }
  lines.push(``);
  if (notes.length > 0) {
    lines.push(`## Notes`, ``, ...notes.map((n) => `- ${n}`), ``);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ecto-bench-" });
  const notes: string[] = [];
  const results = new Map<Name, TargetResult>();
  const want = (name: Name) => !ONLY || ONLY.includes(name) || name === "direct";
  try {
    const t0 = Date.now();
    const log = (text: string) =>
      write(Deno.stderr, `bench: [${((Date.now() - t0) / 1000).toFixed(1)} s] ${text}\n`);
    const machineLine = await machine();
    const quietWait = Number(Deno.env.get("BENCH_QUIET_WAIT") ?? 300) * 1000;
    const busyBefore = await waitForQuiet(
      quietWait,
      0.15,
      (busy) => log(`the machine is ${(busy * 100).toFixed(0)}% busy with other work; waiting`),
    );
    if (busyBefore > 0.15) {
      notes.push(
        `Other work kept the machine ${
          (busyBefore * 100).toFixed(0)
        }% busy when the bench started: ` +
          `the numbers are noisy.`,
      );
    }
    const token = Array.from(
      crypto.getRandomValues(new Uint8Array(24)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const upstream = await startUpstream(dir, token);
    const gatewayHeaders = { authorization: `Bearer ${token}` };
    const targets: Target[] = [{
      name: "direct",
      baseUrl: `http://127.0.0.1:${upstream.port}`,
      headers: gatewayHeaders,
      wrkScript: await writeHeaderScript(dir, gatewayHeaders),
      cpu: () => treeCpuMs(upstream.proc.pid),
    }];

    if (want("edge")) {
      if (await edgeAvailable()) {
        const edge = await startEdge(dir, token, upstream.port);
        const headers = { authorization: `Bearer ${edge.key}` };
        targets.push({
          name: "edge",
          baseUrl: `http://127.0.0.1:${edge.port}`,
          headers,
          wrkScript: await writeHeaderScript(dir, headers),
          rss: () => rssKiB(edge.proc.pid),
          cpu: () => treeCpuMs(edge.proc.pid),
          proc: edge.proc,
        });
        if (Deno.env.get("BENCH_REFERENCE") !== "0") {
          const bare = await startEdge(dir, token, upstream.port, {
            name: "edge-noguard",
            guard: false,
          });
          const bareHeaders = { authorization: `Bearer ${bare.key}` };
          targets.push({
            name: "edge-noguard",
            baseUrl: `http://127.0.0.1:${bare.port}`,
            headers: bareHeaders,
            wrkScript: await writeHeaderScript(dir, bareHeaders),
            cpu: () => treeCpuMs(bare.proc.pid),
            wrkOnly: true,
            proc: bare.proc,
          });
        }
      } else {
        notes.push("The edge (lib/edge/run.ts) is not in the tree yet: it was not measured.");
      }
    }
    if (want("nginx")) {
      const port = freePort();
      const proc = await startNginx(dir, port, upstream.port);
      targets.push({
        name: "nginx",
        baseUrl: `http://127.0.0.1:${port}`,
        headers: gatewayHeaders,
        wrkScript: targets[0]!.wrkScript,
        rss: () => treeRssKiB(proc.pid),
        cpu: () => treeCpuMs(proc.pid),
        proc,
      });
      // Reference row: one worker, like the edge's one JavaScript thread.
      const port1 = freePort();
      const proc1 = await startNginx(dir, port1, upstream.port, 1);
      targets.push({
        name: "nginx-1w",
        baseUrl: `http://127.0.0.1:${port1}`,
        headers: gatewayHeaders,
        wrkScript: targets[0]!.wrkScript,
        cpu: () => treeCpuMs(proc1.pid),
        wrkOnly: true,
        proc: proc1,
      });
    }
    if (want("caddy")) {
      const port = freePort();
      const proc = await startCaddy(dir, port, upstream.port);
      targets.push({
        name: "caddy",
        baseUrl: `http://127.0.0.1:${port}`,
        headers: gatewayHeaders,
        wrkScript: targets[0]!.wrkScript,
        rss: () => rssKiB(proc.pid),
        cpu: () => treeCpuMs(proc.pid),
        proc,
      });
    }
    if (Deno.env.get("BENCH_REFERENCE") !== "0") {
      const port = freePort();
      const proc = await spawnLogged(
        "deno-min",
        Deno.execPath(),
        [
          "run",
          "--no-config",
          "--allow-net=127.0.0.1",
          "--allow-env=BENCH_GATEWAY_TOKEN",
          `${BENCH_DIR}min_proxy.ts`,
          String(port),
          `http://127.0.0.1:${upstream.port}`,
        ],
        {
          logFile: `${dir}/deno-min.log`,
          env: { BENCH_GATEWAY_TOKEN: token, DENO_NO_UPDATE_CHECK: "1" },
        },
      );
      await waitForPort(port, proc);
      targets.push({
        name: "deno-min",
        baseUrl: `http://127.0.0.1:${port}`,
        headers: {},
        wrkScript: await writeHeaderScript(dir, {}),
        cpu: () => treeCpuMs(proc.pid),
        wrkOnly: true,
        proc,
      });
    }
    for (const t of targets) results.set(t.name, { name: t.name });

    for (const t of targets) await warm(t);
    await sleep(1000);
    for (const t of targets) {
      if (t.rss) results.get(t.name)!.idleKiB = await t.rss();
    }

    // ROUNDS interleaved rounds per cell, the target order rotating each round, so a
    // burst of someone else's load or a slow drift does not land on one target; the
    // table shows each metric's median over the rounds.
    for (const connections of [1, 32]) {
      const rounds = new Map<Name, { wrk: WrkResult[]; cpuUs: number[] }>();
      for (const t of targets) rounds.set(t.name, { wrk: [], cpuUs: [] });
      for (let round = 0; round < ROUNDS; round++) {
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const t of order) {
          log(`wrk ${t.name} c=${connections} round ${round + 1}/${ROUNDS}`);
          if (round === 0) await runWrk(`${t.baseUrl}/v1/models`, connections, 1, t.wrkScript);
          // A run during which other processes used more than a sixth of a CPU is
          // repeated (up to RETRIES times) after waiting for the machine to calm down.
          let r!: WrkResult;
          let cpuUs = 0;
          let foreign = 0;
          for (let attempt = 0; attempt <= RETRIES; attempt++) {
            if (attempt > 0) {
              log(`  other work used ${(foreign * 100).toFixed(0)}% of a CPU; repeating`);
              await waitForQuiet(60_000);
            }
            const tableBefore = await processTable();
            const cpuBefore = await t.cpu();
            r = await runWrk(`${t.baseUrl}/v1/models`, connections, SECONDS, t.wrkScript);
            cpuUs = (await t.cpu() - cpuBefore) * 1000 / Math.max(1, r.requests);
            foreign = foreignCpuMs(tableBefore, await processTable(), Deno.pid) / (SECONDS * 1000);
            if (foreign <= FOREIGN_LIMIT) break;
          }
          if (foreign > FOREIGN_LIMIT) {
            notes.push(
              `${t.name} c=${connections} round ${round + 1}: processes outside the bench used ` +
                `${
                  (foreign * 100).toFixed(0)
                }% of a CPU during the run (after ${RETRIES} repeats).`,
            );
          }
          rounds.get(t.name)!.wrk.push(r);
          rounds.get(t.name)!.cpuUs.push(cpuUs);
          if (r.non2xx > 0 || r.socketErrors > 0) {
            notes.push(
              `${t.name} c=${connections}: ${r.non2xx} non-2xx responses, ${r.socketErrors} socket errors.`,
            );
          }
        }
      }
      for (const t of targets) {
        const { wrk, cpuUs } = rounds.get(t.name)!;
        const result = results.get(t.name)!;
        const median = medianWrk(wrk);
        if (connections === 1) {
          result.wrk1 = median;
          result.cpuUs1 = percentile(cpuUs, 50);
          result.rounds1 = wrk;
        } else {
          result.wrk32 = median;
          result.cpuUs32 = percentile(cpuUs, 50);
          result.rounds32 = wrk;
        }
      }
    }

    for (const t of targets) {
      if (t.wrkOnly) continue;
      log(`sse ${t.name}`);
      results.get(t.name)!.sse = await measureSse(t);
    }

    await sleep(2000);
    for (const t of targets) {
      if (t.rss) results.get(t.name)!.idleAfterLoadKiB = await t.rss();
    }

    for (const t of targets) {
      if (!t.rss) continue;
      log(`${STREAMS} streams ${t.name}`);
      const held = await holdStreams(t.baseUrl, t.headers, STREAMS);
      await sleep(2000);
      const rssNow = await t.rss();
      results.get(t.name)!.streams = { open: held.open, failed: held.failed, rssKiB: rssNow };
      log(`${held.open} open, ${held.failed} failed; closing them`);
      await held.close();
      log(`closed`);
      await sleep(1500);
    }

    const busyAfter = await cpuBusy();
    if (busyAfter > 0.15) {
      notes.push(
        `Something else kept the machine ${(busyAfter * 100).toFixed(0)}% busy right after the ` +
          `bench: the numbers may be noisy.`,
      );
    }
    const text = report(machineLine, results, notes);
    await Deno.mkdir(`${BENCH_DIR}results`, { recursive: true });
    await Deno.writeTextFile(`${BENCH_DIR}results/latest.md`, text);
    await Deno.writeTextFile(
      `${BENCH_DIR}results/latest.json`,
      JSON.stringify(
        {
          machine: machineLine,
          seconds: SECONDS,
          streams: STREAMS,
          rounds: ROUNDS,
          results: [...results.values()].map(summarize),
        },
        null,
        2,
      ) + "\n",
    );
    write(Deno.stdout, text);
  } finally {
    write(Deno.stderr, "bench: stopping every process it started\n");
    await stopAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
