# Shared helpers for boxoffice's scripts. Source it; don't run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs Debian packages when one of the given commands is missing.
# usage: need_cmd <command> <debian-package>
need_cmd() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [ -x "/usr/lib/postgresql/$(pg_major)/bin/$cmd" ] && return 0
  install_pkg "$pkg" "$cmd"
}

# usage: install_pkg PACKAGE [WHAT NEEDS IT]: installs a Debian package with apt-get.
install_pkg() {
  local pkg=$1 need=${2:-$1}
  command -v apt-get >/dev/null 2>&1 || die "'$need' is missing and apt-get is not available: install $pkg"
  log "installing $pkg (for $need)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$pkg" >/dev/null || die "apt-get install $pkg failed"
}

# The newest PostgreSQL major version installed under /usr/lib/postgresql.
pg_major() {
  ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# usage: wait_until <seconds> <description> <command...>
wait_until() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}
