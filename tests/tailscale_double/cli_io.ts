/**
 * Output, exit and flag-parsing helpers of the double's CLI, shaped like the
 * Go originals: `fmt.Fprint` to stdout/stderr, `os.Exit`, the `flag`
 * package's parsing rules and messages, and `encoding/json` quirks.
 *
 * @module
 */

const encoder = new TextEncoder();

function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
}

/** Writes `text` to stdout as is. */
export function out(text: string): void {
  writeAll(Deno.stdout, text);
}

/** Writes `text` to stderr as is. */
export function err(text: string): void {
  writeAll(Deno.stderr, text);
}

/** Thrown to end the CLI with an exit code (like `os.Exit`); message already printed. */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * An error returned to Go's `main`: printed on stderr with a newline, exit 1.
 * (`fmt.Fprintln(os.Stderr, err); os.Exit(1)`.)
 */
export class CliError extends Error {
  /** True when the error is a LocalAPI access denial (the root hint applies). */
  accessDenied = false;
}

/** An access-denied error from the LocalAPI (`Access denied: <what>`). */
export function accessDenied(prefix: string, what: string): CliError {
  const e = new CliError(`${prefix}Access denied: ${what}`);
  e.accessDenied = true;
  return e;
}

/** Go `encoding/json` output: `<`, `>`, `&`, U+2028/9 escaped. */
export function goJson(value: unknown, indent: string): string {
  return JSON.stringify(value, null, indent).replace(
    /[<>&\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/** A flag definition for {@link parseFlags}. */
export interface FlagSpec {
  kind: "bool" | "string" | "uint" | "duration";
}

/** Parsed flags and the remaining positionals. */
export interface ParsedFlags {
  values: Record<string, string | boolean>;
  args: string[];
}

/**
 * Go `flag.FlagSet.Parse` with `ExitOnError`: `-x`, `--x`, `--x=v`, `--x v`;
 * parsing stops at the first non-flag or after `--`. On an unknown flag or a
 * bad value it prints the Go message plus `usage` on stderr and exits 2.
 */
export function parseFlags(
  argv: string[],
  specs: Record<string, FlagSpec>,
  usage: string,
): ParsedFlags {
  const values: Record<string, string | boolean> = {};
  const fail = (message: string): never => {
    err(`${message}\n${usage}`);
    throw new Exit(2);
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    const body = a.replace(/^--?/, "");
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      fail(`bad flag syntax: ${a}`);
    }
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (name === "help" || name === "h") {
      err(usage);
      throw new Exit(0);
    }
    const spec = specs[name];
    if (!spec) fail(`flag provided but not defined: -${name}`);
    if (spec.kind === "bool") {
      if (value === undefined) value = "true";
      const b = parseGoBool(value);
      if (b === undefined) fail(`invalid boolean value "${value}" for -${name}: parse error`);
      values[name] = b!;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) fail(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (spec.kind === "uint" && !/^(0|[1-9]\d*|0x[0-9a-fA-F]+|0[0-7]+)$/.test(value)) {
      fail(`invalid value "${value}" for flag -${name}: parse error`);
    }
    if (spec.kind === "duration" && parseGoDuration(value) === undefined) {
      fail(`invalid value "${value}" for flag -${name}: parse error`);
    }
    values[name] = value;
  }
  return { values, args: argv.slice(i) };
}

function parseGoBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

/** Go `time.ParseDuration`, in milliseconds. */
export function parseGoDuration(s: string): number | undefined {
  if (s === "0") return 0;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    "µs": 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let sign = 1;
  let rest = s;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "") return undefined;
  let total = 0;
  re.lastIndex = 0;
  while (re.lastIndex < rest.length) {
    const m = re.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * units[m[2]];
  }
  return sign * total;
}

/** Parses an unsigned flag value like Go's `strconv.ParseUint(s, 0, 64)`. */
export function uintValue(v: string | boolean | undefined): number {
  if (typeof v !== "string") return 0;
  if (/^0x/i.test(v)) return parseInt(v.slice(2), 16);
  if (/^0[0-7]+$/.test(v)) return parseInt(v, 8);
  return Number(v);
}
