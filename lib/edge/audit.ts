/**
 * The edge's audit log: one JSON line per request (time, key id and name,
 * client address, method, path, status, bytes, duration, streamed), never a
 * secret — no key, no key prefix, no token, no query string, no body.
 *
 * The handler only calls an {@link AuditSink}, which queues the record; a
 * timer writes queued lines in one `write` off the hot path. The file is
 * size-rotated (`audit.log` → `audit.log.1` → `audit.log.2`; default 5 MB ×
 * 3 files) and created 0600 in a 0700 directory.
 *
 * @example
 * ```ts
 * await using log = await AuditLog.open(ectoPaths(Deno.env.get).auditLog);
 * const handler = createEdgeHandler({ ...options, audit: log.sink });
 * ```
 *
 * @module
 */
import { ensurePrivateDir } from "../core/atomic_file.ts";

/** One audited request. */
export interface AuditRecord {
  /** ISO 8601 time the request arrived. */
  time: string;
  /** The key's id, when a key was accepted. */
  keyId?: string;
  /** The key's name, when a key was accepted. */
  keyName?: string;
  /** Client address (Funnel's `X-Forwarded-For`, else the TCP peer). */
  client: string;
  /** Request method (at most 16 characters). */
  method: string;
  /** Path without query string (truncated, anything key-shaped redacted). */
  path: string;
  /** Status sent to the client (499: the client went away first). */
  status: number;
  /** Request body bytes forwarded. */
  bytesIn: number;
  /** Response body bytes sent to the client. */
  bytes: number;
  /** Milliseconds from arrival to the end of the response body. */
  durationMs: number;
  /** Whether the response was an event stream. */
  streamed: boolean;
  /** Why the edge answered itself or the stream ended early (e.g. `invalid_api_key`, `client_aborted`). */
  outcome?: string;
  /** Prompt tokens the answer reported (chat and responses answers that carried `usage`). */
  promptTokens?: number;
  /** Completion tokens the answer reported. */
  completionTokens?: number;
  /** `promptTokens + completionTokens`. */
  tokens?: number;
}

/** Where audit records go. Must not block or throw. */
export type AuditSink = (record: AuditRecord) => void;

/** A sink that drops everything. */
export const ignoreAudit: AuditSink = () => {};

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** Rotate when the file would grow past this many bytes. Default 5 MiB. */
  maxBytes?: number;
  /** Files kept in all, including the live one. Default 3. */
  files?: number;
  /** How long records wait before being written, ms. Default 250. */
  flushDelayMs?: number;
  /** Records queued at most while the disk is slow; newer ones are dropped and counted. */
  maxQueued?: number;
}

const encoder = new TextEncoder();

/** A size-rotated JSON-lines audit file; see the module documentation. */
export class AuditLog implements AsyncDisposable {
  /** The live file. */
  readonly path: string;
  /** Records dropped because the queue was full (the disk could not keep up). */
  dropped = 0;
  /** The last write error, if any (the edge keeps serving). */
  lastError: unknown;
  #file: Deno.FsFile | undefined;
  #size = 0;
  #queue: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  #maxBytes: number;
  #files: number;
  #flushDelayMs: number;
  #maxQueued: number;
  #closed = false;

  private constructor(path: string, options: AuditLogOptions) {
    this.path = path;
    this.#maxBytes = options.maxBytes ?? 5 * 1024 * 1024;
    this.#files = Math.max(1, options.files ?? 3);
    this.#flushDelayMs = options.flushDelayMs ?? 250;
    this.#maxQueued = options.maxQueued ?? 10_000;
  }

  /** Opens (creating 0600, in a 0700 directory) the audit log at `path` for appending. */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const log = new AuditLog(path, options);
    await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
    await log.#openFile();
    return log;
  }

  /** The sink to hand to the handler (bound; queues and returns at once). */
  readonly sink: AuditSink = (record) => {
    if (this.#closed) return;
    if (this.#queue.length >= this.#maxQueued) {
      this.dropped++;
      return;
    }
    this.#queue.push(JSON.stringify(record));
    if (this.#timer === undefined && this.#writing === undefined) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#flushDelayMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  };

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#writing) await this.#writing;
    if (this.#queue.length === 0) return;
    const lines = this.#queue;
    this.#queue = [];
    this.#writing = this.#write(lines).catch((error) => {
      this.lastError = error;
    }).finally(() => {
      this.#writing = undefined;
    });
    await this.#writing;
    if (this.#queue.length > 0 && !this.#closed) return this.flush();
  }

  /** Flushes and closes the file. Records arriving later are ignored. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    this.#file?.close();
    this.#file = undefined;
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #openFile(): Promise<void> {
    this.#file = await Deno.open(this.path, { append: true, create: true, mode: 0o600 });
    if (Deno.build.os !== "windows") await Deno.chmod(this.path, 0o600);
    this.#size = (await this.#file.stat()).size;
  }

  async #write(lines: string[]): Promise<void> {
    const bytes = encoder.encode(lines.join("\n") + "\n");
    if (this.#size > 0 && this.#size + bytes.length > this.#maxBytes) await this.#rotate();
    if (!this.#file) await this.#openFile();
    let written = 0;
    while (written < bytes.length) written += await this.#file!.write(bytes.subarray(written));
    this.#size += bytes.length;
  }

  async #rotate(): Promise<void> {
    this.#file?.close();
    this.#file = undefined;
    for (let i = this.#files - 1; i >= 1; i--) {
      const from = i === 1 ? this.path : `${this.path}.${i - 1}`;
      try {
        if (i === this.#files - 1) await Deno.remove(`${this.path}.${i}`).catch(() => {});
        await Deno.rename(from, `${this.path}.${i}`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    if (this.#files === 1) await Deno.remove(this.path).catch(() => {});
    await this.#openFile();
  }
}

/**
 * Key-shaped text, literal or percent-encoded character by character
 * (`ecto_…`, `%65cto%5F…`, `ECTO_…`): `ecto_` and at least 8 key characters.
 */
const KEYISH =
  /(?:e|%65)(?:c|%63)(?:t|%74)(?:o|%6f)(?:_|%5f)(?:[A-Za-z0-9_-]|%[0-9A-Fa-f]{2}){8,}/gi;
const KEYISH_PLAIN = /ecto_[A-Za-z0-9_-]{8,}/i;

/**
 * `text` with anything key-shaped replaced by `ecto_[redacted]`: literal,
 * percent-encoded (even twice), in any case. When only a decoded form shows
 * a key, the decoded text is returned redacted.
 */
export function redactKeys(text: string): string {
  let out = text.replace(KEYISH, "ecto_[redacted]");
  let decoded = out;
  for (let i = 0; i < 3 && decoded.includes("%"); i++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      next = decoded.replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    }
    if (next === decoded) break;
    decoded = next;
    if (KEYISH_PLAIN.test(decoded)) {
      out = decoded.replace(KEYISH, "ecto_[redacted]");
      break;
    }
  }
  return out;
}

/** A path fit for the audit log: no query, at most 200 characters, anything key-shaped redacted. */
export function auditPath(rawTarget: string): string {
  const q = rawTarget.search(/[?#]/);
  let path = q === -1 ? rawTarget : rawTarget.slice(0, q);
  path = redactKeys(path);
  if (path.length > 200) path = path.slice(0, 200) + "…";
  return path;
}

/** A record with every string field passed through {@link redactKeys}. */
export function redactRecord(record: AuditRecord): AuditRecord {
  const out = { ...record } as Record<string, unknown>;
  for (const [name, value] of Object.entries(out)) {
    if (typeof value === "string" && name !== "time") out[name] = redactKeys(value);
  }
  return out as unknown as AuditRecord;
}
