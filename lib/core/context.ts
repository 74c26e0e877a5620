/**
 * The effects an orchestration (connect, status, disconnect) runs with. Built
 * once in `cli.ts` from the real world, or by a test from fakes.
 *
 * @module
 */
import type { EventSink } from "./events.ts";
import type { EctoPaths, EnvLookup } from "./paths.ts";
import type { Shell } from "./shell.ts";

/** Something ecto wants to do that needs the user's consent. */
export interface ConsentRequest {
  /** Stable id, e.g. `tailscale.install`. */
  id: string;
  /** One sentence: what will happen. */
  description: string;
  /** The exact command ecto would run (shown to the user). */
  command: string;
}

/** Asks for consent; resolves false when it cannot be asked or was refused. */
export type Consent = (request: ConsentRequest) => Promise<boolean>;

/** Everything impure an orchestration needs. */
export interface EctoContext {
  /** The injected dax shell. */
  $: Shell;
  /** Environment lookup. */
  env: EnvLookup;
  /** The whole environment, for child processes. */
  envAll: () => Record<string, string>;
  /** HTTP client. */
  fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Waits `ms` milliseconds. */
  sleep: (ms: number) => Promise<void>;
  /** Where progress goes. */
  events: EventSink;
  /** Asks the user for consent. */
  consent: Consent;
  /** ecto's files. */
  paths: EctoPaths;
  /** The argv that starts this ecto again (for the edge supervisor). */
  selfCommand: string[];
  /** `Deno.build.os`. */
  os: string;
  /** Whether a person is at a terminal (login QR codes, waiting for a browser). */
  interactive: boolean;
}
