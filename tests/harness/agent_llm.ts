/**
 * A scripted model that plays the LLM behind a real OpenClaw agent for the
 * `ecto-connection` skill, as a careful model would: it reads the skill's
 * `SKILL.md` from the `<location>` OpenClaw lists in its system prompt, takes
 * the `exec` and `process` parameters from that file's JSON blocks (nothing
 * about the call is hard-coded here), follows the backgrounded-command and
 * exit-code rules, and answers from the tool result it got.
 *
 * Plug it into the stub LLM: `stub.respond = agent.respond`. Every request is
 * kept in `agent.requests`; {@link transcript} renders one turn.
 *
 * @module
 */
import type { StubRespond } from "./stub_llm.ts";

/** One message of an OpenAI chat request, as OpenClaw sends it. */
export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

/** What the user asked for, in the skill's terms. */
export type Intent = "connect" | "status" | "disconnect";

/** A tool result, read the way the skill says. */
export interface ToolOutcome {
  /** `Command still running (session <id>…)` or `Process still running.`: the session id. */
  running?: string;
  /** `(Command exited with code N)` / `Process exited with code N.`; 0 when not mentioned. */
  exitCode?: number;
  /** The one JSON document of the output, when it parses as exactly one. */
  document?: Record<string, unknown>;
  /** An exec approval stopped the command: waiting for a decision, or denied. */
  approval?: "pending" | "denied";
  /** The approval id, when one was given. */
  approvalId?: string;
  text: string;
}

/** The text of a message's `content` (string or text parts). */
export function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (part as { text?: string })?.text ?? "").join("");
  }
  return "";
}

function unescapeXml(text: string): string {
  return text.replaceAll("&quot;", '"').replaceAll("&apos;", "'").replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

/** A skill's entry in the system prompt's `<available_skills>`, if listed. */
export function listedSkill(
  system: string,
  name: string,
): { description: string; location: string } | undefined {
  for (const match of system.matchAll(/<skill>([\s\S]*?)<\/skill>/g)) {
    const block = match[1];
    const tag = (t: string) =>
      unescapeXml(new RegExp(`<${t}>([\\s\\S]*?)</${t}>`).exec(block)?.[1] ?? "");
    if (tag("name").trim() === name) {
      return { description: tag("description").trim(), location: tag("location").trim() };
    }
  }
  return undefined;
}

/**
 * `{baseDir}`: the directory of the listed `SKILL.md`, absolute. A leading `~`
 * is expanded with the home the prompt's `Working directory:` line implies
 * (`<home>/.openclaw/workspace`), the only home the model can know.
 */
export function baseDirOf(location: string, system: string): string {
  const dir = location.replace(/\/SKILL\.md$/, "");
  if (!dir.startsWith("~/")) return dir;
  const workdir = /^Working directory: (.+)$/m.exec(system)?.[1]?.trim();
  const home = workdir?.match(/^(.*)\/\.openclaw\/workspace$/)?.[1];
  return home ? `${home}${dir.slice(1)}` : dir;
}

/** The text of the `## <heading>` section of a Markdown file, up to the next `## `. */
export function section(markdown: string, heading: string): string {
  const start = markdown.search(new RegExp(`^## ${heading}\\s*$`, "m"));
  if (start < 0) throw new Error(`SKILL.md has no "## ${heading}" section`);
  const rest = markdown.slice(start + 3);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Every fenced ```json block of a text, parsed. */
export function jsonBlocks(text: string): Array<Record<string, unknown>> {
  return [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]));
}

/** The output part of a poll result, without OpenClaw's status lines. */
export function pollOutput(text: string): string {
  return text.replace(/\n*Process still running\.\s*$/, "")
    .replace(/\n*Process exited with code \d+\.\s*$/, "")
    .replace(/^\(no new output\)$/, "");
}

/**
 * Reads a tool result the way SKILL.md says to. `earlier` is the output the
 * earlier polls of the same session already brought: a poll returns as soon
 * as output arrives, so the document can come before the `Process exited` poll.
 */
export function readOutcome(text: string, earlier = ""): ToolOutcome {
  const outcome: ToolOutcome = { text };
  const backgrounded = /Command still running \(session ([^,\s)]+)/.exec(text);
  if (backgrounded) return { ...outcome, running: backgrounded[1] };
  if (/Approval required \(id ([^,\s)]+)/.test(text)) {
    return {
      ...outcome,
      approval: "pending",
      approvalId: /Approval required \(id ([^,\s)]+)/.exec(text)![1],
    };
  }
  if (/exec denied|approval_required|approval-unavailable/i.test(text)) {
    return { ...outcome, approval: "denied" };
  }
  if (/Process still running\.\s*$/.test(text)) return { ...outcome, running: "" };
  const exited =
    /\n*\((?:Command exited with code (\d+))\)\s*$|\n*Process exited with code (\d+)\.\s*$/
      .exec(text);
  const body = earlier + pollOutput(text).replace(/\n*\(Command exited with code \d+\)\s*$/, "");
  outcome.exitCode = exited ? Number(exited[1] ?? exited[2]) : 0;
  try {
    const parsed = JSON.parse(body.trim());
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) outcome.document = parsed;
  } catch { /* not exactly one JSON document */ }
  return outcome;
}

/** The outcome of a turn's last exec: its result, or its session's polls put together. */
export function sessionOutcome(calls: MadeCall[]): ToolOutcome {
  const execAt = calls.findLastIndex((c) => c.name === "exec");
  const session = calls.slice(execAt);
  const last = session.at(-1)!;
  const earlier = session.slice(1, -1).filter((c) => c.name === "process")
    .map((c) => pollOutput(c.result ?? "")).join("");
  return readOutcome(last.result ?? "", earlier);
}

/** What the user's message asks for, or `undefined` when it is not about ecto. */
export function intentOf(userText: string): Intent | "done" | undefined {
  const text = userText.toLowerCase();
  if (/^\s*(done|ok,? done|it'?s done|i did it)[.!]?\s*$/.test(text)) return "done";
  if (!/ecto|external access|publicly|expose/.test(text)) return undefined;
  if (/turn off|disconnect|disable|remove|stop/.test(text)) return "disconnect";
  if (/\?|status|is .* (up|connected)/.test(text)) return "status";
  return "connect";
}

/** The user's words: OpenClaw wraps them in a timestamp and a runtime line. */
export function userWords(text: string): string {
  return text.replace(/^\[[^\]]*\]\s*/, "").replace(/\n\nRuntime: [\s\S]*$/, "").trim();
}

/** Whether a user message is OpenClaw's injected context rather than the user's words. */
function isInjected(text: string): boolean {
  return text.startsWith("<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>") || text.trim() === "";
}

const HEADINGS: Record<Intent, string> = {
  connect: "Connect",
  status: "Status",
  disconnect: "Disconnect",
};

/** The scripted agent. */
export interface SkillAgent {
  respond: StubRespond;
  /** Every chat request OpenClaw sent, in order. */
  requests: Array<Record<string, unknown>>;
  /** Called with each backgrounded result before the model answers (e.g. to let connect finish). */
  onBackgrounded?: (sessionId: string) => void | Promise<void>;
}

/** Creates the scripted agent for the skill `name` (default `ecto-connection`). */
export function skillAgent(opts: { name?: string; maxPolls?: number } = {}): SkillAgent {
  const name = opts.name ?? "ecto-connection";
  const maxPolls = opts.maxPolls ?? 20;
  const agent: SkillAgent = {
    requests: [],
    respond: async (body) => {
      agent.requests.push(body);
      const messages = (body.messages ?? []) as ChatMessage[];
      const system = messages.filter((m) => m.role === "system" || m.role === "developer")
        .map((m) => messageText(m.content)).join("\n");
      const userAt = messages.findLastIndex((m) =>
        m.role === "user" && !isInjected(messageText(m.content))
      );
      if (userAt < 0) return undefined;
      const words = userWords(messageText(messages[userAt].content));
      let intent = intentOf(words);
      if (intent === "done") intent = previousIntent(messages.slice(0, userAt));
      if (intent === undefined) return undefined;

      const listed = listedSkill(system, name);
      if (!listed) return { content: `I have no skill called ${name}.` };
      const skill = skillText(messages, name);
      const turn = messages.slice(userAt + 1);
      const calls = toolCalls(turn);
      if (skill === undefined) {
        return { toolCalls: [{ name: "read", arguments: { path: listed.location } }] };
      }
      const baseDir = baseDirOf(listed.location, system);
      const part = section(skill, HEADINGS[intent]);
      const execArgs = jsonBlocks(part).find((b) => typeof b.command === "string");
      if (!execArgs) throw new Error(`SKILL.md "## ${HEADINGS[intent]}" has no exec JSON block`);
      const exec = substitute(execArgs, { "{baseDir}": baseDir });
      if (!calls.some((c) => c.name === "exec")) {
        return { toolCalls: [{ name: "exec", arguments: exec }] };
      }

      const outcome = sessionOutcome(calls);
      if (outcome.running !== undefined) {
        const sessionId = outcome.running || pollSession(calls);
        if (calls.filter((c) => c.name === "process").length >= maxPolls) {
          return { content: "ecto is still working; I will tell you when it has finished." };
        }
        if (outcome.running) await agent.onBackgrounded?.(sessionId);
        const pollArgs = jsonBlocks(section(skill, "Connect")).find((b) => b.action === "poll");
        if (!pollArgs) throw new Error("SKILL.md gives no process poll JSON block");
        return {
          toolCalls: [{ name: "process", arguments: substitute(pollArgs, { "<id>": sessionId }) }],
        };
      }
      // The runtime line (channel and all) comes with the first message of a session.
      const runtime = messages.filter((m) => m.role === "user").map((m) => messageText(m.content))
        .findLast((text) => text.includes("\n\nRuntime: ")) ?? "";
      return { content: finalAnswer(intent, outcome, { skill, baseDir, runtime }) };
    },
  };
  return agent;
}

/** One tool call the model made, with the result OpenClaw handed back. */
export interface MadeCall {
  name: string;
  args: Record<string, unknown>;
  result?: string;
}

/** The tool calls of a turn with their results, in order. */
export function toolCalls(turn: ChatMessage[]): MadeCall[] {
  const calls: MadeCall[] = [];
  const byId = new Map<string, MadeCall>();
  for (const m of turn) {
    if (m.role === "assistant") {
      for (const call of m.tool_calls ?? []) {
        const made: MadeCall = {
          name: call.function.name,
          args: JSON.parse(call.function.arguments || "{}"),
        };
        calls.push(made);
        byId.set(call.id, made);
      }
    } else if (m.role === "tool" && m.tool_call_id) {
      const made = byId.get(m.tool_call_id);
      if (made) made.result = messageText(m.content);
    }
  }
  return calls;
}

function pollSession(calls: MadeCall[]): string {
  for (const call of [...calls].reverse()) {
    if (call.name === "process" && typeof call.args.sessionId === "string") {
      return call.args.sessionId;
    }
    const id = call.result && /Command still running \(session ([^,\s)]+)/.exec(call.result)?.[1];
    if (id) return id;
  }
  return "";
}

/** SKILL.md as the `read` tool returned it earlier in the conversation. */
function skillText(messages: ChatMessage[], name: string): string | undefined {
  for (const m of messages) {
    if (m.role !== "tool") continue;
    const text = messageText(m.content);
    if (text.startsWith("---\n") && new RegExp(`^name: ${name}$`, "m").test(text)) return text;
  }
  return undefined;
}

/** What the last exec of the conversation before `done` was for. */
function previousIntent(messages: ChatMessage[]): Intent | undefined {
  for (const call of toolCalls(messages).reverse()) {
    if (call.name !== "exec") continue;
    const command = String(call.args.command ?? "");
    if (command.includes("/scripts/connect.sh")) return "connect";
    if (command.includes("/scripts/status.sh")) return "status";
    if (command.includes("/scripts/disconnect.sh")) return "disconnect";
  }
  return undefined;
}

function substitute(
  value: Record<string, unknown>,
  replacements: Record<string, string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    let s = v;
    if (typeof s === "string") {
      for (const [from, to] of Object.entries(replacements)) s = (s as string).replaceAll(from, to);
    }
    out[key] = s;
  }
  return out;
}

/**
 * The owner's private chat: the runtime line OpenClaw appends to the user's
 * message names the channel, `webchat` for the owner's API calls and the Control UI.
 */
function ownerPrivateChat(runtime: string): boolean {
  return /\bchannel=webchat\b/.test(runtime);
}

function finalAnswer(
  intent: Intent,
  outcome: ToolOutcome,
  ctx: { skill: string; baseDir: string; runtime: string },
): string {
  if (outcome.approval === "pending") {
    return `An exec approval is waiting for ecto (id ${outcome.approvalId}): approve ` +
      `\`${ctx.baseDir}/scripts/connect.sh --json --quiet\` in the approval card or the Control UI, ` +
      `or reply \`/approve ${outcome.approvalId} allow-once\`. I will continue once it has run.`;
  }
  if (outcome.approval === "denied") {
    const allow = /`(openclaw approvals allowlist add [^`]+)`/.exec(
      section(ctx.skill, "Exec approvals"),
    )
      ?.[1]?.replaceAll("{baseDir}", ctx.baseDir);
    return "OpenClaw's exec approvals stopped ecto's script before it ran, so nothing changed. " +
      "Approve it from a chat or the Control UI that shows approvals, or allow this skill's scripts " +
      `once for all with \`${allow}\`. Tell me when it is done and I will run it again.`;
  }
  const doc = outcome.document;
  if (!doc) {
    return `ecto did not print its JSON result (exit ${outcome.exitCode}):\n${outcome.text}`;
  }
  const error = doc.error as { message?: string; url?: string; fix?: string } | undefined;
  if (intent === "connect") {
    if (outcome.exitCode === 0 && doc.ok === true) {
      const proof = (doc.proof as { path?: string } | undefined)?.path;
      const lines = [
        `ecto is connected. Endpoint: ${doc.endpoint} — model: ${doc.model}.`,
        proof === "public"
          ? "The public internet path was proven."
          : "Only the tailnet path could be checked so far (public DNS had not caught up).",
      ];
      if (ownerPrivateChat(ctx.runtime)) {
        lines.push(
          "Try it; your key is the Bearer value (shown only here, in your private chat):",
          `curl ${doc.endpoint} -H "Authorization: Bearer ${doc.token}" -H "Content-Type: application/json" -d '{"model":"${doc.model}","messages":[{"role":"user","content":"Hello!"}]}'`,
        );
      } else {
        lines.push(`The key is in ${doc.credentialsFile}; ask me for it in a private chat.`);
      }
      return lines.join("\n");
    }
    if (outcome.exitCode === 3) {
      return `${error?.message ?? "ecto needs you to act."} Open ${error?.url ?? error?.fix}` +
        " — tell me when it is done and I will continue.";
    }
    return `ecto could not connect: ${error?.message}${error?.fix ? ` Fix: ${error.fix}` : ""}`;
  }
  if (intent === "status") {
    if (outcome.exitCode === 0 && doc.ok === true) {
      return "Yes: ecto is connected and every layer holds.";
    }
    const first = doc.firstProblem as
      | { layer?: string; message?: string; fix?: string }
      | undefined;
    return `No: the ${first?.layer} layer is not right: ${first?.message}` +
      (first?.fix ? ` Fix: ${first.fix}` : "");
  }
  if (outcome.exitCode === 0 && doc.ok === true) {
    return "External access is off: ecto's Funnel route is removed and its edge stopped. " +
      "Your keys and settings stay, so connecting again is quick.";
  }
  return `ecto could not disconnect: ${error?.message}${error?.fix ? ` Fix: ${error.fix}` : ""}`;
}

/** One turn as a reader wants to see it: the user's words, each tool call with its result, the answer. */
export function transcript(
  user: string,
  request: Record<string, unknown>,
  answer: string,
  redact: (text: string) => string,
): string {
  const messages = (request.messages ?? []) as ChatMessage[];
  const userAt = messages.findLastIndex((m) =>
    m.role === "user" && !isInjected(messageText(m.content))
  );
  const lines = [`USER: ${user}`];
  for (const call of toolCalls(messages.slice(userAt + 1))) {
    lines.push(`TOOL CALL ${call.name} ${JSON.stringify(call.args)}`);
    const result = call.result ?? "(no result)";
    const shown = call.name === "read" ? `${result.split("\n").slice(0, 3).join("\n")}\n…` : result;
    lines.push(`TOOL RESULT ${shown.replace(/^/gm, "  ").trimStart()}`);
  }
  lines.push(`ASSISTANT: ${answer}`);
  return redact(lines.join("\n"));
}
