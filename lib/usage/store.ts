/**
 * The usage database, `~/.ecto/usage.db`: SQLite through Deno's built-in
 * `node:sqlite`, in WAL mode so `ecto usage` reads while the edge writes.
 * The edge is the one writer; every batch is one transaction, so a crash
 * (kill -9, power loss) mid-write rolls that batch back on the next open and
 * never leaves a half-written file. `synchronous=NORMAL`: a commit does not
 * wait for an fsync (the batch is in the WAL, safe from a process crash; a
 * power cut may lose the last second or so, never the file).
 *
 * One row per key and UTC day; a batch adds its deltas to the row
 * (`INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`).
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { ensurePrivateDir } from "../core/atomic_file.ts";
import { EctoError } from "../core/errors.ts";

/** One key's usage on one UTC day. */
export interface UsageRow {
  /** The key's id. */
  keyId: string;
  /** The key's name when it was last used. */
  keyName: string;
  /** UTC day, `YYYY-MM-DD`. */
  day: string;
  /** Requests forwarded to the gateway. */
  requests: number;
  /** Prompt tokens the gateway reported. */
  promptTokens: number;
  /** Completion tokens the gateway reported. */
  completionTokens: number;
  /** Forwarded requests that ended in an error status or broke off. */
  errors: number;
  /** Requests the edge turned away for this key (rate limit, budget, expiry, bad body). */
  refused: number;
  /** Request body bytes forwarded. */
  bytesIn: number;
  /** Response body bytes sent back. */
  bytesOut: number;
  /** ISO time of the last request, if any. */
  lastUsed?: string;
}

/** Counts to add to a key's day (same fields as {@link UsageRow}). */
export type UsageDelta = UsageRow;

/** Raised when the usage database cannot be opened or read. */
export class UsageStoreError extends EctoError {
  /** An error about the database at `path`. */
  constructor(path: string, what: string, cause: unknown) {
    super("usage_db", `The usage database ${path} ${what}.`, {
      cause,
      fix: `Check its permissions; if it is damaged, move it aside (mv ${path} ${path}.bad).`,
    });
    this.name = "UsageStoreError";
  }
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS usage (
  key_id TEXT NOT NULL,
  day TEXT NOT NULL,
  key_name TEXT NOT NULL DEFAULT '',
  requests INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  refused INTEGER NOT NULL DEFAULT 0,
  bytes_in INTEGER NOT NULL DEFAULT 0,
  bytes_out INTEGER NOT NULL DEFAULT 0,
  last_used TEXT,
  PRIMARY KEY (key_id, day)
) WITHOUT ROWID;
`;

const UPSERT = `
INSERT INTO usage (key_id, day, key_name, requests, prompt_tokens, completion_tokens,
  errors, refused, bytes_in, bytes_out, last_used)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key_id, day) DO UPDATE SET
  key_name = excluded.key_name,
  requests = requests + excluded.requests,
  prompt_tokens = prompt_tokens + excluded.prompt_tokens,
  completion_tokens = completion_tokens + excluded.completion_tokens,
  errors = errors + excluded.errors,
  refused = refused + excluded.refused,
  bytes_in = bytes_in + excluded.bytes_in,
  bytes_out = bytes_out + excluded.bytes_out,
  last_used = max(coalesce(last_used, ''), coalesce(excluded.last_used, '')) 
`;

const SELECT = `SELECT key_id, key_name, day, requests, prompt_tokens, completion_tokens,
  errors, refused, bytes_in, bytes_out, last_used FROM usage`;

type Raw = Record<string, unknown>;

function toRow(r: Raw): UsageRow {
  const row: UsageRow = {
    keyId: String(r.key_id),
    keyName: String(r.key_name ?? ""),
    day: String(r.day),
    requests: Number(r.requests),
    promptTokens: Number(r.prompt_tokens),
    completionTokens: Number(r.completion_tokens),
    errors: Number(r.errors),
    refused: Number(r.refused),
    bytesIn: Number(r.bytes_in),
    bytesOut: Number(r.bytes_out),
  };
  if (typeof r.last_used === "string" && r.last_used !== "") row.lastUsed = r.last_used;
  return row;
}

/** The usage database; see the module documentation. */
export class UsageStore implements Disposable {
  /** The database file. */
  readonly path: string;
  #db: DatabaseSync;
  #upsert: StatementSync | undefined;

  private constructor(path: string, db: DatabaseSync, writable: boolean) {
    this.path = path;
    this.#db = db;
    if (writable) this.#upsert = db.prepare(UPSERT);
  }

  /**
   * Opens the database for writing (the edge): creates it 0600 in a 0700
   * directory, switches to WAL, creates the table.
   *
   * @throws {UsageStoreError} when it cannot be opened or is not a usage database.
   */
  static async openWriter(path: string): Promise<UsageStore> {
    await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
    // SQLite gives -wal and -shm the main file's mode: create it 0600 first.
    const file = await Deno.open(path, { create: true, append: true, mode: 0o600 });
    file.close();
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      db.exec("PRAGMA busy_timeout = 1000");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      const version = Number((db.prepare("PRAGMA user_version").get() as Raw).user_version);
      if (version > SCHEMA_VERSION) {
        throw new Error(`schema version ${version} is newer than this ecto's ${SCHEMA_VERSION}`);
      }
      db.exec(SCHEMA);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      return new UsageStore(path, db, true);
    } catch (cause) {
      db?.close();
      throw new UsageStoreError(path, "cannot be opened for writing", cause);
    }
  }

  /**
   * Opens the database read-only (`ecto usage`, `keys list`); `undefined`
   * when there is none yet (nothing was recorded).
   *
   * @throws {UsageStoreError} when it exists but cannot be read.
   */
  static openReader(path: string): UsageStore | undefined {
    try {
      Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw new UsageStoreError(path, "cannot be read", error);
    }
    try {
      const db = new DatabaseSync(path, { readOnly: true });
      db.exec("PRAGMA busy_timeout = 1000");
      const store = new UsageStore(path, db, false);
      store.rows(); // a file without the table is not ours
      return store;
    } catch (cause) {
      throw new UsageStoreError(path, "cannot be read", cause);
    }
  }

  /** Adds `deltas` in one transaction (all or nothing). */
  add(deltas: readonly UsageDelta[]): void {
    const upsert = this.#upsert;
    if (!upsert) throw new Error("the usage store is open read-only");
    if (deltas.length === 0) return;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const d of deltas) {
        upsert.run(
          d.keyId,
          d.day,
          d.keyName,
          d.requests,
          d.promptTokens,
          d.completionTokens,
          d.errors,
          d.refused,
          d.bytesIn,
          d.bytesOut,
          d.lastUsed ?? null,
        );
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* already rolled back */ }
      throw error;
    }
  }

  /** Rows from day `since` on (inclusive, `YYYY-MM-DD`), optionally of one key; by day, then key. */
  rows(filter: { since?: string; keyId?: string } = {}): UsageRow[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.since !== undefined) {
      where.push("day >= ?");
      args.push(filter.since);
    }
    if (filter.keyId !== undefined) {
      where.push("key_id = ?");
      args.push(filter.keyId);
    }
    const sql = SELECT + (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY day, key_id";
    return (this.#db.prepare(sql).all(...args) as Raw[]).map(toRow);
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
