/**
 * Forgetting ecto's device on `disconnect --purge`: the gateway paired ecto's
 * device identity silently on loopback the first time ecto used its config API
 * (listed as `ecto` in `openclaw devices list`), so a purge removes that pairing
 * (`device.pair.remove`, `docs/gateway/protocol/rpc-devices-nodes-and-approvals.md`)
 * and then the identity file. When the gateway is down the file stays, so the
 * next run reuses the same device instead of leaving an orphaned pairing behind.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import { removeIfExists } from "../core/atomic_file.ts";
import { ectoPaths } from "../core/paths.ts";
import type { GatewayCredential } from "./settings.ts";
import type { ConfigWriterDeps } from "./config_writer.ts";
import { deviceIdentityPath, isDeviceIdentity } from "./device_identity.ts";
import { connectGateway, GatewayRpcError } from "./gateway_rpc.ts";
import { gatewayReady } from "./gateway_health.ts";

/** What {@link forgetGatewayDevice} did. */
export type ForgetResult =
  /** The pairing was removed and the identity deleted. */
  | "removed"
  /** The gateway had no pairing for it; the identity was deleted. */
  | "not-paired"
  /** ecto never had a device identity. */
  | "no-identity"
  /** The gateway did not answer or refused: the identity is kept for the next run. */
  | "kept";

/**
 * Removes ecto's device pairing from the running gateway, then the identity file. Never throws
 * for a gateway that is down or refuses: the purge goes on and the identity stays.
 */
export async function forgetGatewayDevice(
  deps: ConfigWriterDeps,
  target: { url: string; credential: GatewayCredential | undefined },
): Promise<ForgetResult> {
  const path = deviceIdentityPath(ectoPaths(deps.env).stateDir);
  let identity: unknown;
  try {
    identity = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "no-identity";
    identity = undefined;
  }
  if (!isDeviceIdentity(identity)) {
    await removeIfExists(path); // corrupt: nothing the gateway could know it by
    return "not-paired";
  }
  if (!(await gatewayReady(deps.fetch, target.url))) return "kept";
  try {
    await using rpc = await connectGateway({
      url: target.url,
      credential: target.credential
        ? { kind: target.credential.kind, value: target.credential.value }
        : undefined,
      identity,
      version: denoJson.version,
      ...(deps.openSocket ? { openSocket: deps.openSocket } : {}),
    });
    try {
      await rpc.request("device.pair.remove", { deviceId: identity.deviceId });
    } catch (error) {
      // The connection itself may have been the last use of a pairing the gateway already dropped.
      if (!(error instanceof GatewayRpcError) || !/not found|unknown/i.test(error.shape.message)) {
        throw error;
      }
      await removeIfExists(path);
      return "not-paired";
    }
  } catch {
    return "kept";
  }
  await removeIfExists(path);
  return "removed";
}
