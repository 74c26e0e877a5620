/**
 * Typed errors of the edge (all {@link EctoError}s, so `cli.ts` maps them to
 * exit codes like every other ecto failure).
 *
 * @module
 */
import { EctoError, type EctoErrorOptions, UsageError } from "../core/errors.ts";

/** The edge was asked to listen on an address that is not loopback (it only ever serves Funnel). */
export class EdgeListenError extends UsageError {
  /** The refused `host:port`. */
  readonly listen: string;
  /** `listen` is the refused address, `reason` the half-sentence saying why. */
  constructor(listen: string, reason: string, options: EctoErrorOptions = {}) {
    super(`The edge only listens on loopback, not on "${listen}": ${reason}.`, {
      fix: options.fix ?? "Use a loopback address such as 127.0.0.1:18795.",
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.name = "EdgeListenError";
    this.listen = listen;
  }
}

/** The edge config file is missing, unreadable or invalid. */
export class EdgeConfigError extends EctoError {
  /** A one-sentence `message`, and where there is one a `fix`. */
  constructor(message: string, options: EctoErrorOptions = {}) {
    super("edge_config_invalid", message, options);
    this.name = "EdgeConfigError";
  }
}

/** The key store file is unreadable or invalid, or a key operation cannot be done. */
export class KeyStoreError extends EctoError {
  /** `code`: e.g. `owner_key_exists`, `keys_invalid`, `keys_unreadable`, `invalid_key_name`. */
  constructor(code: string, message: string, options: EctoErrorOptions = {}) {
    super(code, message, options);
    this.name = "KeyStoreError";
  }
}
