/**
 * The injected shell. Every `lib/` module that runs a program receives a dax
 * `$` built once in `cli.ts` (or by a test, with fake commands registered);
 * nothing in `lib/` imports the global `$`.
 *
 * @module
 */
import { type $Type, build$ } from "dax";

/** The dax `$` every layer module takes. */
export type Shell = $Type;

/** Builds ecto's shell: quiet by default, no command echo. */
export function createShell(): Shell {
  return build$({});
}
