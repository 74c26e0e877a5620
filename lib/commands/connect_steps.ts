/**
 * Connect's steps: each reports start, then done (it changed something), skip
 * (nothing to do) or fail, and what a layer reports inside it becomes progress
 * under it.
 *
 * @module
 */
import type { EctoContext } from "../core/context.ts";

/** Runs one step of connect: `id` for the events, `start` for its first line. */
export type Step = <T extends { changed?: boolean; detail: string }>(
  id: string,
  start: string,
  run: (inner: EctoContext) => Promise<T>,
) => Promise<T>;

/**
 * A context whose step events become progress lines under the enclosing
 * step, so a layer's own "done" does not read as a second step.
 */
function nested(ctx: EctoContext, parent: string): EctoContext {
  return {
    ...ctx,
    events: (event) =>
      ctx.events(
        event.kind === "step"
          ? { kind: "progress", step: parent, message: event.detail ?? event.step }
          : event,
      ),
  };
}

/** A {@link Step} runner that adds the id of every step that changed something to `changed`. */
export function stepRunner(ctx: EctoContext, changed: string[]): Step {
  return async (id, start, run) => {
    ctx.events({ kind: "step", step: id, status: "start", detail: start });
    try {
      const result = await run(nested(ctx, id));
      if (result.changed) changed.push(id);
      ctx.events({
        kind: "step",
        step: id,
        status: result.changed ? "done" : "skip",
        detail: result.detail,
      });
      return result;
    } catch (error) {
      ctx.events({
        kind: "step",
        step: id,
        status: "fail",
        detail: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
  };
}
