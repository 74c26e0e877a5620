/**
 * A small, strict JSON5 parser (https://spec.json5.org): comments, trailing
 * commas, unquoted (identifier) keys, single-quoted and multi-line strings,
 * hexadecimal numbers, leading/trailing decimal points, explicit `+`, and
 * `Infinity`/`NaN`. OpenClaw's config file is JSON5, and ecto has to read it
 * itself because `openclaw config get` redacts the gateway token.
 *
 * Errors are {@link Json5SyntaxError}s carrying the 1-based line and column.
 *
 * @module
 */

/** A JSON5 text that does not parse; `line` and `column` are 1-based. */
export class Json5SyntaxError extends SyntaxError {
  /** 1-based line of the offending character. */
  readonly line: number;
  /** 1-based column of the offending character (in UTF-16 code units). */
  readonly column: number;
  /** What went wrong, without the position. */
  readonly reason: string;
  /** Builds the error; the message ends with `at line L, column C`. */
  constructor(reason: string, line: number, column: number) {
    super(`${reason} at line ${line}, column ${column}`);
    this.name = "Json5SyntaxError";
    this.reason = reason;
    this.line = line;
    this.column = column;
  }
}

/**
 * Parses a JSON5 text into plain values (objects, arrays, strings, numbers,
 * booleans, `null`). A `__proto__` key becomes an own property, as with
 * `JSON.parse`.
 *
 * @throws {Json5SyntaxError} with the line and column of the first error.
 * @example
 * ```ts
 * parseJson5("{ gateway: { port: 0x4965, }, // comment\n}"); // { gateway: { port: 18789 } }
 * ```
 */
export function parseJson5(text: string): unknown {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value();
  parser.skipSpace();
  if (!parser.atEnd()) parser.fail(`unexpected ${parser.describe()} after the value`);
  return value;
}

const ESCAPES: Record<string, string> = {
  "b": "\b",
  "f": "\f",
  "n": "\n",
  "r": "\r",
  "t": "\t",
  "v": "\v",
  "'": "'",
  '"': '"',
  "\\": "\\",
  "/": "/",
};

function isLineTerminator(c: string): boolean {
  return c === "\n" || c === "\r" || c === "\u2028" || c === "\u2029";
}

function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\v" || c === "\f" || c === "\u00a0" ||
    c === "\ufeff" || isLineTerminator(c) || /\p{Zs}/u.test(c);
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function isHexDigit(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

function isIdStart(c: string): boolean {
  return c === "$" || c === "_" || /[\p{L}\p{Nl}]/u.test(c);
}

function isIdPart(c: string): boolean {
  return isIdStart(c) || c === "\u200c" || c === "\u200d" ||
    /[\p{Mn}\p{Mc}\p{Nd}\p{Pc}]/u.test(c);
}

class Parser {
  #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  atEnd(): boolean {
    return this.#pos >= this.#text.length;
  }

  /** The character at the cursor (a whole code point), or "" at the end. */
  #peek(offset = 0): string {
    const cp = this.#text.codePointAt(this.#pos + offset);
    return cp === undefined ? "" : String.fromCodePoint(cp);
  }

  describe(): string {
    const c = this.#peek();
    if (c === "") return "end of input";
    if (c === "\n" || c === "\r") return "line break";
    return `character ${JSON.stringify(c)}`;
  }

  fail(reason: string, at = this.#pos): never {
    let line = 1;
    let column = 1;
    for (let i = 0; i < at && i < this.#text.length; i++) {
      const c = this.#text[i];
      if (
        c === "\n" || c === "\u2028" || c === "\u2029" || (c === "\r" && this.#text[i + 1] !== "\n")
      ) {
        line++;
        column = 1;
      } else {
        column++;
      }
    }
    throw new Json5SyntaxError(reason, line, column);
  }

  skipSpace(): void {
    const t = this.#text;
    while (this.#pos < t.length) {
      const c = t[this.#pos];
      if (isSpace(c)) {
        this.#pos++;
      } else if (c === "/" && t[this.#pos + 1] === "/") {
        this.#pos += 2;
        while (this.#pos < t.length && !isLineTerminator(t[this.#pos])) this.#pos++;
      } else if (c === "/" && t[this.#pos + 1] === "*") {
        const start = this.#pos;
        const end = t.indexOf("*/", this.#pos + 2);
        if (end < 0) this.fail("unterminated block comment", start);
        this.#pos = end + 2;
      } else {
        break;
      }
    }
  }

  value(): unknown {
    const c = this.#peek();
    switch (c) {
      case "{":
        return this.#object();
      case "[":
        return this.#array();
      case '"':
      case "'":
        return this.#string();
      case "":
        this.fail("unexpected end of input, expected a value");
    }
    if (c === "-" || c === "+" || c === "." || isDigit(c) || c === "I" || c === "N") {
      return this.#number();
    }
    for (const [word, value] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.#text.startsWith(word, this.#pos) && !this.#identPartAt(this.#pos + word.length)) {
        this.#pos += word.length;
        return value;
      }
    }
    this.fail(`unexpected ${this.describe()}, expected a value`);
  }

  #identPartAt(pos: number): boolean {
    const cp = this.#text.codePointAt(pos);
    return cp !== undefined && isIdPart(String.fromCodePoint(cp));
  }

  #object(): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    this.#pos++; // {
    this.skipSpace();
    while (this.#peek() !== "}") {
      const key = this.#key();
      this.skipSpace();
      if (this.#peek() !== ":") this.fail(`unexpected ${this.describe()}, expected ':'`);
      this.#pos++;
      this.skipSpace();
      const value = this.value();
      Object.defineProperty(result, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.skipSpace();
      const c = this.#peek();
      if (c === ",") {
        this.#pos++;
        this.skipSpace();
      } else if (c !== "}") {
        this.fail(`unexpected ${this.describe()}, expected ',' or '}'`);
      }
    }
    this.#pos++; // }
    return result;
  }

  #array(): unknown[] {
    const result: unknown[] = [];
    this.#pos++; // [
    this.skipSpace();
    while (this.#peek() !== "]") {
      result.push(this.value());
      this.skipSpace();
      const c = this.#peek();
      if (c === ",") {
        this.#pos++;
        this.skipSpace();
      } else if (c !== "]") {
        this.fail(`unexpected ${this.describe()}, expected ',' or ']'`);
      }
    }
    this.#pos++; // ]
    return result;
  }

  #key(): string {
    const c = this.#peek();
    if (c === '"' || c === "'") return this.#string();
    let key = "";
    let first = true;
    for (;;) {
      let ch = this.#peek();
      const at = this.#pos;
      if (ch === "\\") {
        if (this.#text[this.#pos + 1] !== "u") this.fail("invalid escape in an identifier key");
        this.#pos += 2;
        ch = String.fromCharCode(this.#hex(4));
        if (!(first ? isIdStart(ch) : isIdPart(ch))) this.fail("invalid identifier escape", at);
      } else if (ch !== "" && (first ? isIdStart(ch) : isIdPart(ch))) {
        this.#pos += ch.length;
      } else {
        if (first) this.fail(`unexpected ${this.describe()}, expected a key or '}'`);
        return key;
      }
      key += ch;
      first = false;
    }
  }

  #hex(digits: number): number {
    const s = this.#text.slice(this.#pos, this.#pos + digits);
    if (s.length !== digits || ![...s].every(isHexDigit)) {
      this.fail(`expected ${digits} hexadecimal digits`);
    }
    this.#pos += digits;
    return parseInt(s, 16);
  }

  #string(): string {
    const t = this.#text;
    const quote = t[this.#pos];
    const start = this.#pos;
    this.#pos++;
    let out = "";
    for (;;) {
      if (this.#pos >= t.length) this.fail("unterminated string", start);
      const c = t[this.#pos];
      if (c === quote) {
        this.#pos++;
        return out;
      }
      if (c === "\n" || c === "\r") {
        this.fail("line break inside a string (end the line with '\\' to continue it)");
      }
      if (c !== "\\") {
        out += c;
        this.#pos++;
        continue;
      }
      this.#pos++; // backslash
      const e = t[this.#pos];
      if (e === undefined) this.fail("unterminated string", start);
      if (e in ESCAPES) {
        out += ESCAPES[e];
        this.#pos++;
      } else if (e === "0") {
        if (isDigit(t[this.#pos + 1])) this.fail("octal escapes are not allowed");
        out += "\0";
        this.#pos++;
      } else if (e === "x") {
        this.#pos++;
        out += String.fromCharCode(this.#hex(2));
      } else if (e === "u") {
        this.#pos++;
        out += String.fromCharCode(this.#hex(4));
      } else if (e === "\r") {
        this.#pos += t[this.#pos + 1] === "\n" ? 2 : 1; // line continuation
      } else if (isLineTerminator(e)) {
        this.#pos++; // line continuation
      } else if (isDigit(e)) {
        this.fail("invalid escape: digits cannot be escaped");
      } else {
        out += e; // any other character escapes to itself
        this.#pos++;
      }
    }
  }

  #number(): number {
    const t = this.#text;
    const start = this.#pos;
    let sign = 1;
    if (t[this.#pos] === "+" || t[this.#pos] === "-") {
      if (t[this.#pos] === "-") sign = -1;
      this.#pos++;
    }
    for (const [word, value] of [["Infinity", Infinity], ["NaN", NaN]] as const) {
      if (t.startsWith(word, this.#pos)) {
        if (this.#identPartAt(this.#pos + word.length)) break;
        this.#pos += word.length;
        return sign * value;
      }
    }
    if (t[this.#pos] === "0" && (t[this.#pos + 1] === "x" || t[this.#pos + 1] === "X")) {
      this.#pos += 2;
      const hexStart = this.#pos;
      while (isHexDigit(t[this.#pos])) this.#pos++;
      if (this.#pos === hexStart) this.fail("expected hexadecimal digits after '0x'");
      this.#noTrailingIdentifier();
      return sign * parseInt(t.slice(hexStart, this.#pos), 16);
    }
    const bodyStart = this.#pos;
    let intDigits = 0;
    while (isDigit(t[this.#pos])) {
      this.#pos++;
      intDigits++;
    }
    if (intDigits > 1 && t[bodyStart] === "0") {
      this.fail("numbers cannot have leading zeros", bodyStart);
    }
    let fracDigits = 0;
    if (t[this.#pos] === ".") {
      this.#pos++;
      while (isDigit(t[this.#pos])) {
        this.#pos++;
        fracDigits++;
      }
    }
    if (intDigits === 0 && fracDigits === 0) {
      if (this.#pos === start) this.fail(`unexpected ${this.describe()}, expected a value`);
      this.fail(`unexpected ${this.describe()} in a number`);
    }
    if (t[this.#pos] === "e" || t[this.#pos] === "E") {
      this.#pos++;
      if (t[this.#pos] === "+" || t[this.#pos] === "-") this.#pos++;
      if (!isDigit(t[this.#pos])) this.fail("expected digits in the exponent");
      while (isDigit(t[this.#pos])) this.#pos++;
    }
    this.#noTrailingIdentifier();
    return sign * Number(t.slice(bodyStart, this.#pos));
  }

  #noTrailingIdentifier(): void {
    if (this.#identPartAt(this.#pos)) this.fail(`unexpected ${this.describe()} in a number`);
  }
}
