/**
 * Where HTTP/1.1 messages begin and end in a byte stream, without buffering
 * bodies: what the edge's connection guard needs to tell "a request head is
 * arriving (slowly?)" from "between requests" from "a response is still
 * streaming". Written by hand because `Deno.serve` exposes no connection
 * events and no header-read timeout (measured on Deno 2.9.6: a connection
 * sending one header line per second stayed open for the whole 45 s test),
 * and no maintained incremental framer exists as a built-in.
 *
 * @module
 */

/** One message head seen in the stream. */
export interface Head {
  /** Request method, or `undefined` for a response. */
  method?: string;
  /** Response status, or `undefined` for a request. */
  status?: number;
}

/** What one {@link Framer.feed} call saw. */
export interface FeedResult {
  /** Heads that finished in this chunk. */
  heads: Head[];
  /** Messages (head and body) that finished in this chunk. */
  completed: number;
  /** The stream is not HTTP/1.1 as the framer knows it (the connection should be closed). */
  error?: string;
}

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-crlf" | "trailers" | "raw";

/** {@link FeedResult.error} for a request with repeated, conflicting or malformed Content-Length. */
export const CONTENT_LENGTH_ERROR = "content-length";

const CR = 13;
const LF = 10;
const latin1 = new TextDecoder("latin1");

/** An incremental framer for one direction of one connection. */
export class Framer {
  #state: State = "head";
  /** The head so far, as copied pieces (a head rarely spans more than one read). */
  #head: Uint8Array[] = [];
  #headLength = 0;
  #match = 0;
  #remaining = 0;
  #line = "";
  #maxHead: number;
  /** For responses: the methods of the requests still to be answered, oldest first. */
  readonly #methods: string[] | undefined;

  /**
   * `requests`: this direction carries requests. Otherwise responses, framed
   * against `methods` (pushed by the request side; a HEAD response has no body).
   */
  constructor(kind: "request" | "response", methods?: string[], maxHead = 64 * 1024) {
    this.#methods = kind === "response" ? methods ?? [] : undefined;
    this.#maxHead = maxHead;
  }

  /** Whether part of a head (or a chunked body's framing) has arrived but not all of it. */
  get midHead(): boolean {
    return this.#state === "head" && this.#headLength > 0;
  }

  /** Whether no message is partly received. */
  get idle(): boolean {
    return this.#state === "head" && this.#headLength === 0;
  }

  /** Feeds the next bytes of the stream. */
  feed(bytes: Uint8Array): FeedResult {
    const out: FeedResult = { heads: [], completed: 0 };
    let i = 0;
    while (i < bytes.length) {
      switch (this.#state) {
        case "raw":
          return out;
        case "head": {
          // Stray CRLF between messages.
          if (this.#headLength === 0) {
            while (i < bytes.length && (bytes[i] === CR || bytes[i] === LF)) i++;
            if (i === bytes.length) break;
          }
          // Scan for the CRLFCRLF that ends the head, jumping from CR to CR.
          let j = i;
          let match = this.#match;
          while (j < bytes.length) {
            if (match === 0) {
              const cr = bytes.indexOf(CR, j);
              if (cr === -1) {
                j = bytes.length;
                break;
              }
              j = cr;
            }
            const b = bytes[j++];
            match = b === (match % 2 === 0 ? CR : LF) ? match + 1 : b === CR ? 1 : 0;
            if (match === 4) break;
          }
          this.#head.push(bytes.slice(i, j));
          this.#headLength += j - i;
          this.#match = match;
          i = j;
          if (this.#headLength > this.#maxHead) {
            out.error = "head too large";
            return out;
          }
          if (match === 4) {
            const error = this.#endHead(out);
            if (error) {
              out.error = error;
              return out;
            }
          }
          break;
        }
        case "length": {
          const take = Math.min(this.#remaining, bytes.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#complete(out);
          break;
        }
        case "chunk-data": {
          const take = Math.min(this.#remaining, bytes.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) {
            this.#state = "chunk-crlf";
            this.#remaining = 2;
          }
          break;
        }
        case "chunk-crlf": {
          i++;
          if (--this.#remaining === 0) this.#state = "chunk-size";
          break;
        }
        case "chunk-size":
        case "trailers": {
          const lf = bytes.indexOf(LF, i);
          const end = lf === -1 ? bytes.length : lf;
          this.#line += latin1.decode(bytes.subarray(i, end));
          i = end;
          if (this.#line.length > 4096) {
            out.error = "chunk line too long";
            return out;
          }
          if (lf === -1) break;
          i++;
          const line = this.#line.replace(/\r$/, "");
          this.#line = "";
          if (this.#state === "trailers") {
            if (line === "") this.#complete(out);
            break;
          }
          const size = parseInt(line.split(";")[0].trim(), 16);
          if (!Number.isFinite(size) || size < 0) {
            out.error = "bad chunk size";
            return out;
          }
          if (size === 0) this.#state = "trailers";
          else {
            this.#state = "chunk-data";
            this.#remaining = size;
          }
          break;
        }
      }
    }
    return out;
  }

  #complete(out: FeedResult): void {
    out.completed++;
    this.#state = "head";
  }

  #endHead(out: FeedResult): string | undefined {
    const pieces = this.#head;
    let head = pieces[0]!;
    if (pieces.length > 1) {
      head = new Uint8Array(this.#headLength);
      let offset = 0;
      for (const piece of pieces) {
        head.set(piece, offset);
        offset += piece.byteLength;
      }
    }
    const text = latin1.decode(head);
    this.#head = [];
    this.#headLength = 0;
    this.#match = 0;
    const lines = text.split("\r\n");
    const first = lines[0] ?? "";
    let length: number | undefined;
    let lengthFields = 0;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "transfer-encoding") chunked = value.split(",").at(-1)?.trim() === "chunked";
      else if (name === "content-length") {
        lengthFields++;
        const n = Number(value.split(",")[0]);
        if (!Number.isSafeInteger(n) || n < 0) return CONTENT_LENGTH_ERROR;
        length = n;
        if (value.includes(",")) return CONTENT_LENGTH_ERROR;
      }
    }
    if (lengthFields > 1 && this.#methods === undefined) return CONTENT_LENGTH_ERROR;
    let bodyless = false;
    if (this.#methods === undefined) {
      const method = first.split(" ")[0] ?? "";
      out.heads.push({ method });
    } else {
      const status = Number(first.split(" ")[1]);
      if (!Number.isInteger(status)) return "bad status line";
      out.heads.push({ status });
      if (status >= 100 && status < 200) {
        if (status === 101) this.#state = "raw";
        return; // interim: the final response follows
      }
      const method = this.#methods.shift();
      bodyless = method === "HEAD" || status === 204 || status === 304;
      if (!bodyless && !chunked && length === undefined) {
        this.#state = "raw"; // delimited by close
        return;
      }
    }
    if (bodyless) this.#complete(out);
    else if (chunked) this.#state = "chunk-size";
    else if (length !== undefined && length > 0) {
      this.#state = "length";
      this.#remaining = length;
    } else this.#complete(out);
    return undefined;
  }
}
