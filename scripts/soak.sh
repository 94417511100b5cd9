#!/usr/bin/env bash
# The differential test at length (tests/model): each engine answers SEQUENCES random
# sequences (default 100,000) beside the reference model; a divergence is shrunk, printed
# and counted, and the run goes on. Prints sequences per second and divergences per engine.
# Built with --release (the service under test runs as it would in production), once at the
# start: a long soak goes on testing the code it started with while the tree changes.
#
# usage: scripts/soak.sh [SEQUENCES] [ENGINE]
#   ENGINE picks one test: one_slot, two_lanes, three_lanes, postgres_fallback or moving
#   (default: all five, one after another). WORKERS=n sets the threads, each with an
#   instance of its own (default 8; 16 for moving, whose sequences mostly wait for a
#   switch's hand-over).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SEQUENCES=${1:-100000}
ENGINES=${2:-one_slot two_lanes three_lanes postgres_fallback moving}
IFS=" " read -r -a ENGINES <<<"$ENGINES"
"$ROOT/scripts/stack.sh" up
# shellcheck disable=SC1091
source "$LOCAL/stack.env"
cd "$ROOT"
built=$(cargo test --release --locked --test model --no-run 2>&1) || die "the model test did not build: $built"
binary=$(sed -n 's/^ *Executable .*(\(.*\))$/\1/p' <<<"$built")
copy="$LOCAL/soak-model-$$"
cp "$binary" "$copy"
trap 'rm -f "$copy"' EXIT
# Each engine runs whatever the one before found; the exit status says whether any diverged.
diverged=0
for engine in "${ENGINES[@]}"; do
  workers=${WORKERS:-$([[ $engine == moving ]] && echo 16 || echo 8)}
  log "$SEQUENCES sequences ($engine, $workers workers)"
  BOXOFFICE_MODEL_SEQUENCES=$SEQUENCES BOXOFFICE_MODEL_KEEP_GOING=1 BOXOFFICE_MODEL_WORKERS=$workers BOXOFFICE_MODEL_SEED=random \
    "$copy" --nocapture --test-threads 1 "$engine" 2>&1 |
    grep -v '^ *[0-9]*: \|^ *at ' || diverged=1
done
exit $diverged
