#!/usr/bin/env bash
# `make test`'s steps in order, each timed, then the times in a table: where CI's minutes go.
# Stops at the first step that fails, with the times so far.
set -uo pipefail
times=()
report() {
    echo "make test: step times"
    for line in "${times[@]}"; do echo "  $line"; done
}
started=$SECONDS
for step in "$@"; do
    step_started=$SECONDS
    make --no-print-directory "$step"
    status=$?
    times+=("$(printf '%-24s %5d s' "$step" $((SECONDS - step_started)))")
    if [ "$status" -ne 0 ]; then
        report
        echo "make test: $step failed" >&2
        exit "$status"
    fi
done
times+=("$(printf '%-24s %5d s' total $((SECONDS - started)))")
report
