#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/Targets and runs each for a set time (see Fuzz/README.md).
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--build-only] [TARGET...]
#
# Each target is compiled with `swiftc -sanitize=fuzzer,address` together with the sources of the module it tests
# (so it may use internal API) into .build-fuzz/fuzzers/TARGET. It then runs for N seconds (default 600) on a
# working corpus in .build-fuzz/fuzz-corpus/TARGET, seeded from the committed Fuzz/corpus/TARGET (which is never
# written to), with a 512 KiB stack like the hub's NIO and cooperative-pool threads. Crash inputs go to
# .build-fuzz/fuzz-artifacts/TARGET/, logs to .build-fuzz/fuzz-logs/. J targets run at a time (default 1).
# Prints per target its executions and result, writes bench-results/fuzz.json, and exits non-zero when a build
# fails or any target crashes, times out, leaks or trips a sanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

all_targets=(mqtt-stream iothub-topics sas-connection-string json registry-query)
seconds=600
jobs=1
build_only=0
targets=()

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; echo "targets: ${all_targets[*]}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        --jobs) jobs="$2"; shift 2 ;;
        --jobs=*) jobs="${1#*=}"; shift ;;
        --build-only) build_only=1; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "fuzz: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "fuzz: --seconds takes a positive number" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -gt 0 ]] || { echo "fuzz: --jobs takes a positive number" >&2; exit 2; }

# name → harness file, module under test, largest input.
target_file() {
    case "$1" in
        mqtt-stream) echo MQTTStreamFuzz ;;
        iothub-topics) echo IoTHubTopicsFuzz ;;
        sas-connection-string) echo SASConnectionStringFuzz ;;
        json) echo JSONFuzz ;;
        registry-query) echo RegistryQueryFuzz ;;
        *) return 1 ;;
    esac
}
target_module() { if [ "$1" = mqtt-stream ]; then echo MQTTCore; else echo IoTHubProtocol; fi; }
target_max_len() {
    case "$1" in
        mqtt-stream) echo 8192 ;;
        json) echo 16384 ;;
        registry-query) echo 12288 ;;  # past RegistryQuery.maximumLength (8 KiB)
        *) echo 4096 ;;
    esac
}
for target in "${targets[@]}"; do
    target_file "$target" >/dev/null || { echo "fuzz: unknown target '$target' (targets: ${all_targets[*]})" >&2; exit 2; }
done

work=.build-fuzz
mkdir -p "$work/fuzzers" "$work/fuzz-logs" bench-results

# MARK: Build

build() {
    local target=$1 file module binary sources log
    file="Fuzz/Targets/$(target_file "$target").swift"
    module=$(target_module "$target")
    binary="$work/fuzzers/$target"
    log="$work/fuzz-logs/$target.build.log"
    mapfile -t sources < <(find "Sources/$module" -name '*.swift' | sort)
    local extra=()
    [ "$module" = IoTHubProtocol ] && extra=(-I Sources/COpenSSL)
    # Up to date when the binary is newer than its sources, the harness and this script.
    if [ -x "$binary" ] && [ -z "$(find "${sources[@]}" "$file" "$0" -newer "$binary" | head -1)" ]; then
        return 0
    fi
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -warnings-as-errors -use-ld=lld \
        -module-name "$module" -module-cache-path "$work/fuzzers/module-cache" "${extra[@]}" \
        "${sources[@]}" "$file" -o "$binary.tmp" >"$log" 2>&1; then
        echo "fuzz: $target: build failed (log: $log)" >&2
        tail -n 30 "$log" >&2
        rm -f "$binary.tmp"
        return 1
    fi
    mv "$binary.tmp" "$binary"
}

failed_builds=()
pids=()
names=()
wait_slot() {
    # Waits for the oldest background job and records a failure.
    local pid=${pids[0]} name=${names[0]}
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
    wait "$pid" || failed_builds+=("$name")
}
for target in "${targets[@]}"; do
    [ ${#pids[@]} -lt "$jobs" ] || wait_slot
    echo "fuzz: building $target"
    build "$target" &
    pids+=($!)
    names+=("$target")
done
while [ ${#pids[@]} -gt 0 ]; do wait_slot; done
[ "$build_only" -eq 0 ] || { [ ${#failed_builds[@]} -eq 0 ]; exit; }

# MARK: Run

count_files() { find "$1" -maxdepth 1 -type f | wc -l | tr -d ' '; }

run() {
    local target=$1 binary corpus seeds artifacts log dict
    binary="$work/fuzzers/$target"
    corpus="$work/fuzz-corpus/$target"
    seeds="Fuzz/corpus/$target"
    artifacts="$work/fuzz-artifacts/$target"
    log="$work/fuzz-logs/$target.log"
    dict="Fuzz/dictionaries/$target.dict"
    mkdir -p "$corpus" "$artifacts"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    local before
    before=$(count_files "$corpus")
    local options=(-max_total_time="$seconds" -print_final_stats=1 -max_len="$(target_max_len "$target")"
        -timeout=30 -rss_limit_mb=2048 -artifact_prefix="$artifacts/")
    [ -f "$dict" ] && options+=(-dict="$dict")
    local status=0
    # 512 KiB of stack, as on NIO event-loop threads and in Swift's cooperative pool.
    # Swift's own crash backtracer is turned off so that libFuzzer and ASan report crashes (and save the input).
    ( ulimit -s 512 && SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
        exec "$binary" "${options[@]}" "$corpus" ) \
        >"$log" 2>&1 || status=$?
    local after
    after=$(count_files "$corpus")
    local runs=0 elapsed=0 rate=0 cov=0 ft=0 new_units=0 rss=0
    local done_line
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
    if [ -n "$done_line" ]; then
        runs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/' <<<"$done_line")
        elapsed=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/' <<<"$done_line")
    else
        runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -1)
        runs=${runs:-0}
    fi
    rate=$(grep -E '^stat::average_exec_per_sec:' "$log" | awk '{print $2}' | tail -1)
    new_units=$(grep -E '^stat::new_units_added:' "$log" | awk '{print $2}' | tail -1)
    rss=$(grep -E '^stat::peak_rss_mb:' "$log" | awk '{print $2}' | tail -1)
    local last
    last=$(grep -E ' cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    local result=ok
    if [ "$status" -ne 0 ] || grep -qE '==[0-9]+==ERROR|ERROR: libFuzzer|SUMMARY: (Address|Leak|Undefined)Sanitizer|Fatal error|deadly signal' "$log"; then
        result=crash
        grep -q 'ERROR: libFuzzer: timeout' "$log" && result=timeout
        grep -q 'out-of-memory' "$log" && result=out-of-memory
        grep -q 'LeakSanitizer' "$log" && result=leak
    fi
    local found
    found=$(find "$artifacts" -maxdepth 1 -type f -newer "$log.start" 2>/dev/null | sort | paste -sd, - || true)
    cat >"$work/fuzz-logs/$target.json" <<JSON
    {"target": "$target", "result": "$result", "exit_code": $status, "seconds": ${elapsed:-0}, "runs": ${runs:-0}, "execs_per_second": ${rate:-0}, "coverage": ${cov:-0}, "features": ${ft:-0}, "seed_inputs": $(count_files "$seeds"), "corpus_before": $before, "corpus_after": $after, "new_units": ${new_units:-0}, "peak_rss_mb": ${rss:-0}, "artifacts": "$found", "log": "$log"}
JSON
    printf 'fuzz: %-22s %-8s %12s runs in %4ss (%s exec/s), cov %s, ft %s, corpus %s -> %s%s\n' "$target" "$result" \
        "$runs" "${elapsed:-0}" "${rate:-0}" "${cov:-?}" "${ft:-?}" "$before" "$after" \
        "$([ -n "$found" ] && echo ", crash input: $found")"
    [ "$result" = ok ]
}

failed_runs=()
pids=()
names=()
wait_run() {
    local pid=${pids[0]} name=${names[0]}
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
    wait "$pid" || failed_runs+=("$name")
}
ran=()
for target in "${targets[@]}"; do
    if [[ " ${failed_builds[*]} " == *" $target "* ]]; then continue; fi
    [ ${#pids[@]} -lt "$jobs" ] || wait_run
    touch "$work/fuzz-logs/$target.log.start"
    echo "fuzz: running $target for ${seconds}s"
    run "$target" &
    pids+=($!)
    names+=("$target")
    ran+=("$target")
done
while [ ${#pids[@]} -gt 0 ]; do wait_run; done

# MARK: Summary

{
    echo "{"
    echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
    echo "  \"toolchain\": \"$(swiftc --version 2>&1 | head -1 | sed 's/"/\\"/g')\","
    echo "  \"seconds_per_target\": $seconds,"
    echo "  \"failed_builds\": [$(printf '"%s",' "${failed_builds[@]}" | sed 's/,$//; s/^"",*$//')],"
    echo "  \"targets\": ["
    first=1
    for target in "${ran[@]}"; do
        [ $first -eq 1 ] || echo ","
        first=0
        printf '%s' "$(cat "$work/fuzz-logs/$target.json")"
    done
    echo
    echo "  ]"
    echo "}"
} >bench-results/fuzz.json
echo "fuzz: summary in bench-results/fuzz.json"

# The plain closing line test runners print, so a log reader counts the targets as tests.
failed=$(( ${#failed_builds[@]} + ${#failed_runs[@]} ))
if [ "$failed" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed_builds[*]:+build: ${failed_builds[*]} }${failed_runs[*]:+run: ${failed_runs[*]}}" >&2
    echo "fuzz: $(( ${#targets[@]} - failed )) passed, $failed failed"
    exit 1
fi
echo "fuzz: all ${#ran[@]} targets ran clean"
echo "fuzz: ${#ran[@]} passed, 0 failed"
