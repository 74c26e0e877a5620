/**
 * The jobs: `connect`, `status` and `disconnect`, orchestrating the layers
 * (`real_layers.ts` binds each concept folder's adapter) and the take-over of a
 * machine the old skill set up. Orchestration only: no tool output is parsed here.
 *
 * @module
 */
export { connect } from "./connect.ts";
export type { ConnectOptions } from "./connect_options.ts";
export type { ConnectResult } from "./connect_result.ts";
export { disconnect, type DisconnectOptions, type DisconnectResult } from "./disconnect.ts";
export { preflight, type PreflightRequest, type PreflightResult } from "./preflight.ts";
export { realLayers } from "./real_layers.ts";
export { status, type StatusOptions, type StatusReport } from "./status.ts";
export {
  adoptLegacyKey,
  consentToTakeover,
  inspectTakeover,
  LEGACY_KEY_NAME,
  planTakeover,
  syncGatewayCredentialCopy,
  type TakeoverInput,
  type TakeoverInspection,
  type TakeoverPlan,
  verifyNoGatewayRoute,
} from "./takeover.ts";
