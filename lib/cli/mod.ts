/**
 * Terminal presentation used only by the entries (`cli.ts` and `ecto edge run`'s
 * lean entry): human and JSON rendering of results, errors and events, QR codes.
 *
 * @module
 */
export { edgeRunMain, parseEdgeRunArgs } from "./edge_main.ts";
export {
  mobilePayload,
  renderConnectHuman,
  renderDisconnectHuman,
  renderErrorHuman,
  renderEventHuman,
  renderEventLine,
  renderKeysHuman,
  renderShareCard,
  renderStatusHuman,
  renderUsageHuman,
  type Style,
  terminalQr,
} from "./render.ts";
