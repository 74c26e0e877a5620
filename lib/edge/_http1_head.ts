/**
 * Reading an HTTP/1.1 response head from the gateway: where it ends in a
 * buffer and what it says about the body (length, chunked, event stream,
 * keep-alive). Strict: anything ambiguous is an {@link UpstreamProtocolError}.
 *
 * @module
 */
import type { HeaderPairs } from "./routes.ts";
import { UpstreamProtocolError } from "./upstream.ts";

const decoder = new TextDecoder();
/** `\r` */
export const CR = 13;
/** `\n` */
export const LF = 10;

/** A parsed response head. */
export interface Head {
  /** HTTP status. */
  status: number;
  /** Headers, lower-case names. */
  headers: HeaderPairs;
  /** Declared body length; -1 when none. */
  contentLength: number;
  /** `Transfer-Encoding: chunked`. */
  chunked: boolean;
  /** Whether the connection may be reused. */
  keepAlive: boolean;
  /** `Content-Type: text/event-stream`. */
  eventStream: boolean;
}

/** Index of the byte after `\r\n\r\n` in `buf[from, to)`, or -1. */
export function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  for (let i = from + 3; i < to; i++) {
    if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
  }
  return -1;
}

/** Index of the `\r` of the first `\r\n` in `buf[from, to)`, or -1. */
export function indexOfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 1 < to; i++) if (buf[i] === CR && buf[i + 1] === LF) return i;
  return -1;
}

export function parseHead(buf: Uint8Array, from: number, to: number): Head {
  const text = decoder.decode(buf.subarray(from, to - 4));
  const lines = text.split("\r\n");
  const statusLine = lines[0];
  if (!statusLine.startsWith("HTTP/1.")) {
    throw new UpstreamProtocolError("the gateway did not answer with HTTP/1.x");
  }
  const status = Number(statusLine.slice(9, 12));
  if (!(status >= 100 && status <= 599) || statusLine.charCodeAt(12) > 32) {
    throw new UpstreamProtocolError("bad status line from the gateway");
  }
  const http10 = statusLine.startsWith("HTTP/1.0");
  const headers: HeaderPairs = [];
  let contentLength = -1;
  let chunked = false;
  let keepAlive = !http10;
  let eventStream = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) throw new UpstreamProtocolError("bad header line from the gateway");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.push([name, value]);
    switch (name) {
      case "content-length": {
        const n = Number(value);
        if (!/^\d+$/.test(value) || (contentLength !== -1 && contentLength !== n)) {
          throw new UpstreamProtocolError("bad content-length from the gateway");
        }
        contentLength = n;
        break;
      }
      case "transfer-encoding":
        if (value.toLowerCase().split(",").map((s) => s.trim()).at(-1) === "chunked") {
          chunked = true;
        } else throw new UpstreamProtocolError("unsupported transfer-encoding from the gateway");
        break;
      case "connection": {
        const v = value.toLowerCase();
        if (v.includes("close")) keepAlive = false;
        else if (v.includes("keep-alive")) keepAlive = true;
        break;
      }
      case "content-type":
        eventStream = value.toLowerCase().startsWith("text/event-stream");
        break;
    }
  }
  if (chunked) contentLength = -1;
  // A body delimited by the connection's end cannot share the connection.
  if (!chunked && contentLength === -1 && status >= 200 && status !== 204 && status !== 304) {
    keepAlive = false;
  }
  return { status, headers, contentLength, chunked, keepAlive, eventStream };
}
