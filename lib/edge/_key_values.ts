/**
 * Key strings: their shape, their hash, fresh keys and ids, and the checks
 * on what a caller passes to the store (names, imported secrets, agent ids,
 * expiries, limits).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { AGENT_ID } from "./_key_file.ts";
import { KeyStoreError } from "./errors.ts";
import type { KeyLimits } from "./limits.ts";

/** The shape of a key: `ecto_` + base64url (43 chars for 32 bytes) or hex (64 chars). */
const KEY_SHAPE = /^ecto_[A-Za-z0-9_-]{32,128}$/;
const KEY_PREFIX = "ecto_";

/** Whether `value` looks like an ecto client key (shape only, not validity). */
export function looksLikeKey(value: string): boolean {
  return KEY_SHAPE.test(value);
}

/** Lowercase hex SHA-256 of a key string. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Compares two equal-length strings without an early exit. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * A fresh key: `ecto_` + 32 random bytes in lowercase hex. Not base64url: OpenClaw masks text its
 * agent sees (as `ecto_x…abcd`) where exactly 40 of `[A-Za-z0-9/+=]` stand between delimiters, its
 * AWS-secret rule, and about 1 base64url key in 200 has such a run after a `-`. The owner's chat
 * then showed an unusable key; a hex key is one 64-character run, which that rule never masks.
 */
export function generateKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return KEY_PREFIX + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `text` holds a control character. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * The name trimmed, when it is 1 to 64 printable characters.
 *
 * @throws {KeyStoreError} `invalid_key_name` otherwise.
 */
export function checkKeyName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "" || trimmed.length > 64 || hasControlCharacter(trimmed)) {
    throw new KeyStoreError(
      "invalid_key_name",
      "A key name must be 1 to 64 printable characters.",
    );
  }
  return trimmed;
}

/** Throws `invalid_key` unless an imported secret is 16 to 512 printable characters. */
export function checkImportedSecret(secret: string): void {
  if (secret.length < 16 || secret.length > 512 || hasControlCharacter(secret)) {
    throw new KeyStoreError(
      "invalid_key",
      "An imported key must be 16 to 512 printable characters.",
    );
  }
}

/** A fresh public key id, `k_` + 10 characters. */
export function generateId(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let id = "k_";
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

/** Throws `invalid_limit` unless every limit is a whole number. */
export function checkLimits(limits: KeyLimits | undefined): void {
  for (const [name, value] of Object.entries(limits ?? {})) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
      throw new KeyStoreError("invalid_limit", `The limit ${name} must be a whole number.`);
    }
  }
}

/** Throws `invalid_agent_id` / `invalid_expiry` for a bad binding or expiry. */
export function checkEdit(agent: string | undefined, expires: string | null | undefined): void {
  if (agent !== undefined && !AGENT_ID.test(agent)) {
    throw new KeyStoreError(
      "invalid_agent_id",
      `"${agent}" is not an OpenClaw agent id (lower-case letters, digits, "_" and "-").`,
      { fix: "openclaw agents list" },
    );
  }
  if (typeof expires === "string" && Number.isNaN(Date.parse(expires))) {
    throw new KeyStoreError("invalid_expiry", `"${expires}" is not a time.`);
  }
}
