import assert from "node:assert/strict";
import { encode } from "uqr";
import { mobilePayload, renderEventHuman, terminalQr } from "../lib/cli/render.ts";

/** `qrencode -8 -l L -t ASCII -m 0 https://login.tailscale.com/a/1a2b3c4d5e6f7` (qrencode 4.1.1). */
const LOGIN_URL = "https://login.tailscale.com/a/1a2b3c4d5e6f7";
const QRENCODE_LOGIN = `${import.meta.dirname}/fixtures/qrencode/login-L-3.txt`;

/** Parses qrencode's ASCII output: two characters per module, `##` dark. */
function parseAscii(text: string): boolean[][] {
  return text.split("\n").filter((l) => l.length > 0).map((line) => {
    const row: boolean[] = [];
    for (let i = 0; i < line.length; i += 2) row.push(line[i] === "#");
    return row;
  });
}

/** Reads a half-block drawing (light modules inked, quiet zone 2) back into dark modules. */
function parseTerminalQr(text: string): boolean[][] {
  const lines = text.split("\n").filter((l) => l.length > 0);
  const inked: boolean[][] = [];
  for (const line of lines) {
    const chars = [...line];
    inked.push(chars.map((c) => c === "█" || c === "▀"));
    inked.push(chars.map((c) => c === "█" || c === "▄"));
  }
  const size = [...lines[0]!].length - 4;
  return inked.slice(2, 2 + size).map((row) => row.slice(2, 2 + size).map((ink) => !ink));
}

Deno.test("`renderEventHuman()` shows a login URL's QR on a terminal, module for module as qrencode draws it", async () => {
  const text = renderEventHuman(
    { kind: "action", step: "tailscale.login", action: "login", url: LOGIN_URL, message: "Log in" },
    { colour: false, terminal: true },
  );
  const drawing = text.split("\n").filter((l) => /^[▀▄█ ]+$/.test(l) && l.trim() !== "").join("\n");
  assert.deepEqual(
    parseTerminalQr(drawing),
    parseAscii(await Deno.readTextFile(QRENCODE_LOGIN)),
  );
});

Deno.test("`renderEventHuman()` prints no QR when stdout is not a terminal", () => {
  const text = renderEventHuman(
    { kind: "action", step: "tailscale.login", action: "login", url: LOGIN_URL, message: "Log in" },
    { colour: false, terminal: false },
  );
  assert.match(text, new RegExp(LOGIN_URL));
  assert.doesNotMatch(text, /[▀▄█]/);
});

Deno.test("`terminalQr()` of the mobile payload holds base URL and key at level L, quiet zone 2", () => {
  const payload = mobilePayload({
    url: "https://build-box.tail1234.ts.net:8443",
    token: `ecto_${"Zm9vYmFy".repeat(5)}`,
    model: "openclaw:main",
  });
  assert.deepEqual(JSON.parse(payload), {
    baseUrl: "https://build-box.tail1234.ts.net:8443/v1",
    apiKey: `ecto_${"Zm9vYmFy".repeat(5)}`,
    model: "openclaw:main",
  });
  const drawing = terminalQr(payload);
  assert.ok(drawing.endsWith("\n"));
  assert.equal(
    drawing.split("\n")[0],
    "█".repeat(encode(payload, { ecc: "L", border: 0 }).size + 4),
  );
  assert.deepEqual(parseTerminalQr(drawing), encode(payload, { ecc: "L", border: 0 }).data);
});
