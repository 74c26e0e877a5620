/**
 * Progress events. `lib/` never prints: long operations report what they are
 * doing through an {@link EventSink}, and `cli.ts` renders the events for
 * people (text, colours on a terminal) or agents (JSON lines on stderr).
 *
 * @module
 */

/** A step of a long job (connect, disconnect) started, finished, or was skipped. */
export interface StepEvent {
  kind: "step";
  /** Stable step id, e.g. `tailscale.login`. */
  step: string;
  status: "start" | "done" | "skip" | "fail";
  /** One human sentence: what was found or done. */
  detail?: string;
}

/** A wait in progress: install, login, gateway readiness, DNS. */
export interface ProgressEvent {
  kind: "progress";
  step: string;
  message: string;
  /** How long we have waited so far. */
  elapsedMs?: number;
  /** The bound of the wait. */
  limitMs?: number;
}

/** The user must open a URL (login, enable Funnel); emitted the moment it is known. */
export interface ActionEvent {
  kind: "action";
  step: string;
  /** What the URL is for, e.g. `login`, `enable-funnel`, `approve-device`. */
  action: string;
  url: string;
  message: string;
}

/** Something worth knowing that is not an error. */
export interface NoteEvent {
  kind: "note";
  step: string;
  level: "info" | "warn";
  message: string;
}

/** Any event a `lib/` function can emit. */
export type EctoEvent = StepEvent | ProgressEvent | ActionEvent | NoteEvent;

/** Where events go. */
export type EventSink = (event: EctoEvent) => void;

/** A sink that drops everything, the default for library callers. */
export const ignoreEvents: EventSink = () => {};
