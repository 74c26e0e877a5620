/**
 * The JSON merge patch `openclaw config patch` takes, built and applied in
 * memory: the plan builds one, the plan and undo apply it to predict the
 * settings after the write without writing anything.
 *
 * @module
 */
import { isRecord } from "./config.ts";

/** Sets `value` at `path` in a patch document, creating objects on the way. */
export function setPath(
  target: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isRecord(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/**
 * Applies a merge patch the way `openclaw config patch` does: objects merge
 * recursively, arrays and scalars replace, `null` deletes. Pure.
 */
export function applyMergePatch(
  config: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isRecord(value)) {
      out[key] = applyMergePatch(
        isRecord(out[key]) ? out[key] as Record<string, unknown> : {},
        value,
      );
    } else out[key] = value;
  }
  return out;
}
