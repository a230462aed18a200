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

# The Swift tests, under a watchdog: a run that prints nothing for HANG_SECONDS (default 480; the slowest test
# prints within 2 minutes) is taken as hung. The watchdog then writes every thread's backtrace (gdb), the test
# process's open files and the file locks to the log, kills it and runs the tests once more. A second hang, or any
# failure, fails the step. (A rare whole-process stall, with every thread idle, was seen twice in CI in 2026-12;
# the backtraces are what it takes to find it.)
swift_tests() {
    local attempt log pid last now idle
    for attempt in 1 2; do
        log=$(mktemp /tmp/iothub-swift-test.XXXXXX)
        env IOTHUB_TEST_PYTHON="$PWD/.venv/bin/python3" swift test --skip-build --disable-xctest > "$log" 2>&1 &
        pid=$!
        tail -n +1 -f "$log" --pid "$pid" &
        local tail_pid=$!
        last=$(stat -c %Y "$log")
        while kill -0 "$pid" 2>/dev/null; do
            sleep 10
            now=$(date +%s)
            last=$(stat -c %Y "$log")
            idle=$((now - last))
            if [ "$idle" -ge "${HANG_SECONDS:-480}" ]; then
                echo "make test: HANG: the tests printed nothing for $idle s (attempt $attempt); diagnostics follow"
                hang_diagnostics
                pkill -KILL -f "swift-iot-hubPackageTests.xctest" || true
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
        done
        wait "$pid"
        local rc=$?
        sleep 1
        kill "$tail_pid" 2>/dev/null || true
        wait "$tail_pid" 2>/dev/null || true
        if [ "${idle:-0}" -lt "${HANG_SECONDS:-480}" ]; then
            rm -f "$log"
            return $rc
        fi
        rm -f "$log"
        idle=0
        [ "$attempt" -eq 1 ] && echo "make test: running the tests once more after the hang"
    done
    echo "make test: the tests hung twice"
    return 1
}

hang_diagnostics() {
    local test_pid
    for test_pid in $(pgrep -f "swift-iot-hubPackageTests.xctest"); do
        echo "---- process $test_pid: threads"
        timeout 120 gdb -p "$test_pid" -batch -ex "set pagination off" -ex "thread apply all bt 30" 2>&1 \
            | grep -v "^\[New LWP" | grep -E "^Thread|^#" | head -3000
        echo "---- process $test_pid: open files"
        ls -l "/proc/$test_pid/fd" 2>/dev/null | awk '{print $9, $10, $11}' | head -500
        echo "---- process $test_pid: sockets"
        ss -tanp 2>/dev/null | grep "pid=$test_pid," | head -200
    done
    echo "---- file locks"
    cat /proc/locks
    echo "---- processes"
    ps -ef --forest | head -100
}

step "swift build --build-tests" swift build --build-tests
step "swift test" swift_tests
step "fuzz smoke (${FUZZ_SECONDS:-15} s a target)" bash scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-15}"
step "docs" swift package generate-documentation --target IoTHubDevice --warnings-as-errors
summary
