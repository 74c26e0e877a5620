/**
 * One progress event as a plain log line, for the edge's own log: kept apart
 * from `render.ts` so the supervised edge does not load the terminal QR code.
 *
 * @module
 */
import type { EctoEvent } from "./events.ts";

/** One event as a single plain line (logs: the edge's output, JSON-less agents). */
export function renderEventLine(event: EctoEvent): string {
  switch (event.kind) {
    case "step":
      return `[${event.step}] ${event.status}: ${event.detail ?? ""}`.trimEnd();
    case "progress":
      return `[${event.step}] ${event.message}`;
    case "action":
      return `[${event.step}] action ${event.action}: ${event.message} ${event.url}`;
    case "note":
      return `[${event.step}] ${event.level}: ${event.message}`;
  }
}
