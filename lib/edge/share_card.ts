/**
 * The share card a new key comes with (URL, key, model, curl and SDK snippets, a QR payload),
 * and the published base URL it is built on, from ecto's connection state.
 *
 * @module
 */
import type { CreatedKey } from "./keys.ts";
import type { EctoPaths } from "../core/paths.ts";
import { type ConnectionRecord, readConnectionRecord } from "../core/connection_record.ts";
import { readCredentials } from "../core/credentials.ts";
import { baseUrl } from "../core/addresses.ts";

/** Everything a friend needs to use a key: `ecto keys add NAME --share`. */
export interface ShareCard {
  /** The key's public id. */
  id: string;
  /** The key's name. */
  name: string;
  /** The key itself: shown this once, stored nowhere in clear. */
  key: string;
  /** Always `true`: ecto keeps only the key's hash. */
  shownOnce: true;
  /** The sentence to pass on with the key: it is shown once, and how to revoke it. */
  note: string;
  /** `https://<host>/v1`, or `null` before `ecto connect` has published the edge. */
  baseUrl: string | null;
  /** The model id for the key's agent, `openclaw/<agent>`. */
  model: string;
  /** The agent the key reaches. */
  agent: string;
  /** ISO expiry, if the key has one. */
  expires?: string;
  /** The key's daily budgets, if any. */
  budget?: { maxRequestsPerDay?: number; maxTokensPerDay?: number };
  /** Ready-to-use snippets (absent without a base URL). */
  curl?: string;
  /** `OPENAI_BASE_URL` and `OPENAI_API_KEY`. */
  env?: { OPENAI_BASE_URL: string; OPENAI_API_KEY: string };
  /** A short Python OpenAI-SDK program. */
  python?: string;
  /** A short JavaScript OpenAI-SDK program. */
  javascript?: string;
  /** Only in private mode: the URL works only on devices in the owner's tailnet. */
  tailnetOnly?: true;
  /** What the QR code holds: `{"baseUrl","apiKey","model"}` as JSON. */
  qr?: string;
  /** Why the card is incomplete, with the fix. */
  missing?: string;
}

/**
 * The share card for a new key (pure). `baseUrl` is the published URL with
 * `/v1`, or `undefined` before `ecto connect`.
 */
export function buildShareCard(
  created: Pick<CreatedKey, "id" | "key" | "record">,
  agent: string,
  published: { baseUrl: string; private: boolean } | undefined,
): ShareCard {
  const baseUrl = published?.baseUrl;
  const model = `openclaw/${agent}`;
  const limits = created.record.limits;
  const budget = {
    ...(limits?.maxRequestsPerDay ? { maxRequestsPerDay: limits.maxRequestsPerDay } : {}),
    ...(limits?.maxTokensPerDay ? { maxTokensPerDay: limits.maxTokensPerDay } : {}),
  };
  const card: ShareCard = {
    id: created.id,
    name: created.record.name,
    key: created.key,
    shownOnce: true,
    note: `This key is shown once: ecto keeps only its hash. Revoke it with ` +
      `\`ecto keys revoke ${created.id}\`.`,
    baseUrl: baseUrl ?? null,
    model,
    agent,
    ...(created.record.expires ? { expires: created.record.expires } : {}),
    ...(Object.keys(budget).length ? { budget } : {}),
    ...(published?.private ? { tailnetOnly: true as const } : {}),
  };
  if (published?.private) {
    card.note += " The URL works only on devices in your tailnet (ecto connect --private): " +
      "share the device with your friend in Tailscale, or run `ecto connect` for a public URL.";
  }
  if (baseUrl === undefined) {
    card.missing = "The share card needs the public URL: run `ecto connect` first.";
    return card;
  }
  const key = created.key;
  card.curl = `curl ${baseUrl}/chat/completions -H "Authorization: Bearer ${key}" ` +
    `-H "Content-Type: application/json" ` +
    `-d '{"model":"${model}","messages":[{"role":"user","content":"Hello!"}]}'`;
  card.env = { OPENAI_BASE_URL: baseUrl, OPENAI_API_KEY: key };
  card.python = [
    "from openai import OpenAI",
    `client = OpenAI(base_url="${baseUrl}", api_key="${key}")`,
    `reply = client.chat.completions.create(model="${model}", messages=[{"role": "user", "content": "Hello!"}])`,
    "print(reply.choices[0].message.content)",
  ].join("\n");
  card.javascript = [
    'import OpenAI from "openai";',
    `const client = new OpenAI({ baseURL: "${baseUrl}", apiKey: "${key}" });`,
    `const reply = await client.chat.completions.create({ model: "${model}", messages: [{ role: "user", content: "Hello!" }] });`,
    "console.log(reply.choices[0].message.content);",
  ].join("\n");
  card.qr = JSON.stringify({ baseUrl, apiKey: key, model });
  return card;
}

/**
 * The published base URL (`https://<host>[:port]/v1`) from ecto's connection
 * state, and whether it is tailnet-only: the credentials file `ecto connect`
 * writes, else the connection record; `undefined` when ecto has not connected.
 */
export async function publishedBaseUrl(
  paths: EctoPaths,
): Promise<{ baseUrl: string; private: boolean } | undefined> {
  const record = await readConnectionRecord(paths).catch(() => ({} as ConnectionRecord));
  try {
    const credentials = await readCredentials(paths.credentialsFile);
    if (credentials) {
      const isPrivate = credentials.mode === "private" || record.mode === "private";
      return { baseUrl: `${credentials.url}/v1`, private: isPrivate };
    }
  } catch {
    // a damaged credentials file: fall back to the connection record
  }
  if (record.dnsName && record.funnelPort) {
    return {
      baseUrl: `${baseUrl(record.dnsName, record.funnelPort)}/v1`,
      private: record.mode === "private",
    };
  }
  return undefined;
}
