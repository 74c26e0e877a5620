// deno-lint-ignore-file no-console -- the demo talks to a person
/**
 * `deno task demo`: ecto's whole job in a sandbox. A throwaway HOME, the
 * tailscale test double (logged in, Funnel allowed, with a data plane that
 * really terminates TLS), a real OpenClaw gateway with a stub LLM as its
 * model; then `ecto connect`, a real HTTPS chat completion through the
 * double's "internet" side, `ecto status`, `ecto disconnect`, and a clean-up
 * that leaves no process behind.
 */
import { funnelRequest } from "./tailscale_double/https_client.ts";
import { ectoDenoArgs } from "./e2e/run_ecto.ts";
import { startSandbox } from "./e2e/sandbox.ts";

const say = (text: string) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

async function ecto(args: string[], env: Record<string, string>): Promise<number> {
  console.log(`$ ecto ${args.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ectoDenoArgs(args),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const { code } = await child.status;
  console.log(`(exit ${code})`);
  return code;
}

say("Preparing the sandbox (installs OpenClaw + Node 26 into a cache on first use)");
await using sandbox = await startSandbox({ onProgress: (line) => console.log(`  ${line}`) });
console.log(`  HOME=${sandbox.home}`);
console.log(`  gateway: ${sandbox.gateway.url} (pid ${sandbox.gateway.pid}), model: stub LLM`);
console.log(`  tailscale: test double, node ${sandbox.tailscale.dnsName}, Funnel allowed`);

say("Connect");
const connectCode = await ecto(["connect"], sandbox.env);
if (connectCode !== 0) Deno.exit(connectCode);

const creds = JSON.parse(
  await Deno.readTextFile(`${sandbox.home}/.openclaw/ecto-credentials.json`),
);
const port = new URL(creds.url).port === "" ? 443 : Number(new URL(creds.url).port);

say(`A real chat completion over HTTPS through Funnel (the double's data plane, port ${port})`);
const response = await funnelRequest({
  localPort: sandbox.tailscale.publicPorts[port]!,
  hostname: sandbox.tailscale.dnsName,
  host: port === 443 ? sandbox.tailscale.dnsName : `${sandbox.tailscale.dnsName}:${port}`,
  caPem: await Deno.readTextFile(sandbox.tailscale.caFile),
  method: "POST",
  path: "/v1/chat/completions",
  headers: { authorization: `Bearer ${creds.token}`, "content-type": "application/json" },
  body: JSON.stringify({ model: creds.model, messages: [{ role: "user", content: "Hello!" }] }),
});
console.log(`POST ${creds.endpoint} → ${response.status}`);
const answer = JSON.parse(response.body)?.choices?.[0]?.message?.content;
console.log(`assistant: ${answer ?? response.body.slice(0, 200)}`);

say("Status");
await ecto(["status"], sandbox.env);

say("Disconnect");
await ecto(["disconnect"], sandbox.env);

say("Cleaning up (gateway, data plane, stub LLM)");
