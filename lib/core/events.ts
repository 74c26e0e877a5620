/**
 * Progress events. `lib/` never prints: long operations report what they are
 * doing through an {@link EventSink}, and `cli.ts` renders the events for
 * people (text, colours on a terminal) or agents (JSON lines on stderr).
 *
 * @module
 */

/** A step of a long job (connect, disconnect) started, finished, or was skipped. */
export interface StepEvent {
  /** Discriminant: always `step`. */
  kind: "step";
  /** Stable step id, e.g. `tailscale.login`. */
  step: string;
  /**
   * `start` when it begins, then one of `done` (it finished), `skip` (nothing
   * needed doing) or `fail` (it failed).
   */
  status: "start" | "done" | "skip" | "fail";
  /** One human sentence: what was found or done. */
  detail?: string;
}

/** A wait in progress: install, login, gateway readiness, DNS. */
export interface ProgressEvent {
  /** Discriminant: always `progress`. */
  kind: "progress";
  /** Id of the step that is waiting, e.g. `tailscale.login`. */
  step: string;
  /** One human sentence: what we are waiting for. */
  message: string;
  /** How long we have waited so far. */
  elapsedMs?: number;
  /** The bound of the wait. */
  limitMs?: number;
}

/** The user must open a URL (login, enable Funnel); emitted the moment it is known. */
export interface ActionEvent {
  /** Discriminant: always `action`. */
  kind: "action";
  /** Id of the step that needs the action, e.g. `tailscale.login`. */
  step: string;
  /** What the URL is for, e.g. `login`, `enable-funnel`, `approve-device`. */
  action: string;
  /** The URL the user must open. */
  url: string;
  /** One human sentence: what to do at the URL. */
  message: string;
}

/** Something worth knowing that is not an error. */
export interface NoteEvent {
  /** Discriminant: always `note`. */
  kind: "note";
  /** Id of the step the note belongs to. */
  step: string;
  /** `warn` for something the user should look at, `info` otherwise. */
  level: "info" | "warn";
  /** One human sentence. */
  message: string;
}

/** Any event a `lib/` function can emit. */
export type EctoEvent = StepEvent | ProgressEvent | ActionEvent | NoteEvent;

/** Where events go. */
export type EventSink = (event: EctoEvent) => void;

/** A sink that drops everything, the default for library callers. */
export const ignoreEvents: EventSink = () => {};
