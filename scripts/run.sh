#!/usr/bin/env bash
# Runs boxoffice on http://localhost:8080 against the local stack: starts a private
# PostgreSQL and a six-node Redis Cluster (installing them with apt if missing), builds
# the release binary, migrates, loads the demo concert and serves until Ctrl-C.
#
# usage: scripts/run.sh            (BOXOFFICE_HTTP_ADDR overrides the address)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/stack.sh" up
# shellcheck disable=SC1091
source "$LOCAL/stack.env"
export BOXOFFICE_HTTP_ADDR=${BOXOFFICE_HTTP_ADDR:-0.0.0.0:8080}

cd "$ROOT"
log "building the release binary (the first build takes a few minutes)"
cargo build --release --locked --bin boxoffice
./target/release/boxoffice migrate
./target/release/boxoffice seed-demo
log "serving on http://localhost:${BOXOFFICE_HTTP_ADDR##*:} (API docs: /docs; an admin token: source .local/stack.env && ./target/release/boxoffice admin-token)"
exec ./target/release/boxoffice serve
