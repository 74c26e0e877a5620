/**
 * Pure renderers for people: results, events and errors as text. `cli.ts`
 * writes what these return; nothing here prints.
 *
 * @module
 */
import { causeChain, EctoError, ToolError } from "../core/errors.ts";
import type { EctoEvent } from "../core/events.ts";
import type { KeyRecord } from "../edge/keys.ts";
import type { ConnectResult } from "../commands/connect_result.ts";
import type { DisconnectResult } from "../commands/disconnect.ts";
import type { StatusReport } from "../commands/status.ts";
export { renderEventLine } from "../core/event_line.ts";
import type { ShareCard } from "../edge/share_card.ts";
import type { UsageRow } from "../usage/store.ts";
import { renderUnicodeCompact } from "uqr";

/**
 * A QR code for a terminal (npm `uqr`): two module rows per line in half
 * blocks, light modules inked for a dark background, a quiet zone of 2 (phones
 * need 1–2), low error correction so a long key stays a small symbol.
 */
export function terminalQr(text: string): string {
  return renderUnicodeCompact(text, { ecc: "L", border: 2 }) + "\n";
}

/** How to render: colours only on a terminal. */
export interface Style {
  colour: boolean;
  terminal: boolean;
}

const paint = (code: string) => (style: Style, text: string) =>
  style.colour ? `\x1b[${code}m${text}\x1b[0m` : text;
const green = paint("32");
const red = paint("31");
const yellow = paint("33");
const bold = paint("1");
const dim = paint("2");

/** One progress event as a line (or block) for stderr. */
export function renderEventHuman(event: EctoEvent, style: Style): string {
  switch (event.kind) {
    case "step": {
      if (event.status === "start") {
        return style.terminal ? dim(style, `… ${event.detail ?? event.step}\n`) : "";
      }
      const mark = event.status === "fail" ? red(style, "✗") : green(style, "✓");
      return `${mark} ${event.detail ?? event.step}\n`;
    }
    case "progress": {
      const waited = event.elapsedMs === undefined
        ? ""
        : ` (${Math.round(event.elapsedMs / 1000)} s` +
          (event.limitMs === undefined ? ")" : ` of ${Math.round(event.limitMs / 1000)} s)`);
      return dim(style, `  ${event.message}${waited}\n`);
    }
    case "action": {
      const qr = style.terminal ? "\n" + terminalQr(event.url) + "\n" : "";
      return `\n${yellow(style, "!")} ${event.message}\n\n    ${bold(style, event.url)}\n${qr}\n`;
    }
    case "note":
      return `${event.level === "warn" ? yellow(style, "!") : dim(style, "·")} ${event.message}\n`;
  }
}

/** An error as the one sentence, the fix, and with `verbose` the cause chain. */
export function renderErrorHuman(error: unknown, style: Style, verbose: boolean): string {
  const lines: string[] = [];
  if (error instanceof EctoError) {
    lines.push(`${red(style, "error:")} ${error.message}`);
    if ("url" in error && typeof error.url === "string") lines.push(`  open: ${error.url}`);
    if (error.fix) lines.push(`  fix: ${error.fix}`);
  } else {
    lines.push(`${red(style, "error:")} ${error instanceof Error ? error.message : String(error)}`);
  }
  if (verbose) {
    for (const [i, e] of causeChain(error).entries()) {
      if (i > 0) lines.push(`  caused by: ${e instanceof Error ? e.message : String(e)}`);
      if (e instanceof ToolError) lines.push(...toolLines(e));
    }
  }
  return lines.join("\n") + "\n";
}

/** What a failed program left: its exit code and the end of its stderr, quoted. */
function toolLines(error: ToolError): string[] {
  if (error.stderrTail === "") {
    return [`  ${error.tool} exited with ${error.toolExitCode} and wrote nothing to stderr`];
  }
  return [
    `  ${error.tool} exited with ${error.toolExitCode}; the end of its stderr:`,
    ...error.stderrTail.split("\n").map((line) => `    | ${line}`),
  ];
}

/** The connect summary: URL, endpoint, key, model, curl, where the credentials are. */
export function renderConnectHuman(result: ConnectResult, style: Style): string {
  const curl = `curl ${result.endpoint} \\\n` +
    `    -H "Authorization: Bearer ${result.token}" \\\n` +
    `    -H "Content-Type: application/json" \\\n` +
    `    -d '{"model":"${result.model}","messages":[{"role":"user","content":"Hello!"}]}'`;
  const lines = [
    "",
    bold(
      style,
      result.mode === "private"
        ? "Your assistant is online in your tailnet (private: not on the internet)."
        : "Your assistant is online.",
    ),
    "",
    `  Base URL     ${result.url}/v1`,
    `  Endpoint     ${result.endpoint}`,
    `  Key          ${result.token}`,
    `  Model        ${result.model}`,
    `  Proof        ${result.proof.detail}`,
    `  Credentials  ${result.credentialsFile}`,
    "",
    ...(result.notes ?? []).flatMap((note) => [`Note: ${note}`, ""]),
    "Try it:",
    "",
    `  ${curl}`,
    "",
  ];
  if (style.terminal) {
    lines.push(
      "Scan with the Ecto app (base URL + key):",
      "",
      terminalQr(mobilePayload(result)),
      "",
    );
  }
  lines.push(
    dim(
      style,
      result.mode === "private"
        ? "Keep the key secret: anyone in your tailnet who has it reaches your assistant."
        : "Keep the key secret: it is the only thing between the internet and your assistant.",
    ),
  );
  return lines.join("\n") + "\n";
}

/** What the mobile QR code holds: base URL and key. */
export function mobilePayload(result: Pick<ConnectResult, "url" | "token" | "model">): string {
  return JSON.stringify({ baseUrl: `${result.url}/v1`, apiKey: result.token, model: result.model });
}

/** The status table, first broken layer and its fix on top. */
export function renderStatusHuman(report: StatusReport, style: Style): string {
  const lines: string[] = [];
  if (report.ok) lines.push(green(style, "All layers hold."));
  else if (report.firstProblem) {
    lines.push(
      `${red(style, "Broken:")} ${report.firstProblem.layer}: ${report.firstProblem.message}`,
    );
    if (report.firstProblem.fix) lines.push(`  fix: ${report.firstProblem.fix}`);
  }
  lines.push(
    report.mode === "private"
      ? "Mode: private (Tailscale Serve): the URL works only on devices in your tailnet."
      : "Mode: public (Tailscale Funnel).",
  );
  lines.push("");
  for (const layer of report.layers) {
    const mark = layer.ok
      ? green(style, "✓")
      : layer.ok === false
      ? red(style, "✗")
      : yellow(style, "-");
    lines.push(`${mark} ${bold(style, layer.name.padEnd(12))} ${layer.summary}`);
    for (const [k, v] of Object.entries(layer.details)) {
      if (v !== undefined && v !== null && v !== "") lines.push(dim(style, `    ${k}: ${v}`));
    }
  }
  return lines.join("\n") + "\n";
}

/** What disconnect did (the steps themselves were shown as events). */
export function renderDisconnectHuman(result: DisconnectResult, style: Style): string {
  const lines = [
    result.actions.length > 0
      ? bold(style, "Disconnected.")
      : "Nothing to do: ecto's route and edge were already gone.",
  ];
  if (!result.purged) {
    lines.push(
      dim(
        style,
        "Keys and gateway settings kept for a quick `ecto connect`; `--purge` removes them.",
      ),
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * The key list: id, role, name, agent, created, last use, expiry, and with
 * `today` (usage rows by key id) today's requests and tokens against budgets.
 */
export function renderKeysHuman(
  keys: readonly KeyRecord[],
  style: Style,
  today?: ReadonlyMap<string, UsageRow>,
  now: number = Date.now(),
): string {
  if (keys.length === 0) return "No keys yet: `ecto connect` creates the owner key.\n";
  const rows = keys.map((k) => {
    const use = today?.get(k.id);
    const lastUsed = [k.lastUsed, use?.lastUsed].filter((t) => t !== undefined).sort().at(-1);
    const tokens = use ? use.promptTokens + use.completionTokens : 0;
    const of = (n: number | undefined) => (n ? `/${n}` : "");
    const todayText = today === undefined
      ? ""
      : `  today ${use?.requests ?? 0}${of(k.limits?.maxRequestsPerDay)} req ${tokens}${
        of(k.limits?.maxTokensPerDay)
      } tok`;
    return `${k.id.padEnd(14)} ${k.role.padEnd(6)} ${k.name.padEnd(20)} ${
      (k.agent ?? "(unbound)").padEnd(12)
    } created ${k.created.slice(0, 10)}` +
      `  last used ${lastUsed?.slice(0, 16).replace("T", " ") ?? "never"}` + todayText +
      (k.expires === undefined
        ? ""
        : `  ${Date.parse(k.expires) > now ? "expires" : "EXPIRED"} ${
          k.expires.slice(0, 16).replace("T", " ")
        }`);
  });
  return [
    bold(style, `${"id".padEnd(14)} ${"role".padEnd(6)} ${"name".padEnd(20)} agent`),
    ...rows,
  ].join("\n") + "\n";
}

/**
 * The share card for a friend: base URL, key, model, curl, exports, Python
 * and JavaScript snippets, and on a terminal a QR code with base URL and key.
 */
export function renderShareCard(card: ShareCard, style: Style): string {
  const lines = [
    "",
    bold(style, `Key ${card.id} for ${card.name}`) + ` (agent ${card.agent})`,
    yellow(style, `${card.note} Send it privately.`),
    "",
    `  Base URL  ${card.baseUrl ?? "(not connected yet)"}`,
    `  API key   ${card.key}`,
    `  Model     ${card.model}`,
  ];
  if (card.expires) lines.push(`  Expires   ${card.expires}`);
  if (card.budget) {
    const parts = [
      card.budget.maxRequestsPerDay ? `${card.budget.maxRequestsPerDay} requests` : "",
      card.budget.maxTokensPerDay ? `${card.budget.maxTokensPerDay} tokens` : "",
    ].filter(Boolean);
    lines.push(`  Budget    ${parts.join(", ")} per UTC day`);
  }
  lines.push("");
  if (card.missing) {
    lines.push(`${yellow(style, "!")} ${card.missing}`, "");
    return lines.join("\n") + "\n";
  }
  const indent = (text: string) => text.split("\n").map((l) => `  ${l}`).join("\n");
  lines.push(
    "curl:",
    indent(card.curl!),
    "",
    "Shell (most OpenAI clients read these):",
    indent(
      `export OPENAI_BASE_URL=${card.env!.OPENAI_BASE_URL}\nexport OPENAI_API_KEY=${
        card.env!.OPENAI_API_KEY
      }`,
    ),
    "",
    "Python (pip install openai):",
    indent(card.python!),
    "",
    "JavaScript (npm install openai):",
    indent(card.javascript!),
    "",
  );
  if (style.terminal) {
    lines.push("Scan with the Ecto app (base URL + key):", "", terminalQr(card.qr!));
  }
  return lines.join("\n") + "\n";
}

/** `ecto usage`: one line per key per UTC day, then totals. */
export function renderUsageHuman(rows: readonly UsageRow[], style: Style, since: string): string {
  if (rows.length === 0) return `No usage recorded since ${since}.\n`;
  const header = [
    "day",
    "key",
    "name",
    "requests",
    "prompt",
    "completion",
    "errors",
    "refused",
    "bytes in",
    "bytes out",
  ];
  const body = rows.map((r) => [
    r.day,
    r.keyId,
    r.keyName,
    String(r.requests),
    String(r.promptTokens),
    String(r.completionTokens),
    String(r.errors),
    String(r.refused),
    humanBytes(r.bytesIn),
    humanBytes(r.bytesOut),
  ]);
  const sum = (f: (r: UsageRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const total = [
    "total",
    "",
    "",
    String(sum((r) => r.requests)),
    String(sum((r) => r.promptTokens)),
    String(sum((r) => r.completionTokens)),
    String(sum((r) => r.errors)),
    String(sum((r) => r.refused)),
    humanBytes(sum((r) => r.bytesIn)),
    humanBytes(sum((r) => r.bytesOut)),
  ];
  const all = [header, ...body, total];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i >= 3 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join("  ")
      .trimEnd();
  return [
    bold(style, line(header)),
    ...body.map(line),
    dim(style, line(total)),
  ].join("\n") + "\n";
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
