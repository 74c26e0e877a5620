/**
 * ecto's device identity for the gateway's WebSocket API: an Ed25519 key
 * pair whose id is the sha256 hex of the raw public key, as OpenClaw makes its
 * own (`device-identity-*.mjs`: `generateStoredDeviceIdentity`, `fingerprintPublicKey`).
 * Kept in `~/.ecto/gateway-device.json` (0600, directory 0700) so the gateway
 * sees one paired device across runs instead of a new one each time.
 *
 * ecto does not store the device token `hello-ok` may issue: it always holds
 * the gateway's shared credential (the documented bootstrap path), so a second
 * long-lived credential at rest would add risk and no use.
 *
 * @module
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { ensurePrivateDir, readJsonIfExists, writeJsonAtomic } from "../core/atomic_file.ts";
import { EctoError } from "../core/errors.ts";

/** An Ed25519 device identity (the private key is a secret: never log it). */
export interface DeviceIdentity {
  /** sha256 hex of the raw 32-byte public key. */
  deviceId: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** When it was made, ms since the epoch. */
  createdAtMs: number;
}

const SPKI_PREFIX_LENGTH = 12; // 302a300506032b6570032100

/** The raw 32-byte public key of an SPKI PEM. */
function rawPublicKey(publicKeyPem: string): Uint8Array {
  const der = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  return new Uint8Array(der.subarray(SPKI_PREFIX_LENGTH));
}

/** The device id for a public key: sha256 hex of its raw bytes. */
export function deviceIdFor(publicKeyPem: string): string {
  return createHash("sha256").update(rawPublicKey(publicKeyPem)).digest("hex");
}

/** The raw public key as base64url (the `device.publicKey` of `connect`). */
export function publicKeyBase64Url(publicKeyPem: string): string {
  return Buffer.from(rawPublicKey(publicKeyPem)).toString("base64url");
}

/** Signs `payload` (UTF-8) with the identity's key; base64url. */
export function signPayload(identity: DeviceIdentity, payload: string): string {
  const key = createPrivateKey(identity.privateKeyPem);
  return Buffer.from(sign(null, Buffer.from(payload, "utf8"), key)).toString("base64url");
}

/** A fresh identity. */
export function generateDeviceIdentity(now: number = Date.now()): DeviceIdentity {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const privateKeyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { deviceId: deviceIdFor(publicKeyPem), publicKeyPem, privateKeyPem, createdAtMs: now };
}

/** Whether `value` is a consistent identity (id matches key, key pair matches). */
export function isDeviceIdentity(value: unknown): value is DeviceIdentity {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  if (
    typeof v.deviceId !== "string" || !/^[a-f0-9]{64}$/.test(v.deviceId) ||
    typeof v.publicKeyPem !== "string" || typeof v.privateKeyPem !== "string" ||
    typeof v.createdAtMs !== "number"
  ) return false;
  try {
    const derived = createPublicKey(createPrivateKey(v.privateKeyPem)).export({
      type: "spki",
      format: "pem",
    }).toString();
    return derived === createPublicKey(v.publicKeyPem).export({ type: "spki", format: "pem" })
          .toString() && deviceIdFor(v.publicKeyPem) === v.deviceId;
  } catch {
    return false;
  }
}

/** Where ecto keeps its device identity, in its state directory. */
export function deviceIdentityPath(stateDir: string): string {
  return `${stateDir}/gateway-device.json`;
}

/**
 * Loads the identity from `path`, or makes one and writes it there (0600,
 * directory 0700).
 *
 * @throws {EctoError} `ecto_device_identity_invalid` when the file exists but is not an identity.
 */
export async function loadOrCreateDeviceIdentity(
  path: string,
  now: () => number = Date.now,
): Promise<DeviceIdentity> {
  let stored: unknown;
  try {
    stored = await readJsonIfExists<unknown>(path);
  } catch (error) {
    throw invalid(path, error);
  }
  if (stored !== undefined) {
    if (!isDeviceIdentity(stored)) throw invalid(path);
    return stored;
  }
  const identity = generateDeviceIdentity(now());
  await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
  await writeJsonAtomic(path, identity);
  return identity;
}

function invalid(path: string, cause?: unknown): EctoError {
  return new EctoError(
    "ecto_device_identity_invalid",
    `ecto's gateway device identity ${path} is corrupt.`,
    {
      fix: `Delete ${path}; ecto makes a new one and the gateway pairs it again on loopback.`,
      ...(cause === undefined ? {} : { cause }),
    },
  );
}
