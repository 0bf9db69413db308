#!/usr/bin/env bash
# Set up a fresh machine for the test suite and run it: a browser for the explorer's
# end-to-end tests (Debian's chromium, when run as root and it is missing), convwise with its
# test dependencies (torch 2.13 CPU among them, as the reference oracle), then pytest on two
# workers, after the lint (ruff) and type (mypy) checks. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q -e ".[test]"
python3 -m ruff check src tests benchmarks
python3 -m mypy src
python3 -m pytest -n 2
