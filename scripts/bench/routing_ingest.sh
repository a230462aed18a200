#!/usr/bin/env bash
# routing-ingest (make bench, BENCH=routing-ingest): what routes cost on ingest. One hub (durable, SQLite), one
# fleetsim QoS 1 ingest workload (ROUTING_DEVICES (1000) devices × ROUTING_MESSAGES (200) messages of 256 B, 10 in
# flight each), run four times in a row on the same hub:
#   1. baseline: no route (every message to events, routing skipped);
#   2. ten-routes: 10 routes with conditions on application properties, system properties and $body, of which one
#      (true -> events) matches: ten evaluations and one write per message;
#   3. ten-routes-two-matches: the same with a second route matching (true -> a custom event stream): two writes;
#   4. baseline again (the log is bigger by then: the mean of both baselines is the reference).
# Prints msg/s, the hub's CPU per 1,000 messages and the ratios to the baseline; writes bench-results/routing-ingest.json.
# Usage: routing_ingest.sh BIN_DIR
set -euo pipefail
bin=$1
source scripts/lib/hub.sh
DEVICES=${ROUTING_DEVICES:-1000}
MESSAGES=${ROUTING_MESSAGES:-200}
work=$(mktemp -d /tmp/routing-ingest.XXXXXX)
read -r https mqtts mqtt http amqps amqp < <(free_ports 6)
hub_pid=""
cleanup() {
    stop_hub "$hub_pid"
    rm -rf "$work"
}
trap cleanup EXIT
(ulimit -n 20000; exec "$bin/iothub" serve --data-dir "$work/hub" --hostname localhost --https-port "$https" \
    --mqtts-port "$mqtts" --plain-mqtt-port "$mqtt" --plain-http-port "$http" --amqps-port "$amqps" \
    --plain-amqp-port "$amqp" --storage-port 0 --log-level warning) > "$work/hub.log" 2>&1 &
hub_pid=$!
wait_for_hub "$hub_pid" "$work/hub.log" "$mqtt" "$http"
owner=$("$bin/iothub" connection-string --data-dir "$work/hub")
cli=(--data-dir "$work/hub" --hostname localhost --endpoint "http://127.0.0.1:$http")
seed=cm91dGluZy1iZW5jaC1zZWVkLTAxMjM0NTY3ODlhYmNkZWY=
echo "bench: routing-ingest: creating $DEVICES devices"
"$bin/fleetsim" provision --connection-string "$owner" --endpoint "http://127.0.0.1:$http" --devices "$DEVICES" \
    --prefix route- --seed "$seed" > "$work/provision.log" 2>&1
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {
    local name=$1 before
    before=$(ticks "$hub_pid")
    echo "bench: routing-ingest: $name"
    "$bin/fleetsim" run --gateway 127.0.0.1 --connection-string "$owner" --no-provision --seed "$seed" \
        --plain-mqtt-port "$mqtt" --prefix route- --devices "$DEVICES" --messages "$MESSAGES" --window 10 \
        --payload-bytes 256 --connect-concurrency 256 --json "$work/$name.json" > "$work/$name.log" 2>&1 || {
        echo "bench: $name did not complete:" >&2; tail -12 "$work/$name.log" >&2; exit 1; }
    echo $(( $(ticks "$hub_pid") - before )) > "$work/$name.cpu"
}

run baseline-1
"$bin/iothub" endpoint add hot --partitions 4 "${cli[@]}" > /dev/null
conditions=(
    "level = 'critical'"
    "\$connectionDeviceId = 'nobody'"
    "\$body.temperature > 1000"
    "alert = 'true' OR priority = 'high'"
    "\$contentType = 'text/plain' AND \$contentEncoding = 'utf-16'"
    "\$body.status IN ['fault', 'error']"
    "site = 'lab' AND \$body.value < 0"
    "NOT (\$connectionDeviceId != 'route-nobody')"
    "region IN ['eu', 'us'] AND tier = 'gold'"
)
for index in "${!conditions[@]}"; do
    "$bin/iothub" route add "r$index" --condition "${conditions[$index]}" --endpoint-name hot "${cli[@]}" > /dev/null
done
"$bin/iothub" route add r9 --condition true --endpoint-name events "${cli[@]}" > /dev/null
run ten-routes
"$bin/iothub" route update r8 --condition true "${cli[@]}" > /dev/null
run ten-routes-two-matches
"$bin/iothub" route fallback on "${cli[@]}" > /dev/null
for index in $(seq 0 9); do "$bin/iothub" route delete "r$index" "${cli[@]}" > /dev/null; done
run baseline-2

python3 - "$work" "$(getconf CLK_TCK)" "$DEVICES" "$MESSAGES" <<'PY'
import json, os, sys
work, tick, devices, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runs = {}
for name in ["baseline-1", "ten-routes", "ten-routes-two-matches", "baseline-2"]:
    with open(os.path.join(work, name + ".json")) as f:
        run = json.load(f)
    ticks = int(open(os.path.join(work, name + ".cpu")).read())
    acknowledged = run["acknowledged"]
    runs[name] = {"messagesPerSecond": round(run["messagesPerSecond"]), "acknowledged": acknowledged,
                  "pubackP50Ms": run["sendLatency"]["p50Ms"], "pubackP99Ms": run["sendLatency"]["p99Ms"],
                  "hubCpuMsPer1000": round(ticks * 1000 / tick / max(acknowledged, 1) * 1000, 2)}
base = (runs["baseline-1"]["messagesPerSecond"] + runs["baseline-2"]["messagesPerSecond"]) / 2
base_cpu = (runs["baseline-1"]["hubCpuMsPer1000"] + runs["baseline-2"]["hubCpuMsPer1000"]) / 2
result = {"benchmark": "routing-ingest", "devices": devices, "messagesPerDevice": messages, "runs": runs,
          "ratios": {name: {"messagesPerSecond": round(runs[name]["messagesPerSecond"] / base, 3),
                            "hubCpuPerMessage": round(runs[name]["hubCpuMsPer1000"] / base_cpu, 3)}
                     for name in ["ten-routes", "ten-routes-two-matches"]}}
os.makedirs("bench-results", exist_ok=True)
with open("bench-results/routing-ingest.json", "w") as f:
    json.dump(result, f, indent=2)
print("routing-ingest: %d devices x %d QoS 1 messages" % (devices, messages))
print("  %-24s %10s %12s %10s %10s" % ("run", "msg/s", "hub ms/1000", "p50 ms", "p99 ms"))
for name, run in runs.items():
    print("  %-24s %10d %12.1f %10s %10s" % (name, run["messagesPerSecond"], run["hubCpuMsPer1000"],
                                           run["pubackP50Ms"], run["pubackP99Ms"]))
for name, ratio in result["ratios"].items():
    print("  %s / baseline: throughput %.3f, hub CPU per message %.3f" % (name, ratio["messagesPerSecond"], ratio["hubCpuPerMessage"]))
PY
