#!/usr/bin/env bash
# The main job: start the companion hub on its embedded SQLite store, provision the scenario's devices, run the
# mixed 60-second scenario (telemetry, twins, methods, C2D; 10,000 devices) with the live display, print the
# summary and the path of the HTML report, and stop the hub.
#
# Knobs (environment): SCENARIO (Simulator/scenarios/main-job.yaml), SCALE (1: multiplies every group's count),
# DURATION (seconds; the scenario's otherwise), LOOPS (2), CONFIG (release | debug), REPORT_DIR
# (bench-results/main-job), KEEP_DATA=1 keeps the hub's data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH

SCENARIO=${SCENARIO:-Simulator/scenarios/main-job.yaml}
SCALE=${SCALE:-1}
LOOPS=${LOOPS:-2}
REPORT_DIR=${REPORT_DIR:-bench-results/main-job}
CONFIG=${CONFIG:-release}

bash scripts/install-deps.sh

echo "main job: building iothub and fleetsim ($CONFIG)"
swift build -c "$CONFIG" --product iothub
swift build -c "$CONFIG" --product fleetsim
bin=$(swift build -c "$CONFIG" --show-bin-path)

# Five free loopback ports: HTTPS, MQTT over TLS, plain MQTT, plain HTTP, plain AMQP.
source scripts/lib/hub.sh
read -r https_port mqtts_port mqtt_port http_port amqp_port < <(free_ports 5)

data=$(mktemp -d /tmp/iothub-main-job.XXXXXX)
hub_pid=""
cleanup() {
    stop_hub "$hub_pid"
    if [ "${KEEP_DATA:-0}" != 1 ]; then rm -rf "$data"; else echo "main job: hub data kept in $data"; fi
}
trap cleanup EXIT

echo "main job: starting the hub (SQLite store in $data)"
"$bin/iothub" serve --data-dir "$data" --hostname localhost --https-port "$https_port" --mqtts-port "$mqtts_port" \
    --plain-mqtt-port "$mqtt_port" --plain-http-port "$http_port" --amqps-port 0 --plain-amqp-port "$amqp_port" --storage-port 0 \
    > "$data/hub.log" 2>&1 &
hub_pid=$!
wait_for_hub "$hub_pid" "$data/hub.log" "$mqtt_port" "$http_port" "$amqp_port"

owner=$("$bin/iothub" connection-string --data-dir "$data")
mkdir -p bench-results
status=0
duration_flag=()
[ -n "${DURATION:-}" ] && duration_flag=(--duration-seconds "$DURATION")
"$bin/fleetsim" run --connection-string "$owner" --endpoint "http://127.0.0.1:$http_port" --gateway 127.0.0.1 \
    --plain-mqtt-port "$mqtt_port" --plain-amqp-port "$amqp_port" --loops "$LOOPS" --scenario "$SCENARIO" --scale "$SCALE" \
    --output "$REPORT_DIR" "${duration_flag[@]}" || status=$?

stored=$(curl -s "http://127.0.0.1:$http_port/metrics" | awk '/^iothub_messages_in_total/ {sum += $NF} END {print sum + 0}')
echo "hub: $stored telemetry messages ingested (iothub_messages_in_total on /metrics)"
exit "$status"
