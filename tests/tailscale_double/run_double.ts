/**
 * Starts a tailscale double for manual use (the sandbox, demos) and keeps it
 * running until Ctrl+C / SIGTERM. Prints `export NAME='value'` lines for
 * its environment on stdout, then `# ready`.
 *
 *   deno run -A --no-config tests/tailscale_double/run_double.ts '{"version":"1.90.8"}'
 *
 * @module
 */

import { TailscaleDouble } from "./control.ts";

if (import.meta.main) {
  const options = Deno.args[0] ? JSON.parse(Deno.args[0]) : {};
  await using ts = await TailscaleDouble.start(options);
  const lines = Object.entries(ts.env()).map(([k, v]) => `export ${k}='${v}'`);
  lines.push(`export ECTO_TAILSCALE='${ts.cliPath}'`, "# ready");
  await Deno.stdout.write(new TextEncoder().encode(lines.join("\n") + "\n"));
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
}
