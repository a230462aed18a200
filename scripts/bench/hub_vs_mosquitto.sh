#!/usr/bin/env bash
# hub-vs-mosquitto (make bench, BENCH=hub-vs-mosquitto): the same fleetsim workloads against Mosquitto (in memory,
# its defaults) and the companion hub (durable: every message committed to SQLite before its PUBACK), one after the
# other in one run, so that the ratios (hub ÷ Mosquitto) compare like with like on a noisy machine:
#   1. ingest: INGEST_DEVICES (1000) devices × INGEST_MESSAGES (200) QoS 1 messages of 256 B, 10 in flight each;
#   2. connect storm: STORM_DEVICES (5000) connects paced at STORM_RATE (12000/s) (the hub checks a SAS token on each);
#   3. idle: IDLE_DEVICES (15000) connections held open; resident memory per connection of the broker;
#   4-5. round trips (the hub only: Mosquitto has no twins, methods or C2D queues): Simulator/scenarios/
#      bench-roundtrips.yaml, methods, desired patches and C2D at fixed rates beside telemetry at about half the
#      peak, with D2C end to end through the hub's telemetry stream;
#   6. TLS handshakes/s with openssl s_time, against openssl s_server and against the hub's MQTT-over-TLS port;
#   7. allocations per telemetry message in the hub (heaptrack), printed and kept in the JSON.
# For each target it records its CPU per 1,000 messages and fleetsim's own. Writes bench-results/hub-vs-mosquitto.json
# and prints a table. Usage: hub_vs_mosquitto.sh BIN_DIR
set -euo pipefail
bin=$1
status=0
source scripts/lib/hub.sh
INGEST_DEVICES=${INGEST_DEVICES:-1000}
INGEST_MESSAGES=${INGEST_MESSAGES:-200}
STORM_DEVICES=${STORM_DEVICES:-5000}
IDLE_DEVICES=${IDLE_DEVICES:-15000}
work=$(mktemp -d /tmp/hub-vs-mosquitto.XXXXXX)
read -r https mqtts mqtt http amqps amqp broker < <(free_ports 7)
mosquitto_pid="" hub_pid=""
cleanup() {
    [ -n "$mosquitto_pid" ] && kill "$mosquitto_pid" 2>/dev/null || true
    stop_hub "$hub_pid"
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/mosquitto.conf" <<EOF
listener $broker 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
log_dest none
EOF
(ulimit -n 20000; exec mosquitto -c "$work/mosquitto.conf") &
mosquitto_pid=$!
(ulimit -n 20000; exec "$bin/iothub" serve --data-dir "$work/hub" --hostname localhost --https-port "$https" \
    --mqtts-port "$mqtts" --plain-mqtt-port "$mqtt" --plain-http-port "$http" --amqps-port "$amqps" \
    --plain-amqp-port "$amqp" --storage-port 0 --log-level warning) > "$work/hub.log" 2>&1 &
hub_pid=$!
wait_for_hub "$hub_pid" "$work/hub.log" "$mqtt" "$http"
wait_for_hub "$mosquitto_pid" /dev/null "$broker"
owner=$("$bin/iothub" connection-string --data-dir "$work/hub")
# Mosquitto checks no credentials: any well-formed connection string will do.
anyone="HostName=localhost;SharedAccessKeyName=fleetsim;SharedAccessKey=ZmxlZXRzaW0="

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# run_fleet NAME TARGET_PID ARGS...: one fleetsim run; writes $work/NAME.json and $work/NAME.cpu (target ticks).
run_fleet() {
    local name=$1 pid=$2 before
    shift 2
    before=$(ticks "$pid")
    "$bin/fleetsim" run --gateway 127.0.0.1 --json "$work/$name.json" "$@" > "$work/$name.log" 2>&1 || {
        echo "bench: $name did not complete:" >&2; tail -12 "$work/$name.log" >&2; return 1; }
    echo $(( $(ticks "$pid") - before )) > "$work/$name.cpu"
    grep "fleetsim: CPU" "$work/$name.log" | sed 's/.*; \([0-9.]*\) ms per.*/\1/' > "$work/$name.simcpu" || true
}

# The hub's devices exist before anything is timed (creating them is the provision benchmark's business).
# Device keys derive from this seed, so the timed runs create nothing (--no-provision --seed).
seed=ZmxlZXRzaW0tYmVuY2gtc2VlZC0wMTIzNDU2Nzg5YWI=
fleet_size=$(( IDLE_DEVICES > STORM_DEVICES ? IDLE_DEVICES : STORM_DEVICES ))
echo "bench: creating $fleet_size devices on the hub"
"$bin/fleetsim" provision --connection-string "$owner" --endpoint "http://127.0.0.1:$http" --devices "$fleet_size" \
    --prefix bench- --seed "$seed" > "$work/provision.log" 2>&1
hub=(--connection-string "$owner" --no-provision --seed "$seed" --plain-mqtt-port "$mqtt" --prefix bench-)
mosquitto=(--connection-string "$anyone" --no-provision --plain-mqtt-port "$broker" --prefix bench-)
ingest=(--devices "$INGEST_DEVICES" --messages "$INGEST_MESSAGES" --window 10 --payload-bytes 256 --connect-concurrency 256)
# Paced at STORM_RATE (12,000/s, above the 10,000/s target): the native engine opens sockets as fast as it is let,
# and Mosquitto listens with a backlog of 100, past which a SYN waits a second to be sent again.
storm=(--devices "$STORM_DEVICES" --messages 0 --connect-rate "${STORM_RATE:-12000}")

for target in mosquitto hub; do
    if [ "$target" = hub ]; then args=("${hub[@]}"); pid=$hub_pid; else args=("${mosquitto[@]}"); pid=$mosquitto_pid; fi
    echo "bench: $target: ingest, $INGEST_DEVICES devices × $INGEST_MESSAGES messages"
    run_fleet "ingest-$target" "$pid" "${args[@]}" "${ingest[@]}"
    echo "bench: $target: connect storm, $STORM_DEVICES devices"
    run_fleet "storm-$target" "$pid" "${args[@]}" "${storm[@]}"
    echo "bench: $target: $IDLE_DEVICES idle connections"
    before=$(rss_kb "$pid")
    "$bin/fleetsim" run --gateway 127.0.0.1 "${args[@]}" --devices "$IDLE_DEVICES" --messages 2 --interval-ms 25000 \
        --connect-rate 4000 > "$work/idle-$target.log" 2>&1 &
    sim=$!
    for _ in $(seq 1 600); do
        [ "$(ls "/proc/$sim/fd" 2>/dev/null | wc -l)" -ge "$IDLE_DEVICES" ] && break
        sleep 0.1
    done
    sleep 6
    echo "$before $(rss_kb "$pid")" > "$work/idle-$target.rss"
    wait "$sim" || { echo "bench: idle $target did not complete:" >&2; tail -8 "$work/idle-$target.log" >&2; exit 1; }
done

echo "bench: hub: round trips (Simulator/scenarios/bench-roundtrips.yaml)"
before=$(ticks "$hub_pid")
echo 1 > "$work/roundtrips.rc"
"$bin/fleetsim" run --scenario Simulator/scenarios/bench-roundtrips.yaml --connection-string "$owner" \
    --endpoint "http://127.0.0.1:$http" --gateway 127.0.0.1 --plain-mqtt-port "$mqtt" --quiet \
    --output "$work/roundtrips" > "$work/roundtrips.log" 2>&1 && echo 0 > "$work/roundtrips.rc" || {
    echo "bench: the round-trip scenario's counts do not add up (its report says which):" >&2
    sed -n '/Counts that do not add up/,/^$/p' "$work/roundtrips.log" >&2
    status=1; }
echo $(( $(ticks "$hub_pid") - before )) > "$work/roundtrips.cpu"

# 6. TLS handshakes/s: `openssl s_time` (full handshakes, one client) against `openssl s_server` with the hub's own
#    certificate and key, then against the hub's MQTT-over-TLS port: the same client, key type and machine.
echo "bench: TLS handshakes (openssl s_time against openssl s_server, then the hub)"
read -r tls_port < <(free_ports 1)
openssl s_server -accept "$tls_port" -cert "$work/hub/tls/server.pem" -key "$work/hub/tls/server.key" -quiet \
    > /dev/null 2>&1 &
s_server_pid=$!
wait_for_hub "$s_server_pid" /dev/null "$tls_port"
# s_time's own "real seconds" are whole seconds: the rate is its count over the wall time measured here.
s_time() {
    local start count end
    start=$(date +%s.%N)
    count=$(openssl s_time -connect "127.0.0.1:$1" -new -time "${TLS_SECONDS:-5}" 2>/dev/null \
        | awk '/connections in .*s;/ {print $1; exit}')
    end=$(date +%s.%N)
    python3 -c "import sys; print(round(int(sys.argv[1] or 0) / (float(sys.argv[3]) - float(sys.argv[2])), 1))" \
        "${count:-0}" "$start" "$end"
}
echo "$(s_time "$tls_port") $(s_time "$mqtts")" > "$work/tls.txt"
kill "$s_server_pid" 2>/dev/null || true

# 7. Allocations per telemetry message in the hub, counted by heaptrack (repeatable, unlike timings): two short
#    ingest runs of different lengths against a hub of their own, each under heaptrack; the slope between them is
#    what one more message costs, with start-up, provisioning and connects cancelled out.
if command -v heaptrack > /dev/null; then
    echo "bench: allocations per message (heaptrack, ${ALLOC_DEVICES:-100} devices, 50 and 250 messages each)"
    for messages in 50 250; do
        read -r a_https a_mqtts a_mqtt a_http a_amqps a_amqp < <(free_ports 6)
        heaptrack -o "$work/alloc-$messages" "$bin/iothub" serve --data-dir "$work/alloc-hub-$messages" \
            --hostname localhost --https-port "$a_https" --mqtts-port "$a_mqtts" --plain-mqtt-port "$a_mqtt" \
            --plain-http-port "$a_http" --amqps-port "$a_amqps" --plain-amqp-port "$a_amqp" --storage-port 0 --log-level warning \
            > "$work/alloc-$messages.log" 2>&1 &
        alloc_pid=$!
        wait_for_hub "$alloc_pid" "$work/alloc-$messages.log" "$a_mqtt" "$a_http"
        alloc_owner=$("$bin/iothub" connection-string --data-dir "$work/alloc-hub-$messages")
        "$bin/fleetsim" provision --connection-string "$alloc_owner" --endpoint "http://127.0.0.1:$a_http" \
            --devices "${ALLOC_DEVICES:-100}" --prefix bench- --seed "$seed" > /dev/null
        "$bin/fleetsim" run --gateway 127.0.0.1 --connection-string "$alloc_owner" --no-provision --seed "$seed" \
            --plain-mqtt-port "$a_mqtt" --prefix bench- --devices "${ALLOC_DEVICES:-100}" --messages "$messages" \
            --window 10 --payload-bytes 256 --json "$work/alloc-run-$messages.json" > /dev/null 2>&1
        # The hub itself, not heaptrack's wrapper (whose command line contains the hub's): the wrapper exits once
        # the hub has and the profile is written.
        pkill -TERM -f "^$bin/iothub serve --data-dir $work/alloc-hub-$messages" || true
        wait "$alloc_pid" 2>/dev/null || true
        heaptrack_print -f "$work/alloc-$messages.zst" --print-peaks 0 --print-allocators 0 --print-temporary 0 \
            --print-leaks 0 2>/dev/null | awk '/^calls to allocation functions/ {print $5}' > "$work/alloc-$messages.calls"
    done
fi

mkdir -p bench-results
rm -rf bench-results/hub-roundtrips
cp -r "$work/roundtrips" bench-results/hub-roundtrips
python3 scripts/bench/hub_vs_mosquitto_report.py "$work" "$(getconf CLK_TCK)" "$INGEST_DEVICES" "$IDLE_DEVICES" \
    > bench-results/hub-vs-mosquitto.json
python3 scripts/bench/hub_vs_mosquitto_report.py --table bench-results/hub-vs-mosquitto.json
exit "$status"
