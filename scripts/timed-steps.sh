#!/usr/bin/env bash
# `make test`'s steps in order, each timed, then the times in a table: where CI's minutes go.
# A step written `bg:NAME` starts NAME in the background with its output kept aside; it may
# wait for the file $TIMED_STEPS_GO before its second half. The step `wait` makes that file,
# then shows the background steps' output as it comes and waits for them to end. Stops at the
# first step that fails, with the times so far (background steps still running are stopped).
set -uo pipefail
times=()
background=()  # "pid name log started" of the steps started with bg:
go_dir="$(mktemp -d)"
export TIMED_STEPS_GO="$go_dir/go"
report() {
    echo "make test: step times"
    for line in "${times[@]}"; do echo "  $line"; done
}
record() {  # name seconds [note]
    times+=("$(printf '%-24s %5d s%s' "$1" "$2" "${3:-}")")
}
stop_background() {
    for job in "${background[@]}"; do
        read -r pid _ <<<"$job"
        kill -TERM -- "-$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    background=()
    rm -rf "$go_dir"
}
wait_background() {  # fails if a background step failed
    local failed=0
    touch "$TIMED_STEPS_GO"
    for job in "${background[@]}"; do
        read -r pid name log step_started <<<"$job"
        tail -n +1 -f --pid="$pid" "$log"
        wait "$pid"
        status=$?
        record "$name" $((SECONDS - step_started)) " (started in the background)"
        if [ "$status" -ne 0 ]; then
            echo "make test: $name failed" >&2
            failed=$status
        fi
    done
    background=()
    return "$failed"
}
trap stop_background EXIT
started=$SECONDS
for step in "$@"; do
    step_started=$SECONDS
    if [ "${step#bg:}" != "$step" ]; then
        name="${step#bg:}"
        log="$go_dir/$name.log"
        # its own process group, so that stopping it reaches make's children too
        setsid --wait make --no-print-directory "$name" >"$log" 2>&1 &
        background+=("$! $name $log $step_started")
        echo "make test: $name started in the background"
        continue
    fi
    if [ "$step" = wait ]; then
        wait_background
        status=$?
        record "wait" $((SECONDS - step_started)) " (for the background steps)"
    else
        make --no-print-directory "$step"
        status=$?
        record "$step" $((SECONDS - step_started))
    fi
    if [ "$status" -ne 0 ]; then
        stop_background
        report
        echo "make test: $step failed" >&2
        exit "$status"
    fi
done
wait_background || { report; exit 1; }
record total $((SECONDS - started))
report
