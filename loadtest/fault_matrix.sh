#!/usr/bin/env bash
# The fault matrix: every Redis failure of tests/faults/matrix.rs (a master killed, frozen,
# failed over by hand or taken over, slowed, its connections reset, a second failure during
# a resync, the Pub/Sub connections killed), each under a mixed load of 30 fans joining,
# polling, holding and buying, on a private six-node cluster. Prints one row per fault:
# requests sent, answers other than 2xx by status (409: the seat a fan picked was taken,
# 0: no answer), the slowest answer, acknowledgments lost (201 joins or holds), seats sold
# twice, switches of the deployment's backend (2 = to Postgres and back) and how long the
# deployment took to serve from a healthy Redis again after the fault.
# A test fails, and the script with it, when an invariant breaks.
#
# usage: loadtest/fault_matrix.sh [extra cargo test args]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"
scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
source "$LOCAL/stack.env"
out="$LOCAL/fault_matrix.log"
log "running the fault matrix (one fault at a time, about 5 minutes)"
status=0
RUST_LOG=error cargo test --locked --release --test faults "$@" matrix -- --test-threads 1 --nocapture >"$out" 2>&1 || status=$?
echo
echo "| fault | requests | non-2xx by status | max latency | lost acks | double sales | switches | healed after |"
echo "|---|---|---|---|---|---|---|---|"
grep -ao 'fault-matrix | .*' "$out" | sed 's/^fault-matrix //; s/ *$/ |/' | sort -t'|' -k2,2
grep -E '^test .*FAILED|panicked' "$out" || true
[ "$status" = 0 ] && log "every invariant held" || log "an invariant broke: see $out"
exit "$status"
