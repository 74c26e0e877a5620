/**
 * ecto as a library: the layers `ecto connect` is built from, for other Deno
 * scripts. Put a local OpenClaw gateway's OpenAI-compatible API on the
 * internet through Tailscale Funnel, behind ecto's edge (a loopback proxy that
 * admits only ecto client keys and only the OpenAI endpoints).
 *
 * ```ts
 * import { createShell, getStatus, locateTailscale, tailscaleCli } from "./mod.ts";
 *
 * const $ = createShell();
 * const install = await locateTailscale({ $, env: (name) => Deno.env.get(name) });
 * if (install) {
 *   const status = await getStatus(tailscaleCli({ $, path: install.path }));
 *   console.log(status.dnsName, status.funnelAllowed);
 * }
 * ```
 *
 * @module
 */

// Shared contracts.
export {
  ActionRequiredError,
  EctoError,
  type EctoErrorOptions,
  ExitCode,
  exitCodeFor,
  type ExitCodeValue,
  MissingPrerequisiteError,
  ToolError,
  UsageError,
} from "./lib/core/errors.ts";
export type {
  ActionEvent,
  EctoEvent,
  EventSink,
  NoteEvent,
  ProgressEvent,
  StepEvent,
} from "./lib/core/events.ts";
export { ignoreEvents } from "./lib/core/events.ts";
export { type EctoPaths, ectoPaths, type EnvLookup } from "./lib/core/paths.ts";
export { createShell, type Shell } from "./lib/core/shell.ts";
export type { Consent, ConsentRequest, EctoContext } from "./lib/core/context.ts";

// The jobs.
export { connect, type ConnectOptions, type ConnectResult } from "./lib/commands/connect.ts";
export { status, type StatusOptions, type StatusReport } from "./lib/commands/status.ts";
export {
  disconnect,
  type DisconnectOptions,
  type DisconnectResult,
} from "./lib/commands/disconnect.ts";
export * from "./lib/core/layer_types.ts";
export type { ConnectionRecord } from "./lib/core/connection_record.ts";

// The layers.
export * from "./lib/tailscale/mod.ts";
export * from "./lib/openclaw/mod.ts";
export * from "./lib/edge/mod.ts";
export * from "./lib/usage/mod.ts";
export * from "./lib/service/supervisor.ts";
export * from "./lib/proof/mod.ts";
export * from "./lib/core/credentials.ts";
export * from "./lib/core/lock.ts";
export { parseJson5 } from "./lib/core/json5.ts";
