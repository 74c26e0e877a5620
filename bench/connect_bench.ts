/**
 * `deno task bench:connect`: how long the user waits. `cli.ts` is spawned for
 * real under the permission set the binary ships with (`-P=ecto`), against the
 * tailscale test double and a real OpenClaw gateway (the e2e sandbox:
 * `tests/e2e/sandbox.ts`), and each step is timed wall-clock, over several runs:
 *
 * - connect from nothing (Tailscale logged in, gateway running with token auth and
 *   the endpoint off, no edge, no keys), repeat connect, status without and with
 *   the public check, disconnect, and `disconnect --purge` (which restores the
 *   gateway settings and brings the machine back to "nothing" for the next run);
 * - with the gateway's config API writing the config (the default) and, in the
 *   same run and interleaved, with `ECTO_CONFIG_WRITER=cli` (`openclaw config
 *   patch`, the baseline). `ECTO_OPENCLAW` is a wrapper that counts `openclaw`
 *   processes, so the table also shows that the API path spawns none.
 *
 * Knobs (environment): `BENCH_CONNECT_RUNS` (runs per cell, default 5),
 * `BENCH_CONNECT_WRITERS` (`gateway,cli`), `BENCH_CONNECT_WARMUP` (unmeasured runs per
 * writer first, default 1: a freshly started gateway's first `config.get` loads its schema,
 * ~3 s once; a user's long-running gateway has done so), `BENCH_CONNECT_OUT` (default
 * `bench/results/connect.md`), `BENCH_CONNECT_LABEL` (a line under the title, e.g.
 * "smoke run"). Nothing leaves loopback. Not part of CI: one gateway cold start
 * (15–60 s) plus about 10 s per run and writer.
 *
 * @module
 */
import { type Sandbox, startSandbox } from "../tests/e2e/sandbox.ts";
import { type TracedLine, traceEcto } from "./_trace.ts";

const RUNS = Number(Deno.env.get("BENCH_CONNECT_RUNS") ?? 5);
const WRITERS = (Deno.env.get("BENCH_CONNECT_WRITERS") ?? "gateway,cli").split(",")
  .map((s) => s.trim()).filter((s): s is Writer => s === "gateway" || s === "cli");
const OUT = Deno.env.get("BENCH_CONNECT_OUT") ??
  new URL("./results/connect.md", import.meta.url).pathname;
const LABEL = Deno.env.get("BENCH_CONNECT_LABEL");
const WARMUP = Number(Deno.env.get("BENCH_CONNECT_WARMUP") ?? 1);

type Writer = "gateway" | "cli";

/** The steps of one run, in order; each leaves the machine as the next expects. */
const STEPS = [
  { id: "connect", label: "connect from nothing", args: ["connect"], target: 2_000 },
  { id: "repeat", label: "repeat connect", args: ["connect"], target: 500 },
  {
    id: "status",
    label: "status --no-public",
    args: ["status", "--no-public"],
    target: 300,
  },
  { id: "statusPublic", label: "status (public check)", args: ["status"], target: 600 },
  { id: "disconnect", label: "disconnect", args: ["disconnect"], target: undefined },
  {
    id: "purge",
    label: "disconnect --purge",
    args: ["disconnect", "--purge", "--yes"],
    target: undefined,
  },
] as const;

type StepId = typeof STEPS[number]["id"];

/** Times, ms, per writer and step. */
type Samples = Record<Writer, Record<StepId, number[]>>;

function log(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`[bench:connect] ${line}\n`));
}

/** An `openclaw` that logs each run, then runs the real one. */
async function countingOpenClaw(
  dir: string,
  real: string,
): Promise<{ bin: string; count(): Promise<number> }> {
  const bin = `${dir}/openclaw-counting`;
  const runs = `${dir}/openclaw-runs.log`;
  await Deno.writeTextFile(bin, `#!/bin/sh\necho "$1 $2" >> "${runs}"\nexec "${real}" "$@"\n`, {
    mode: 0o755,
  });
  await Deno.chmod(bin, 0o755);
  return {
    bin,
    count: async () => {
      try {
        return (await Deno.readTextFile(runs)).split("\n").filter(Boolean).length;
      } catch {
        return 0;
      }
    },
  };
}

function check(run: { code: number; lines: TracedLine[] }, what: string): void {
  if (run.code === 0) return;
  // Only stderr is shown: stdout holds the key.
  throw new Error(
    `${what} exited ${run.code}:\n${run.lines.map((l) => l.line).join("\n").slice(-3000)}`,
  );
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

function cell(values: number[]): string {
  if (values.length === 0) return "–";
  if (values.length === 1) return `${seconds(values[0]!)} s`;
  return `${seconds(median(values))} s (${seconds(Math.min(...values))}–${
    seconds(Math.max(...values))
  })`;
}

/** The markdown report. Pure. */
export function renderReport(input: {
  samples: Samples;
  spawns: Record<Writer, number[]>;
  runs: number;
  writers: Writer[];
  machine: string;
  label?: string | undefined;
  date: string;
  warmup: number;
}): string {
  const { samples, writers } = input;
  const lines = [
    "# Connect benchmark",
    "",
    ...(input.label ? [`**${input.label}**`, ""] : []),
    `${input.date}; ${input.machine}; ${input.runs} run(s) per cell after ${input.warmup} unmeasured`,
    "warm-up run(s) per writer, medians with (min–max);",
    "wall time of `deno run -P=ecto cli.ts <command>` as a user runs it, against the tailscale",
    "double and a real OpenClaw gateway (openclaw@2026.9.6). `gateway API`: ecto writes the",
    "config through the running gateway's `config.patch`; `CLI`: `ECTO_CONFIG_WRITER=cli`, one",
    "`openclaw config patch --stdin` (the baseline, same run, interleaved).",
    "",
    `| step | ${writers.map((w) => (w === "gateway" ? "gateway API" : "CLI")).join(" | ")} |${
      writers.length === 2 ? " CLI ÷ API |" : ""
    } target |`,
    `| --- | ${writers.map(() => "---").join(" | ")} |${
      writers.length === 2 ? " --- |" : ""
    } --- |`,
  ];
  for (const step of STEPS) {
    const cells = writers.map((w) => cell(samples[w][step.id]));
    const ratio =
      writers.length === 2 && samples.gateway[step.id].length && samples.cli[step.id].length
        ? ` ${(median(samples.cli[step.id]) / median(samples.gateway[step.id])).toFixed(1)}× |`
        : writers.length === 2
        ? " – |"
        : "";
    const target = step.id === "connect"
      ? "≤ 2 s, ≥ 3× faster than CLI"
      : step.target === undefined
      ? "–"
      : `≤ ${seconds(step.target)} s`;
    lines.push(`| ${step.label} | ${cells.join(" | ")} |${ratio} ${target} |`);
  }
  lines.push(
    `| \`openclaw\` processes per run | ${
      writers.map((w) => input.spawns[w].join(", ") || "–").join(" | ")
    } |${writers.length === 2 ? " |" : ""} 0 with the API |`,
  );
  return lines.join("\n") + "\n";
}

function machineLine(): string {
  return `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} CPU(s), Deno ${Deno.version.deno}`;
}

/** The stderr timeline of the last measured run of each step, per writer. */
type Traces = Record<Writer, Partial<Record<StepId, TracedLine[]>>>;

async function oneRun(
  sb: Sandbox,
  env: Record<string, string>,
  writer: Writer,
  record: { samples: Samples; traces: Traces } | undefined,
) {
  for (const step of STEPS) {
    const run = await traceEcto([...step.args], env);
    check(run, `${writer}: ecto ${step.args.join(" ")}`);
    if (record) {
      record.samples[writer][step.id].push(run.ms);
      record.traces[writer][step.id] = run.lines;
    }
    log(
      `${writer.padEnd(7)} ${step.label.padEnd(22)} ${seconds(run.ms)} s${
        record ? "" : " (warm-up)"
      }`,
    );
  }
  // Back to "nothing": the purge restored the gateway's settings.
  const config = JSON.parse(await Deno.readTextFile(sb.gateway.configPath));
  if (config.gateway?.http?.endpoints?.chatCompletions?.enabled !== false) {
    throw new Error("disconnect --purge did not restore the gateway's endpoint setting");
  }
}

/** A step's timeline as a markdown code block. */
function timeline(title: string, lines: TracedLine[] | undefined): string[] {
  if (!lines?.length) return [];
  return [
    "",
    `${title} (ms since the process started; ecto's progress lines):`,
    "",
    "```",
    ...lines.filter((l) => l.line.trim()).map((l) =>
      `${String(l.ms).padStart(6)}  ${l.line.trim().slice(0, 110)}`
    ),
    "```",
  ];
}

if (import.meta.main) {
  if (WRITERS.length === 0) throw new Error("BENCH_CONNECT_WRITERS names no writer (gateway, cli)");
  log("starting the sandbox (tailscale double + a real OpenClaw gateway; 15–60 s cold start)");
  await using sb = await startSandbox({ onProgress: log });
  const counter = await countingOpenClaw(sb.home, sb.env.ECTO_OPENCLAW!);
  const env: Record<string, string> = { ...sb.env, ECTO_OPENCLAW: counter.bin };
  const samples = Object.fromEntries(
    WRITERS.map((w) => [w, Object.fromEntries(STEPS.map((s) => [s.id, [] as number[]]))]),
  ) as Samples;
  const spawns = Object.fromEntries(WRITERS.map((w) => [w, [] as number[]])) as Record<
    Writer,
    number[]
  >;
  const traces = Object.fromEntries(WRITERS.map((w) => [w, {}])) as Traces;
  const envFor = (writer: Writer) => ({
    ...env,
    ...(writer === "cli" ? { ECTO_CONFIG_WRITER: "cli" } : {}),
  });
  for (let i = 0; i < WARMUP; i++) {
    for (const writer of WRITERS) await oneRun(sb, envFor(writer), writer, undefined);
  }
  for (let run = 0; run < RUNS; run++) {
    // Alternate which writer goes first, so neither always runs on a warmer machine.
    const order = run % 2 === 0 ? WRITERS : [...WRITERS].reverse();
    for (const writer of order) {
      const before = await counter.count();
      await oneRun(sb, envFor(writer), writer, { samples, traces });
      spawns[writer].push((await counter.count()) - before);
    }
  }
  const report = renderReport({
    samples,
    spawns,
    runs: RUNS,
    writers: WRITERS,
    machine: machineLine(),
    label: LABEL,
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    warmup: WARMUP,
  }) + [
    ...timeline(
      "Where the time goes: connect from nothing, gateway API, last run",
      traces.gateway?.connect,
    ),
    ...timeline("Connect from nothing, CLI writer, last run", traces.cli?.connect),
    ...timeline("Repeat connect, gateway API, last run", traces.gateway?.repeat),
  ].join("\n") + "\n";
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(OUT, report);
  Deno.stdout.writeSync(new TextEncoder().encode(report));
}
