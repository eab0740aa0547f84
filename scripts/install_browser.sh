#!/usr/bin/env bash
# Install what the real-browser test (tests/browser) needs, offline-friendly:
#   - Debian's chromium at /usr/bin/chromium (apt; needs root),
#   - playwright and jupyterlab into the project's Python (pip).
# Never runs `playwright install` (it downloads a browser build from outside the
# package registries); the test drives /usr/bin/chromium via executable_path.
# Idempotent: each step runs only when its target is missing.
#
#   bash scripts/install_browser.sh                       # PYTHON defaults to .venv/bin/python
#   PYTHON=/path/to/python CHROMIUM=/usr/bin/chromium bash scripts/install_browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_WAS_SET="${PYTHON:+1}"
PYTHON="${PYTHON:-.venv/bin/python}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: chromium present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "install_browser: $CHROMIUM is missing and installing it needs root:" >&2
        echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
        exit 1
    fi
    echo "install_browser: installing chromium (apt-get)"
    start=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
    echo "install_browser: chromium installed in $((SECONDS - start)) s: $("$CHROMIUM" --version 2>/dev/null || echo '?')"
fi

if [ ! -x "$PYTHON" ]; then
    if [ -n "${PYTHON_WAS_SET:-}" ]; then
        echo "install_browser: PYTHON=$PYTHON is not an executable" >&2
        exit 1
    fi
    # A clean clone has no .venv yet: dev.py creates it and installs the dev extras
    # (playwright, jupyterlab) itself, so only chromium was needed from here.
    echo "install_browser: $PYTHON not there yet; skipping pip (dev.py installs the dev extras)"
    exit 0
fi

if "$PYTHON" -c "import playwright.sync_api, jupyterlab" 2>/dev/null; then
    echo "install_browser: playwright and jupyterlab present in $PYTHON"
else
    echo "install_browser: installing playwright and jupyterlab (pip) into $PYTHON"
    start=$SECONDS
    "$PYTHON" -m pip install --quiet --disable-pip-version-check playwright jupyterlab
    echo "install_browser: pip done in $((SECONDS - start)) s"
fi
"$PYTHON" -c "import importlib.metadata as m; print('install_browser: playwright', m.version('playwright'), '/ jupyterlab', m.version('jupyterlab'))"
