#!/usr/bin/env bash
# make test's steps, each timed: the Swift tests (build included), the fuzz smoke and the DocC build.
# Prints how long each step took at the end, and also when the run is stopped (a CI time-out sends TERM), so the
# tail of a log always says where the time went.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

started=$(date +%s)
steps=()
current=""
current_started=0

summary() {
    local now
    now=$(date +%s)
    echo "make test: step times"
    for line in "${steps[@]}"; do echo "  $line"; done
    if [ -n "$current" ]; then echo "  $current: stopped after $((now - current_started)) s"; fi
    echo "  total: $((now - started)) s"
}

on_signal() {
    echo "make test: stopped by a signal"
    summary
    exit 143
}
trap on_signal TERM INT

step() {
    local name=$1
    shift
    current=$name
    current_started=$(date +%s)
    echo "make test: $name ($(date -u +%H:%M:%S) UTC)"
    "$@"
    local rc=$?
    steps+=("$name: $(( $(date +%s) - current_started )) s, exit $rc")
    current=""
    if [ $rc -ne 0 ]; then
        summary
        exit $rc
    fi
}

step "swift build --build-tests" swift build --build-tests
step "swift test" env IOTHUB_TEST_PYTHON="$PWD/.venv/bin/python3" swift test --skip-build --disable-xctest
step "fuzz smoke (${FUZZ_SECONDS:-15} s a target)" bash scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-15}"
step "docs" swift package generate-documentation --target IoTHubDevice --warnings-as-errors
summary
