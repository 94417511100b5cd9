#!/usr/bin/env bash
# The waiting room in a real browser: Playwright drives Debian's Chromium through the fan's
# page and the operator's console (tests/e2e), against debug builds of the service on the
# local stack, one service per test. Screenshots and each service's log go to target/e2e/;
# axe-core checks every screen for serious accessibility violations.
#
# Installs on first use: Debian's chromium (apt); into .local/e2e, Playwright, pytest and
# axe-core from PyPI; and Debian's prometheus package unpacked into .local/prometheus (not
# installed as a service), which runs every query of the Grafana dashboard against a live
# service. Nothing is fetched while the tests run.
#
# usage: scripts/e2e.sh [pytest args, e.g. -k refresh]   (scripts/test.sh runs it)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PLAYWRIGHT_VERSION=1.65.2
PYTEST_VERSION=9.2.0
AXE_VERSION=0.1.8

"$ROOT/scripts/stack.sh" up >/dev/null
# shellcheck disable=SC1091
source "$LOCAL/stack.env"
cd "$ROOT"

[ -x /usr/bin/chromium ] || install_pkg chromium "the browser tests"
venv="$LOCAL/e2e"
wanted="playwright==$PLAYWRIGHT_VERSION pytest==$PYTEST_VERSION axe-playwright-python==$AXE_VERSION"
if [ "$(cat "$venv/installed" 2>/dev/null)" != "$wanted" ]; then
  log "installing $wanted (pip, into $venv)"
  rm -rf "$venv"
  python3 -m venv "$venv" >/dev/null 2>&1 || { install_pkg python3-venv venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet $wanted
  echo "$wanted" >"$venv/installed"
fi

prometheus="$LOCAL/prometheus/usr/bin/prometheus"
if [ ! -x "$prometheus" ]; then
  log "unpacking Debian's prometheus package into $LOCAL/prometheus (for the dashboard test)"
  deb=$(mktemp -d)
  (cd "$deb" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get download prometheus >/dev/null; }; }) ||
    die "apt-get download prometheus failed"
  dpkg -x "$deb"/prometheus_*.deb "$LOCAL/prometheus"
  rm -rf "$deb"
fi

cargo build --locked --quiet --bin boxoffice
mkdir -p target/e2e
# Playwright drives /usr/bin/chromium: it must never download a browser of its own.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 BOXOFFICE_BIN="$ROOT/target/debug/boxoffice" E2E_OUT="$ROOT/target/e2e" \
  PROMETHEUS_BIN="$prometheus" \
  "$venv/bin/pytest" -q -p no:cacheprovider tests/e2e "$@"
