#!/usr/bin/env bash
# make bench: the benchmarks a hub operator or firmware developer reruns. Builds release, starts the companion hub
# on its embedded SQLite store with a fresh data directory, runs each benchmark against it, prints their numbers
# and writes JSON into bench-results/. Nothing here asserts a timing; the numbers go into issue notes and READMEs.
#
#   amqp-multiplex   many SDK devices over few AMQP connections (fleetsim bench amqp-multiplex): attaches/s, and
#                    resident memory per idle device in the hub and in the SDK  -> bench-results/amqp-multiplex.json
#   native-mqtt-idle fleetsim's native MQTT engine with 2000 and then MQTT_IDLE_DEVICES (15000) idle devices on
#                    the plain MQTT port: RSS and fds per idle device (a slope), simulator and hub
#                                                                             -> bench-results/native-mqtt-idle.json
#   proton-floor     what Qpid Proton's own objects cost per link (C, heap in use): the floor under both RSS
#                    figures above                                            -> bench-results/proton-link-floor.json
#   sdk-footprint    sample-telemetry built with --static-swift-stdlib: size, run-time libraries, Foundation/ICU
#                    inside or not, RSS and threads once connected          -> bench-results/sdk-footprint.json
#   mosquitto-fleet  one fleetsim run puts MOSQUITTO_FLEET_DEVICES (100000) native MQTT devices on several Mosquitto
#                    processes (16,000 connections each): RSS and fds per device, simulator and Mosquitto
#                                                                             -> bench-results/mosquitto-fleet.json
#   hub-vs-mosquitto the same fleetsim workloads against Mosquitto (in memory) and a second, durable hub started
#                    for it: QoS 1 ingest, a connect storm, 15,000 idle connections, then service round trips
#                    (twins, methods, C2D, D2C end to end) on the hub; ratios hub ÷ Mosquitto
#                                                                             -> bench-results/hub-vs-mosquitto.json
#   eventhub-latency EVENTHUB_DEVICES (500) native MQTT devices send EVENTHUB_RATE (10) messages/s each for
#                    EVENTHUB_SECONDS (30) with their send time in the body; the official azure-eventhub client
#                    reads the built-in endpoint: send-to-receive latency p50/p90/p99 at that steady rate
#                    (EVENTHUB_TRANSPORT=uamqp reads with the client's C stack instead of pyamqp;
#                    EVENTHUB_PREFETCH (50): pyamqp hands events over a prefetch at a time)
#                                                                             -> bench-results/eventhub-latency-pyamqp.json
#   routing-ingest   the same QoS 1 ingest with no route, with 10 routes (one matching) and with two matching: msg/s,
#                    the hub's CPU per message and the ratios to the no-route baseline
#                                                                             -> bench-results/routing-ingest.json
#   provision        fleetsim provision: PROVISION_DEVICES (100000) devices created in bulk calls of 100 with
#                    PROVISION_CONCURRENCY (8) in flight over the plain HTTP port: devices/s, retries by status
#                                                                             -> bench-results/provision.json
#
# Knobs (environment): AMQP_DEVICES (20000), AMQP_WARMUP (2000), AMQP_TLS=1 (AMQP over TLS instead of the plain
# port), FOOTPRINT_BASELINE=REV (also build sample-telemetry at git revision REV, e.g. one from before Foundation
# left the SDK, and measure it beside the current one), BENCH=hub-vs-mosquitto,amqp-multiplex,native-mqtt-idle,proton-floor,sdk-footprint,mosquitto-fleet,provision,file-upload,eventhub-latency,routing-ingest
# (which to run), MQTT_IDLE_DEVICES (15000; one process holds up to 19,000), PROVISION_DEVICES (100000),
# PROVISION_CONCURRENCY (8).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH

AMQP_DEVICES=${AMQP_DEVICES:-20000}
AMQP_WARMUP=${AMQP_WARMUP:-2000}
BENCH=${BENCH:-hub-vs-mosquitto,amqp-multiplex,native-mqtt-idle,proton-floor,sdk-footprint,mosquitto-fleet,provision,file-upload,eventhub-latency,routing-ingest}
MQTT_IDLE_DEVICES=${MQTT_IDLE_DEVICES:-15000}
PROVISION_DEVICES=${PROVISION_DEVICES:-100000}
PROVISION_CONCURRENCY=${PROVISION_CONCURRENCY:-8}
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
    --plain-amqp-port "$amqp_port" --storage-port 0 > "$data/hub.log" 2>&1 &
hub_pid=$!
wait_for_hub "$hub_pid" "$data/hub.log" "$amqp_port" "$http_port"

owner=$("$bin/iothub" connection-string --data-dir "$data")
mkdir -p bench-results
status=0

if wants eventhub-latency; then
    bash scripts/setup-venv.sh
    eventhub=$("$bin/iothub" connection-string --eventhub --policy service --data-dir "$data")
    .venv/bin/python3 scripts/bench/eventhub_latency.py --connection-string "$eventhub" --amqps-port "$amqps_port" \
        --ca "$data/tls/ca.pem" --fleetsim "$bin/fleetsim" --owner "$owner" --endpoint "http://127.0.0.1:$http_port" \
        --mqtt-port "$mqtt_port" --devices "${EVENTHUB_DEVICES:-500}" --rate "${EVENTHUB_RATE:-10}" \
        --seconds "${EVENTHUB_SECONDS:-30}" --transport "${EVENTHUB_TRANSPORT:-pyamqp}" --prefetch "${EVENTHUB_PREFETCH:-50}" \
        --json "bench-results/eventhub-latency-${EVENTHUB_TRANSPORT:-pyamqp}.json" || status=$?
fi

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

# idle_sample DEVICES PREFIX: runs that many native MQTT devices (two messages 45 s apart, so they sit connected
# in between) and prints "devices rss_kb fds hub_rss_kb" once all are connected and idle.
idle_sample() {
    "$bin/fleetsim" run --connection-string "$owner" --endpoint "http://127.0.0.1:$http_port" --gateway 127.0.0.1 \
        --plain-mqtt-port "$mqtt_port" --devices "$1" --prefix "$2" --messages 2 --interval-ms 45000 --loops 2 \
        --deadline-seconds 180 > "$data/idle-$1.log" 2>&1 &
    local sim=$! fds=0
    for _ in $(seq 1 900); do
        fds=$(ls "/proc/$sim/fd" 2>/dev/null | wc -l)
        [ "$fds" -ge "$1" ] && break
        sleep 0.2
    done
    sleep 8
    echo "$1 $(awk '/VmRSS/ {print $2}' "/proc/$sim/status") $(ls "/proc/$sim/fd" | wc -l) $(awk '/VmRSS/ {print $2}' "/proc/$hub_pid/status")"
    wait "$sim" || { echo "bench: the idle fleet of $1 did not complete:" >&2; tail -8 "$data/idle-$1.log" >&2; return 1; }
}

if wants native-mqtt-idle; then
    echo "bench: native MQTT engine, 2000 and then $MQTT_IDLE_DEVICES idle devices"
    # Small first: the hub keeps what it grew to, so its slope needs the smaller fleet before the larger.
    small=$(idle_sample 2000 idle-small-) || status=1
    large=$(idle_sample "$MQTT_IDLE_DEVICES" idle-large-) || status=1
    python3 - "$large" "$small" <<'PY' | tee bench-results/native-mqtt-idle.json
import json, sys
(n1, rss1, fd1, hub1), (n0, rss0, fd0, hub0) = ([int(x) for x in arg.split()] for arg in sys.argv[1:3])
per = lambda a, b: round((a - b) * 1024 / (n1 - n0))
print(json.dumps({"benchmark": "native-mqtt-idle", "devices": [n0, n1],
                  "simulatorBytesPerIdleDevice": per(rss1, rss0), "simulatorFdsPerIdleDevice": round((fd1 - fd0) / (n1 - n0), 3),
                  "hubBytesPerIdleConnection": per(hub1, hub0), "targets": {"simulatorBytesPerIdleDevice": 2048}}))
PY
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

if wants hub-vs-mosquitto; then
    bash scripts/bench/hub_vs_mosquitto.sh "$bin" || status=$?
fi

if wants mosquitto-fleet; then
    bash scripts/bench/mosquitto_fleet.sh "$bin" || status=$?
fi

if wants routing-ingest; then
    bash scripts/bench/routing_ingest.sh "$bin" || status=$?
fi

if wants file-upload; then
    bash scripts/bench/file_upload.sh || status=$?
fi

# Last: it leaves PROVISION_DEVICES more devices in the hub's registry.
if wants provision; then
    echo "bench: fleetsim provision, $PROVISION_DEVICES devices, $PROVISION_CONCURRENCY bulk calls in flight"
    "$bin/fleetsim" provision --connection-string "$owner" --endpoint "http://127.0.0.1:$http_port" \
        --devices "$PROVISION_DEVICES" --prefix provision- --concurrency "$PROVISION_CONCURRENCY" --progress-seconds 5 \
        --json bench-results/provision.json || status=$?
fi
exit "$status"
