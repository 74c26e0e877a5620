/**
 * Version arithmetic and the `tailscale version` texts of the double
 * (`version/print.go`, `version/prop.go`, `cmd/tailscale/cli/version.go`).
 *
 * @module
 */

/** `[major, minor, patch]` of a version string like `1.90.8`. */
export function parseVersion(v: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Whether `v` is at least `min` (`"1.86"` or `"1.86.0"`). */
export function atLeast(v: string, min: string): boolean {
  const a = parseVersion(v);
  const parts = min.split(".").map(Number);
  const b = [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
  for (let i = 0; i < 3; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return true;
}

function fakeHex(seed: string, length: number): string {
  let h = 0x811c9dc5;
  let out = "";
  while (out.length < length) {
    for (const c of seed + out.length) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, "0");
  }
  return out.slice(0, length);
}

/** Real build metadata where known; synthesised (stable) otherwise. */
const KNOWN: Record<string, { commit: string; other: string; go: string }> = {
  "1.90.8": {
    commit: "edc9d22455eb839bd411d1b0555da979d1fb4d75",
    other: "ed5c52ee2e5854e3bf8c3c06229198b17f0d3a77",
    go: "go1.25.3",
  },
};

function meta(v: string): { commit: string; other: string; go: string } {
  return KNOWN[v] ?? {
    commit: fakeHex(`commit ${v}`, 40),
    other: fakeHex(`other ${v}`, 40),
    go: atLeast(v, "1.90") ? "go1.25.3" : "go1.24.4",
  };
}

/** The long version, e.g. `1.90.8-tedc9d2245-ged5c52ee2`. */
export function longVersion(v: string): string {
  const m = meta(v);
  return `${v}-t${m.commit.slice(0, 9)}-g${m.other.slice(0, 9)}`;
}

/** Capability version per release (`tailcfg.CurrentCapabilityVersion`). */
export function capVersion(v: string): number {
  const table: [string, number][] = [
    ["1.102", 142],
    ["1.100", 141],
    ["1.96", 133],
    ["1.90", 130],
    ["1.86", 122],
    ["1.84", 116],
    ["1.76", 106],
    ["1.52", 79],
  ];
  for (const [min, cap] of table) if (atLeast(v, min)) return cap;
  return 60;
}

/** Whether `v` is an unstable-track build (odd minor). */
export function isUnstable(v: string): boolean {
  return parseVersion(v)[1] % 2 === 1;
}

/** The plain `tailscale version` text (no trailing newline). */
export function versionText(v: string): string {
  const m = meta(v);
  const lines = [v];
  if (isUnstable(v)) lines.push("  track: unstable (dev); frequent updates and bugs are likely");
  lines.push(`  tailscale commit: ${m.commit}`);
  if (atLeast(v, "1.86")) lines.push(`  long version: ${longVersion(v)}`);
  lines.push(`  other commit: ${m.other}`);
  lines.push(`  go version: ${m.go}`);
  return lines.join("\n");
}

/** `tailscale version --json` object, keys in the real order. */
export function versionJson(
  v: string,
  os: "linux" | "macOS",
  macVariant: string,
  daemonLong?: string,
): Record<string, unknown> {
  const [a, b, c] = parseVersion(v);
  const m = meta(v);
  const out: Record<string, unknown> = { majorMinorPatch: `${a}.${b}.${c}` };
  out.short = v;
  out.long = longVersion(v);
  if (isUnstable(v)) out.unstableBranch = true;
  out.gitCommit = m.commit;
  if (os === "macOS" && atLeast(v, "1.96")) out.osVariant = macVariant;
  out.extraGitCommit = m.other;
  if (daemonLong) out.daemonLong = daemonLong;
  out.cap = capVersion(v);
  return out;
}

/** Go's tab-indented `json.Encoder` output (with its trailing newline). */
export function tabJson(value: unknown): string {
  return JSON.stringify(value, null, "\t") + "\n";
}
