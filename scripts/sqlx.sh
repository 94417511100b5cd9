#!/usr/bin/env bash
# Checked SQL: every `sqlx::query!` of src/ is checked at build time against the offline data
# in .sqlx/ (SQLX_OFFLINE, set in .cargo/config.toml), which `prepare` makes from a database
# migrated for the purpose. After changing a query or a migration, run `scripts/sqlx.sh
# prepare` and commit .sqlx/; `check` (scripts/test.sh runs it) fails when .sqlx/ is out of
# date, so a renamed column fails the build, not a fan. Installs sqlx-cli on first use.
#
# usage: scripts/sqlx.sh prepare|check
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SQLX_CLI_VERSION=0.9.0

"$ROOT/scripts/stack.sh" up >/dev/null
# shellcheck disable=SC1091
source "$LOCAL/stack.env"
cd "$ROOT"

if ! cargo sqlx --version 2>/dev/null | grep -q "$SQLX_CLI_VERSION"; then
  log "installing sqlx-cli $SQLX_CLI_VERSION (cargo install, a few minutes the first time)"
  cargo install --locked --quiet sqlx-cli --version "$SQLX_CLI_VERSION" --no-default-features --features postgres
fi

db="bo_sqlx_check"
url="${DATABASE_URL%/*}/$db"
psql -q "$DATABASE_URL" -c "drop database if exists $db" -c "create database $db" >/dev/null
trap 'psql -q "$DATABASE_URL" -c "drop database if exists $db" >/dev/null 2>&1 || true' EXIT
cargo sqlx migrate run --database-url "$url" >/dev/null

case ${1:-} in
  prepare) SQLX_OFFLINE=false DATABASE_URL="$url" cargo sqlx prepare -- --all-targets ;;
  check) SQLX_OFFLINE=false DATABASE_URL="$url" cargo sqlx prepare --check -- --all-targets ;;
  *) die "usage: $0 prepare|check" ;;
esac
