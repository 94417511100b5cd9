#!/usr/bin/env bash
# The test command: starts the local stack if it isn't running (installing redis-server and
# PostgreSQL with apt if missing), checks the style (rustfmt, clippy) and the SQL
# (scripts/sqlx.sh check), then runs every test against it: unit tests, the API
# integration tests (twice: served from Redis, and from the Postgres fallback), every
# engine against the reference model of the sale (tests/model), the HTTP
# contract under schemathesis (scripts/contract.sh), the waiting room and the console in a
# real browser (scripts/e2e.sh), the fault tests (which start their own Redis Cluster and
# Postgres on other ports) and a syntax check of docker-compose.yml.
#
# usage: scripts/test.sh [extra cargo test args]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/stack.sh" up
# shellcheck disable=SC1091
source "$LOCAL/stack.env"
cd "$ROOT"

# Databases left by earlier runs of the integration tests (each test drops its own; a run that
# was interrupted leaves some), and their templates (made again from the migrations).
psql -q "$DATABASE_URL" -At -c "select datname from pg_database where datname like 'bo_test_%' or datname like 'bo_template_%' or datname like 'e2e_%'" |
  while read -r db; do psql -q "$DATABASE_URL" -c "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
# Their Redis keys too (each test's prefix starts with test- or e2e-; replicas refuse the DEL, fine).
for node in ${REDIS_CLUSTER_NODES//,/ }; do
  for pattern in 'test-*' 'e2e-*'; do
    redis-cli -p "${node##*:}" --scan --pattern "$pattern" 2>/dev/null |
      xargs -r -n 500 redis-cli -p "${node##*:}" del >/dev/null 2>&1 || true
  done
done

log "style: rustfmt and clippy (warnings are errors)"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
log "checked SQL: the queries against the migrations, and .sqlx/ up to date"
"$ROOT/scripts/sqlx.sh" check
log "unit tests"
cargo test --locked --lib --bins "$@"
log "API integration tests, served from Redis (real Redis Cluster and Postgres)"
cargo test --locked --test api "$@" -- --test-threads 6
log "API integration tests, served from the Postgres fallback (tests of Redis internals skipped)"
BOXOFFICE_TEST_BACKEND=postgres cargo test --locked --test api "$@" -- --test-threads 6 --skip on_redis
log "every engine against the reference model of the sale (tests/model; scripts/soak.sh runs more)"
cargo test --locked --test model "$@"
log "the HTTP contract under schemathesis, valid and invalid data"
"$ROOT/scripts/contract.sh"
log "the waiting room and the console in Chromium (Playwright), with axe-core's accessibility checks"
"$ROOT/scripts/e2e.sh"
log "fault tests (own Redis Cluster and Postgres; one at a time)"
cargo test --locked --test faults "$@" -- --test-threads 1

log "docker-compose.yml syntax"
need_cmd docker-compose docker-compose
docker-compose -f docker-compose.yml config -q
log "all tests passed"
