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
 *   processes, so the table also shows that the API path spawns none; a
 *   `tailscale` first on `PATH` counts (and times) the double's runs the same way;
 * - `ecto version` as the start-up floor every command pays (Deno, `cli.ts`, commander, dax).
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
  { id: "floor", label: "start-up floor (`ecto version`)", args: ["version"], target: undefined },
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

/** Processes per writer and step: `tailscale` and `openclaw` runs, one entry per measured run. */
type Spawns = Record<Writer, Record<StepId, { tailscale: number[]; openclaw: number[] }>>;

function log(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`[bench:connect] ${line}\n`));
}

/** One logged run of a counted tool: when it started (epoch ms) and its first arguments. */
interface ToolRun {
  at: number;
  args: string;
}

/** A program `bin` that logs each run (bash's clock: no extra process), then runs `real`. */
async function countingTool(
  bin: string,
  real: string,
  log: string,
): Promise<{ bin: string; runs(): Promise<ToolRun[]> }> {
  await Deno.mkdir(bin.slice(0, bin.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(
    bin,
    `#!/usr/bin/env bash\necho "$EPOCHREALTIME $1 $2 $3" >> "${log}"\nexec "${real}" "$@"\n`,
    { mode: 0o755 },
  );
  await Deno.chmod(bin, 0o755);
  return {
    bin,
    runs: async () => {
      let text = "";
      try {
        text = await Deno.readTextFile(log);
      } catch { /* nothing ran yet */ }
      return text.split("\n").filter(Boolean).map((line) => {
        const space = line.indexOf(" ");
        return { at: Number(line.slice(0, space)) * 1000, args: line.slice(space + 1).trim() };
      });
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
  /** CPU time (user + system) per step, when GNU time measured it. */
  cpu?: Samples | undefined;
  spawns: Spawns;
  runs: number;
  writers: Writer[];
  machine: string;
  label?: string | undefined;
  date: string;
  warmup: number;
  /** The 1-minute load average at the start and the end, for the noise. */
  load?: { start: string; end: string } | undefined;
}): string {
  const { samples, writers } = input;
  const lines = [
    "# Connect benchmark",
    "",
    ...(input.label ? [`**${input.label}**`, ""] : []),
    `${input.date}; ${input.machine}${
      input.load
        ? `; load average ${input.load.start} at the start, ${input.load.end} at the end`
        : ""
    }; ${input.runs} run(s) per cell after ${input.warmup} unmeasured`,
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
    "",
    "Per step, median over the measured runs: the processes it ran (`tailscale` is the double, a",
    "Deno script; `openclaw` the real CLI) and its CPU time (user + system of ecto and the processes",
    "it waited for, not the detached edge or the gateway; a loaded machine stretches it far less",
    "than wall time).",
    "",
    `| step | ${
      writers.map((w) => (w === "gateway" ? "gateway API" : "CLI")).map((w) =>
        `${w}: processes | ${w}: CPU`
      ).join(" | ")
    } |`,
    `| --- | ${writers.map(() => "--- | ---").join(" | ")} |`,
  );
  for (const step of STEPS) {
    const cells = writers.map((w) => {
      const counts = input.spawns[w][step.id];
      const cpu = input.cpu?.[w][step.id] ?? [];
      const processes = counts.tailscale.length === 0
        ? "–"
        : `${median(counts.tailscale)} tailscale + ${median(counts.openclaw)} openclaw`;
      return `${processes} | ${cpu.length ? `${seconds(median(cpu))} s` : "–"}`;
    });
    lines.push(`| ${step.label} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}

/** The 1-minute load average, to say how noisy the machine was (`--allow-sys`). */
function loadAverage(): string | undefined {
  try {
    return Deno.loadavg()[0]!.toFixed(1);
  } catch {
    return undefined;
  }
}

function machineLine(): string {
  return `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} CPU(s), Deno ${Deno.version.deno}`;
}

/** The stderr timeline of the last measured run of each step, per writer. */
type Traces = Record<Writer, Partial<Record<StepId, TracedLine[]>>>;

/** The counted tools. */
interface Counters {
  tailscale: () => Promise<ToolRun[]>;
  openclaw: () => Promise<ToolRun[]>;
}

async function oneRun(
  sb: Sandbox,
  env: Record<string, string>,
  writer: Writer,
  counters: Counters,
  record: { samples: Samples; cpu: Samples; traces: Traces; spawns: Spawns } | undefined,
) {
  for (const step of STEPS) {
    const [ts0, oc0] = [(await counters.tailscale()).length, (await counters.openclaw()).length];
    const startedAt = Date.now();
    const run = await traceEcto([...step.args], env);
    check(run, `${writer}: ecto ${step.args.join(" ")}`);
    const tailscaleRuns = (await counters.tailscale()).slice(ts0);
    const openclawRuns = (await counters.openclaw()).slice(oc0);
    if (record) {
      record.samples[writer][step.id].push(run.ms);
      if (run.cpuMs !== undefined) record.cpu[writer][step.id].push(run.cpuMs);
      record.spawns[writer][step.id].tailscale.push(tailscaleRuns.length);
      record.spawns[writer][step.id].openclaw.push(openclawRuns.length);
      // The tools' runs go into the step's timeline, as the ms since ecto was spawned.
      const tools = [
        ...tailscaleRuns.map((r) => ({ ...r, tool: "tailscale" })),
        ...openclawRuns.map((r) => ({ ...r, tool: "openclaw" })),
      ].map((r) => ({ ms: Math.round(r.at - startedAt), line: `  [${r.tool} ${r.args}]` }));
      record.traces[writer][step.id] = [...run.lines, ...tools].sort((a, b) => a.ms - b.ms);
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
      `${String(l.ms).padStart(6)}  ${l.line.trimEnd().slice(0, 150)}`
    ),
    "```",
  ];
}

if (import.meta.main) {
  if (WRITERS.length === 0) throw new Error("BENCH_CONNECT_WRITERS names no writer (gateway, cli)");
  log("starting the sandbox (tailscale double + a real OpenClaw gateway; 15–60 s cold start)");
  const loadStart = loadAverage();
  await using sb = await startSandbox({ onProgress: log });
  const openclaw = await countingTool(
    `${sb.home}/counting/openclaw`,
    sb.env.ECTO_OPENCLAW!,
    `${sb.home}/counting/openclaw-runs.log`,
  );
  const tailscale = await countingTool(
    `${sb.home}/counting/bin/tailscale`,
    `${sb.tailscale.binDir}/tailscale`,
    `${sb.home}/counting/tailscale-runs.log`,
  );
  const counters: Counters = { tailscale: tailscale.runs, openclaw: openclaw.runs };
  const env: Record<string, string> = {
    ...sb.env,
    ECTO_OPENCLAW: openclaw.bin,
    PATH: `${sb.home}/counting/bin:${sb.env.PATH}`,
  };
  const emptySamples = () =>
    Object.fromEntries(
      WRITERS.map((w) => [w, Object.fromEntries(STEPS.map((s) => [s.id, [] as number[]]))]),
    ) as Samples;
  const samples = emptySamples();
  const cpu = emptySamples();
  const spawns = Object.fromEntries(
    WRITERS.map((w) => [
      w,
      Object.fromEntries(STEPS.map((s) => [s.id, { tailscale: [], openclaw: [] }])),
    ]),
  ) as unknown as Spawns;
  const traces = Object.fromEntries(WRITERS.map((w) => [w, {}])) as Traces;
  const envFor = (writer: Writer) => ({
    ...env,
    ...(writer === "cli" ? { ECTO_CONFIG_WRITER: "cli" } : {}),
  });
  for (let i = 0; i < WARMUP; i++) {
    for (const writer of WRITERS) await oneRun(sb, envFor(writer), writer, counters, undefined);
  }
  for (let run = 0; run < RUNS; run++) {
    // Alternate which writer goes first, so neither always runs on a warmer machine.
    const order = run % 2 === 0 ? WRITERS : [...WRITERS].reverse();
    for (const writer of order) {
      await oneRun(sb, envFor(writer), writer, counters, { samples, cpu, traces, spawns });
    }
  }
  const report = renderReport({
    samples,
    cpu,
    spawns,
    runs: RUNS,
    writers: WRITERS,
    machine: machineLine(),
    label: LABEL,
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    warmup: WARMUP,
    load: loadStart === undefined ? undefined : { start: loadStart, end: loadAverage() ?? "?" },
  }) + [
    ...timeline(
      "Where the time goes: connect from nothing, gateway API, last run",
      traces.gateway?.connect,
    ),
    ...timeline("Connect from nothing, CLI writer, last run", traces.cli?.connect),
    ...timeline("Repeat connect, gateway API, last run", traces.gateway?.repeat),
    ...timeline("status (public check), gateway API, last run", traces.gateway?.statusPublic),
  ].join("\n") + "\n";
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(OUT, report);
  Deno.stdout.writeSync(new TextEncoder().encode(report));
}
