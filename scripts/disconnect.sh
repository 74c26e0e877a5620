#!/usr/bin/env bash
# ecto disconnect for the OpenClaw skill; all arguments are passed through.
exec "$(dirname "${BASH_SOURCE[0]}")/_ecto.sh" disconnect "$@"
