#!/usr/bin/env bash
# Quick start 1: set up the workspace and run the demo on the embedded default (SQLite).
# Data goes to ./.orcheo-demo unless ORCHEO_REPOSITORY_SQLITE_PATH etc. are set.
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
exec uv run --no-sync orcheo-storage demo --data-dir "${ORCHEO_DEMO_DIR:-.orcheo-demo}" "$@"
