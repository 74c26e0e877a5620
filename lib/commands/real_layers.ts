/**
 * The real layers: each concept folder's adapter, bound to the interfaces in
 * `lib/core/layer_types.ts`.
 *
 * @module
 */
import type { Layers } from "../core/layer_types.ts";
import { edgeLayer } from "../edge/layer.ts";
import { keysLayer } from "../edge/keys_layer.ts";
import { openclawLayer } from "../openclaw/layer.ts";
import { proofLayer } from "../proof/layer.ts";
import { tailscaleLayer } from "../tailscale/layer.ts";
import { preflight } from "./preflight.ts";

/**
 * The real layers, as `connect`, `status` and `disconnect` use them by default. One set serves
 * one command: the preflight and the Tailscale layer share their reads of Tailscale.
 */
export function realLayers(): Layers {
  const tailscale = tailscaleLayer();
  return {
    tailscale,
    openclaw: openclawLayer(),
    edge: edgeLayer(),
    keys: keysLayer(),
    proof: proofLayer,
    preflight: (ctx, request) => preflight(ctx, request, tailscale.probe(ctx)),
  };
}
