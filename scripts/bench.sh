#!/usr/bin/env bash
# make bench: the benchmarks a hub operator or firmware developer reruns. Builds release, starts the companion hub
# on its embedded SQLite store with a fresh data directory, runs each benchmark against it, prints their numbers
# and writes JSON into bench-results/. Nothing here asserts a timing; the numbers go into issue notes and READMEs.
#
#   amqp-multiplex   many SDK devices over few AMQP connections (fleetsim bench amqp-multiplex): attaches/s, and
#                    resident memory per idle device in the hub and in the SDK  -> bench-results/amqp-multiplex.json
#   proton-floor     what Qpid Proton's own objects cost per link (C, heap in use): the floor under both RSS
#                    figures above                                            -> bench-results/proton-link-floor.json
#   sdk-footprint    sample-telemetry built with --static-swift-stdlib: size, run-time libraries, Foundation/ICU
#                    inside or not, RSS and threads once connected          -> bench-results/sdk-footprint.json
#
# Knobs (environment): AMQP_DEVICES (20000), AMQP_WARMUP (2000), AMQP_TLS=1 (AMQP over TLS instead of the plain
# port), FOOTPRINT_BASELINE=REV (also build sample-telemetry at git revision REV, e.g. one from before Foundation
# left the SDK, and measure it beside the current one), BENCH=amqp-multiplex,proton-floor,sdk-footprint (which to run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH

AMQP_DEVICES=${AMQP_DEVICES:-20000}
AMQP_WARMUP=${AMQP_WARMUP:-2000}
BENCH=${BENCH:-amqp-multiplex,proton-floor,sdk-footprint}
wants() { [[ ",$BENCH," == *",$1,"* ]]; }

bash scripts/install-deps.sh

echo "bench: building iothub and fleetsim (release)"
swift build -c release --product iothub
swift build -c release --product fleetsim
bin=$(swift build -c release --show-bin-path)
if wants sdk-footprint; then
    echo "bench: building sample-telemetry (release, --static-swift-stdlib)"
    swift build -c release --static-swift-stdlib --product sample-telemetry --scratch-path .build-static
    footprint_binaries=("--binary" "current=$PWD/.build-static/release/sample-telemetry:mqtt,amqp")
    if [ -n "${FOOTPRINT_BASELINE:-}" ]; then
        baseline_tree=$PWD/.build-baseline/tree
        rm -rf "$baseline_tree"
        git worktree prune
        git worktree add --detach -f "$baseline_tree" "$FOOTPRINT_BASELINE" > /dev/null
        echo "bench: building sample-telemetry at $FOOTPRINT_BASELINE (release, --static-swift-stdlib)"
        (cd "$baseline_tree" && swift build -c release --static-swift-stdlib --product sample-telemetry \
            --scratch-path "$PWD/../scratch")
        footprint_binaries+=("--binary" "$FOOTPRINT_BASELINE=$PWD/.build-baseline/scratch/release/sample-telemetry:mqtt")
    fi
fi

# Free loopback ports: HTTPS, MQTT over TLS, plain MQTT, plain HTTP, AMQP over TLS, plain AMQP.
source scripts/lib/hub.sh
read -r https_port mqtts_port mqtt_port http_port amqps_port amqp_port < <(free_ports 6)

data=$(mktemp -d /tmp/iothub-bench.XXXXXX)
hub_pid=""
cleanup() {
    stop_hub "$hub_pid"
    rm -rf "$data"
}
trap cleanup EXIT

echo "bench: starting the hub (SQLite store in $data)"
"$bin/iothub" serve --data-dir "$data" --hostname localhost --https-port "$https_port" --mqtts-port "$mqtts_port" \
    --plain-mqtt-port "$mqtt_port" --plain-http-port "$http_port" --amqps-port "$amqps_port" \
    --plain-amqp-port "$amqp_port" > "$data/hub.log" 2>&1 &
hub_pid=$!
wait_for_hub "$hub_pid" "$data/hub.log" "$amqp_port" "$http_port"

owner=$("$bin/iothub" connection-string --data-dir "$data")
mkdir -p bench-results
status=0

if wants amqp-multiplex; then
    if [ "${AMQP_TLS:-0}" = 1 ]; then
        transport=(--amqp-port "$amqps_port" --ca-file "$data/tls/ca.pem" --gateway localhost)
    else
        transport=(--plain-amqp-port "$amqp_port" --gateway 127.0.0.1)
    fi
    "$bin/fleetsim" bench amqp-multiplex --connection-string "$owner" --endpoint "http://127.0.0.1:$http_port" \
        "${transport[@]}" --devices "$AMQP_DEVICES" --warmup-devices "$AMQP_WARMUP" --hub-pid "$hub_pid" \
        --json bench-results/amqp-multiplex.json || status=$?
fi

if wants proton-floor; then
    clang -O2 scripts/bench/proton_link_floor.c -o .build/release/proton-link-floor -lqpid-proton
    .build/release/proton-link-floor | tee bench-results/proton-link-floor.json
fi

if wants sdk-footprint; then
    hub_cli=(--endpoint "http://127.0.0.1:$http_port" --data-dir "$data")
    "$bin/iothub" device create footprint-1 "${hub_cli[@]}" > /dev/null
    device=$("$bin/iothub" device connection-string footprint-1 "${hub_cli[@]}")
    python3 scripts/sdk_footprint.py "${footprint_binaries[@]}" --connection-string "$device" \
        --ca-file "$data/tls/ca.pem" --mqtt-port "$mqtts_port" --amqp-port "$amqps_port" \
        --json bench-results/sdk-footprint.json || status=$?
fi
exit "$status"
