/**
 * Planning the gateway's auth: keep a working credential, otherwise move to
 * token auth with a fresh token; on a take-over (the old credential was
 * public) rotate it and turn off the gateway publishing itself. Refuses the
 * setups ecto cannot put a bearer token in front of. Pure.
 *
 * @module
 */
import { ActionRequiredError } from "../core/errors.ts";
import {
  credentialUnavailableError,
  type GatewayCredential,
  type GatewaySettings,
} from "./settings.ts";
import { hasPath } from "./config.ts";
import { GATEWAY_PATHS as P, type PlanRecorder } from "./plan_changes.ts";

/** A fresh gateway token: 32 random bytes as 64 lowercase hex characters. */
export function generateGatewayToken(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    if (!/^\d+$/.test(token)) return token; // an all-digit token would parse as a number
  }
}

/** The part of the plan's options auth planning reads (see `PlanOptions`). */
export interface AuthPlanOptions {
  /** The config file the plan is for (named in refusals). */
  configPath: string;
  /** Token generator (tests); default {@link generateGatewayToken}. */
  generateToken?: () => string;
  /** The credential was public: rotate it to a fresh token. Not undone. */
  rotateCredential?: boolean;
  /** Turn `gateway.tailscale.mode` off. Not undone. */
  tailscaleOff?: boolean;
}

/** The credential ecto will use once the plan is applied. */
export interface AuthPlan {
  /** The bearer credential (`undefined` only if a branch forgot one: a bug). */
  credential: GatewayCredential | undefined;
  /** Whether `credential` is a token ecto generated. */
  tokenGenerated: boolean;
  /** The credential a rotation replaced. */
  retired: GatewayCredential | undefined;
}

/**
 * Records the auth changes (and the take-over's rotation and tailscale-mode
 * switch) in `rec`, in the order the display shows them.
 *
 * @throws {ActionRequiredError} unreadable credential, `trusted-proxy` or ambiguous auth.
 */
export function planAuth(
  rec: PlanRecorder,
  before: GatewaySettings,
  options: AuthPlanOptions,
): AuthPlan {
  let credential = before.credential;
  let tokenGenerated = false;
  const newToken = () => {
    const value = (options.generateToken ?? generateGatewayToken)();
    tokenGenerated = true;
    credential = { kind: "token", value, source: "config" };
    return value;
  };
  // Token auth: the config's own plain token when there is one, else a new one.
  const configTokenOrNew = () => {
    const token = before.token.state === "plain" ? before.token.value : undefined;
    if (token) credential = { kind: "token", value: token, source: "config" };
    else rec.change(P.token, newToken(), { secret: true });
  };
  let retired: GatewayCredential | undefined;
  const rotate = options.rotateCredential === true && before.effectiveAuthMode !== "trusted-proxy";
  if (rotate) {
    // The old credential was public: a fresh token only the edge knows, the password gone.
    retired = before.credential;
    if (before.authMode !== "token") rec.change(P.authMode, "token", { permanent: true });
    rec.change(P.token, newToken(), { secret: true, permanent: true });
    if (hasPath(rec.config, P.password)) {
      rec.change(P.password, null, { secret: true, permanent: true });
    }
    rec.needs("automatic", "changing gateway auth makes the gateway restart itself");
    if (before.password.state === "env" || before.token.state === "env") {
      rec.notes.push(
        "OPENCLAW_GATEWAY_TOKEN/PASSWORD in the gateway's environment no longer apply: the config token wins.",
      );
    }
  }
  if (options.tailscaleOff === true && before.tailscaleMode !== "off") {
    rec.change(P.tailscaleMode, "off", { permanent: true });
    rec.needs(
      "automatic",
      "a gateway.tailscale.mode change makes the gateway restart (and drop its route)",
    );
  }
  switch (rotate ? "rotated" : before.effectiveAuthMode) {
    case "rotated":
      break;
    case "trusted-proxy":
      throw new ActionRequiredError(
        "openclaw_auth_trusted_proxy",
        `The OpenClaw gateway uses trusted-proxy auth (${options.configPath}), which cannot be combined with the bearer token ecto's edge sends.`,
        {
          fix:
            "Switch the gateway to token auth (`openclaw config set gateway.auth.mode token`) if you want ecto to publish it, then run ecto again.",
        },
      );
    case "ambiguous":
      throw new ActionRequiredError(
        "openclaw_auth_ambiguous",
        `Both gateway.auth.token and gateway.auth.password are set in ${options.configPath} but gateway.auth.mode is not, so the gateway refuses to start.`,
        { fix: "openclaw config set gateway.auth.mode token   (or password)" },
      );
    case "token":
      if (!credential) {
        const state = before.token;
        if (state.state === "env" || state.state === "secret-ref") {
          throw credentialUnavailableError("token", state, options.configPath);
        }
        // Absent or unusable: generate one. Mode stays (or becomes explicitly) token.
        if (before.authMode === undefined) {
          rec.change(P.authMode, "token");
          rec.needs("automatic", "setting gateway.auth.mode makes the gateway restart itself");
        }
        rec.change(P.token, newToken(), { secret: true });
        if (before.authMode === "token") {
          rec.needs(
            "restart",
            "a gateway started without a token runs on a runtime-generated one until it restarts",
          );
        }
        if (state.state === "invalid") {
          rec.notes.push(
            `The old gateway.auth.token was unusable (${state.reason}); ecto replaced it.`,
          );
        }
      }
      break;
    case "password":
      if (!credential) {
        const state = before.password;
        if (state.state === "env" || state.state === "secret-ref") {
          throw credentialUnavailableError("password", state, options.configPath);
        }
        if (state.state === "absent") {
          // Password mode with no password in the config: it comes from the gateway's env.
          throw credentialUnavailableError("password", {
            state: "env",
            envVar: "OPENCLAW_GATEWAY_PASSWORD",
            origin: "env-only",
          }, options.configPath);
        }
        // Password mode without a password: move to token auth.
        rec.change(P.authMode, "token");
        rec.needs("automatic", "changing gateway.auth.mode makes the gateway restart itself");
        configTokenOrNew();
      } else {
        rec.notes.push(
          "The gateway uses password auth; ecto sends the password as the bearer credential and leaves auth unchanged.",
        );
      }
      break;
    case "none": {
      // No auth at all: the API would be open to anything that reaches it.
      const pw = before.password;
      if (pw.state === "plain" || (pw.state === "env" && pw.value !== undefined)) {
        // Switching to token mode would make OpenClaw delete the password; use it instead.
        rec.change(P.authMode, "password");
        credential = {
          kind: "password",
          value: pw.state === "plain" ? pw.value : pw.value!,
          source: pw.state === "plain" ? "config" : "env",
          ...(pw.state === "env" ? { envVar: pw.envVar } : {}),
        };
      } else {
        rec.change(P.authMode, "token");
        configTokenOrNew();
      }
      rec.needs("automatic", "changing gateway.auth.mode makes the gateway restart itself");
      break;
    }
  }
  return { credential, tokenGenerated, retired };
}
