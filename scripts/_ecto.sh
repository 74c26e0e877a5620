#!/usr/bin/env bash
# Finds and runs ecto for the OpenClaw skill's scripts: $ECTO_BIN, the compiled
# binary beside the skill, `ecto` on PATH, then the per-user install dirs (a
# gateway run by launchd/systemd has a minimal PATH, and OpenClaw's exec puts
# the system dirs first), then `deno run` of cli.ts with the permission set the
# binary is compiled with. Every argument is passed through.
set -euo pipefail
skill_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ -n "${ECTO_BIN:-}" ]; then
  exec "$ECTO_BIN" "$@"
fi
for candidate in "$skill_dir/ecto" "$skill_dir/bin/ecto"; do
  if [ -x "$candidate" ] && [ ! -d "$candidate" ]; then exec "$candidate" "$@"; fi
done
if command -v ecto >/dev/null 2>&1; then exec ecto "$@"; fi
for candidate in "${HOME:-}/.local/bin/ecto" "${HOME:-}/.deno/bin/ecto"; do
  if [ -x "$candidate" ] && [ ! -d "$candidate" ]; then exec "$candidate" "$@"; fi
done

deno_bin="${DENO:-}"
if [ -z "$deno_bin" ] && command -v deno >/dev/null 2>&1; then deno_bin="$(command -v deno)"; fi
if [ -z "$deno_bin" ] && [ -x "$HOME/.deno/bin/deno" ]; then deno_bin="$HOME/.deno/bin/deno"; fi
if [ -n "$deno_bin" ] && [ -f "$skill_dir/cli.ts" ]; then
  exec "$deno_bin" run --quiet --config="$skill_dir/deno.json" --allow-read --allow-write --allow-net --allow-env --allow-run --allow-sys "$skill_dir/cli.ts" "$@"
fi

message="ecto is not installed: no ecto binary beside the skill or on PATH, and no deno to run it from source."
fix="Download the ecto binary into $skill_dir (or onto PATH), or install Deno: npm install -g deno@2.9.6"
for arg in "$@"; do
  if [ "$arg" = "--json" ]; then
    printf '{"ok":false,"error":{"code":"ecto_not_installed","message":"%s","fix":"%s","exitCode":4}}\n' "$message" "$fix"
    exit 4
  fi
done
echo "error: $message" >&2
echo "  fix: $fix" >&2
exit 4
