/**
 * The permission sets of deno.json as command-line flags. deno.json's
 * `permissions` is the one source of truth; the tasks and the skill's script
 * spell the same sets as flags (so no run prints Deno's "Permissions in the
 * config file is an experimental feature" warning), and
 * `tests/permissions_test.ts` checks that they still agree.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };

/** One permission set as deno.json writes it. */
export type PermissionSet = Partial<Record<PermissionName, boolean | string[]>>;

type PermissionName = "read" | "write" | "net" | "env" | "run" | "sys" | "ffi" | "import";

const ORDER: PermissionName[] = ["read", "write", "net", "env", "run", "sys", "ffi", "import"];

/** `--allow-NAME` for `true`, `--allow-NAME=a,b` for a list, nothing for `false`, in a fixed order. */
export function permissionFlags(set: PermissionSet): string[] {
  const flags: string[] = [];
  for (const name of ORDER) {
    const value = set[name];
    if (value === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(value)) flags.push(`--allow-${name}=${value.join(",")}`);
  }
  return flags;
}

/** What the `ecto` binary is compiled with (`permissions.ecto`). */
export const ECTO_PERMISSIONS: PermissionSet = denoJson.permissions.ecto;

/** What tests, the demo and the bench run with (`permissions.test`): `net` is loopback only. */
export const TEST_PERMISSIONS: PermissionSet = denoJson.permissions.test;

/**
 * What end-to-end tests spawn `cli.ts` with: the binary's set with one
 * difference, `net` narrowed to the test set's loopback list, so a slip that
 * would dial off this machine fails with a permission error instead.
 */
export const E2E_PERMISSIONS: PermissionSet = { ...ECTO_PERMISSIONS, net: TEST_PERMISSIONS.net! };
