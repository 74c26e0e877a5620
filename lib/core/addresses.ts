/**
 * Where the edge listens, the exact Funnel target that points at it, and the
 * public base URL a port gives. The target string is how ecto recognises its
 * own route, so each is built in one place.
 *
 * @module
 */
import type { EctoContext } from "./context.ts";

/** The ports Funnel serves, in the order ecto prefers them. */
export const FUNNEL_PORTS: readonly number[] = [443, 8443, 10000];

/** The edge's default port. */
export const DEFAULT_EDGE_PORT = 18795;

/** The edge's default listen address. */
export const DEFAULT_EDGE_LISTEN = `127.0.0.1:${DEFAULT_EDGE_PORT}`;

/** The edge's listen address: `ECTO_EDGE_LISTEN` or the default. */
export function edgeListen(ctx: Pick<EctoContext, "env">): string {
  return ctx.env("ECTO_EDGE_LISTEN") ?? DEFAULT_EDGE_LISTEN;
}

/** The Funnel target for the edge, e.g. `http://127.0.0.1:18795`. */
export function edgeTarget(ctx: Pick<EctoContext, "env">): string {
  return `http://${edgeListen(ctx)}`;
}

/** The public base URL for `dnsName` on Funnel `port` (no `:443`, no trailing dot). */
export function baseUrl(dnsName: string, port: number): string {
  const host = dnsName.replace(/\.$/, "");
  return port === 443 ? `https://${host}` : `https://${host}:${port}`;
}
