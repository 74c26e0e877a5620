#!/usr/bin/env bash
# ecto connect for the OpenClaw skill; all arguments are passed through.
exec "$(dirname "${BASH_SOURCE[0]}")/_ecto.sh" connect "$@"
