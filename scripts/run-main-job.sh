#!/usr/bin/env bash
# The main job: start the companion hub on its embedded SQLite store, run a simulated fleet against it, and print
# the fleet's report (devices connected, messages acknowledged, throughput, send→PUBACK latency percentiles).
#
# Knobs (environment): DEVICES (1000), MESSAGES per device (20), LOOPS (2), CONFIG (release | debug),
# KEEP_DATA=1 keeps the hub's data directory. The JSON report goes to bench-results/main-job.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH

DEVICES=${DEVICES:-1000}
MESSAGES=${MESSAGES:-20}
LOOPS=${LOOPS:-2}
CONFIG=${CONFIG:-release}

bash scripts/install-deps.sh

echo "main job: building iothub and fleetsim ($CONFIG)"
swift build -c "$CONFIG" --product iothub
swift build -c "$CONFIG" --product fleetsim
bin=$(swift build -c "$CONFIG" --show-bin-path)

# Four free loopback ports: HTTPS, MQTT over TLS, plain MQTT, plain HTTP.
source scripts/lib/hub.sh
read -r https_port mqtts_port mqtt_port http_port < <(free_ports 4)

data=$(mktemp -d /tmp/iothub-main-job.XXXXXX)
hub_pid=""
cleanup() {
    stop_hub "$hub_pid"
    if [ "${KEEP_DATA:-0}" != 1 ]; then rm -rf "$data"; else echo "main job: hub data kept in $data"; fi
}
trap cleanup EXIT

echo "main job: starting the hub (SQLite store in $data)"
"$bin/iothub" serve --data-dir "$data" --hostname localhost --https-port "$https_port" --mqtts-port "$mqtts_port" \
    --plain-mqtt-port "$mqtt_port" --plain-http-port "$http_port" --amqps-port 0 > "$data/hub.log" 2>&1 &
hub_pid=$!
wait_for_hub "$hub_pid" "$data/hub.log" "$mqtt_port" "$http_port"

owner=$("$bin/iothub" connection-string --data-dir "$data")
mkdir -p bench-results
status=0
"$bin/fleetsim" --connection-string "$owner" --endpoint "http://127.0.0.1:$http_port" --gateway 127.0.0.1 \
    --plain-mqtt-port "$mqtt_port" --devices "$DEVICES" --messages "$MESSAGES" --loops "$LOOPS" \
    --json bench-results/main-job.json || status=$?

stored=$(curl -s "http://127.0.0.1:$http_port/metrics" | awk '/^iothub_messages_in_total/ {sum += $NF} END {print sum + 0}')
echo "hub: $stored telemetry messages ingested (iothub_messages_in_total on /metrics)"
exit "$status"
