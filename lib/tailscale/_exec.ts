/**
 * Running programs through the injected dax `$`: capture, stream, kill.
 * Private to the tailscale layer.
 *
 * @module
 */
import type { Shell } from "../core/shell.ts";

/** What a finished program left behind. */
export interface ExecResult {
  /** Exit code (124 when killed). */
  code: number;
  /** Everything the program wrote to stdout. */
  stdout: string;
  /** Everything the program wrote to stderr. */
  stderr: string;
  /** Killed by ecto (deadline or `kill()`), not exited on its own. */
  killed: boolean;
}

/** Options for {@link exec} and {@link spawn}. */
export interface ExecOptions {
  /** Extra environment for the child (`undefined` values unset a variable). */
  env?: Record<string, string | undefined>;
  /** Kill the program after this long. */
  timeoutMs?: number;
  /** Let the program use the terminal (sudo password prompts). */
  inheritStdio?: boolean;
}

/** A running program whose output is streamed. */
export interface Spawned {
  /** Stops the program (SIGTERM). */
  kill(): void;
  /** Resolves when the program has exited and its output is drained. */
  done: Promise<ExecResult>;
}

/** Streaming callbacks: each receives the whole text seen so far on that stream. */
export interface StreamCallbacks {
  onStdout?: (textSoFar: string) => void;
  onStderr?: (textSoFar: string) => void;
}

/** Runs `argv` through `$` and streams its output; never throws for a non-zero exit. */
export function spawn(
  $: Shell,
  argv: readonly string[],
  options: ExecOptions & StreamCallbacks = {},
): Spawned {
  let builder = $`${[...argv]}`.noThrow();
  if (options.env) builder = builder.env(options.env);
  if (options.inheritStdio) {
    builder = builder.stdin("inherit").stdout("inherit").stderr("inherit");
  } else {
    builder = builder.stdin("null").stdout("piped").stderr("piped");
  }
  const child = builder.spawn();
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
  };
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(kill, options.timeoutMs);
  const read = async (stream: ReadableStream<Uint8Array>, on?: (t: string) => void) => {
    const dec = new TextDecoder();
    let text = "";
    for await (const chunk of stream) {
      text += dec.decode(chunk, { stream: true });
      on?.(text);
    }
    return text + dec.decode();
  };
  const done = (async (): Promise<ExecResult> => {
    try {
      const [stdout, stderr, result] = options.inheritStdio
        ? ["", "", await child]
        : await Promise.all([
          read(child.stdout(), options.onStdout),
          read(child.stderr(), options.onStderr),
          child,
        ]);
      return { code: result.code, stdout, stderr, killed };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  })();
  return { kill, done };
}

/** Runs `argv` through `$` to completion, capturing output. */
export function exec(
  $: Shell,
  argv: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  return spawn($, argv, options).done;
}

export { sleep as delay } from "../core/poll.ts";
