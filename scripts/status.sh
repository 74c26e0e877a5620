#!/usr/bin/env bash
# ecto status for the OpenClaw skill; all arguments are passed through.
exec "$(dirname "${BASH_SOURCE[0]}")/_ecto.sh" status "$@"
