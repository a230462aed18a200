#!/usr/bin/env bash
# ingest-instructions (make bench, BENCH=ingest-instructions): instructions per ingested message, counted by
# valgrind's callgrind (instruction counts, unlike times, repeat on a busy machine). The hub runs under callgrind
# with collection off; after a warm-up it is switched on for INSTR_DEVICES (10) devices × INSTR_MESSAGES (200)
# QoS 1 messages of 256 B over plain MQTT, then off; Mosquitto gets the same. Writes
# bench-results/ingest-instructions.json with instructions per message for each and their ratio.
# Usage: ingest_instructions.sh BIN_DIR
set -euo pipefail
bin=$1
source scripts/lib/hub.sh
devices=${INSTR_DEVICES:-10}
messages=${INSTR_MESSAGES:-200}
work=$(mktemp -d /tmp/ingest-instructions.XXXXXX)
read -r https mqtts mqtt http amqps amqp broker < <(free_ports 7)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
seed=$(printf 'fleetsim-bench-seed-0123456789ab' | base64)

# count TARGET_PID NAME ARGS...: switches collection on, runs the fleet, switches it off, dumps; prints Ir.
count() {
    local pid=$1 name=$2 before after
    shift 2
    callgrind_control --instr=on "$pid" > /dev/null
    "$bin/fleetsim" run --gateway 127.0.0.1 --devices "$devices" --messages "$messages" --window 10 --payload-bytes 256 \
        --prefix instr- --deadline-seconds 300 "$@" > "$work/$name.log" 2>&1 || {
        echo "bench: the $name fleet did not complete:" >&2; tail -8 "$work/$name.log" >&2; exit 1; }
    callgrind_control --instr=off "$pid" > /dev/null
    callgrind_control --dump="$name" "$pid" > /dev/null
    sleep 1
    # The totals of every thread's dump made for this part.
    local file total=0
    for file in "$work"/callgrind.$name.out*; do
        [ -f "$file" ] || continue
        total=$(( total + $(awk '/^totals:/ {t = $2} /^summary:/ {s = $2} END {print (t != "" ? t : s) + 0}' "$file") ))
    done
    echo "$total"
}

cat > "$work/mosquitto.conf" <<EOF
listener $broker 127.0.0.1
allow_anonymous true
persistence false
log_dest none
EOF
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$work/callgrind.mosquitto.out" \
    mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto-vg.log" 2>&1 &
pids+=($!)
valgrind --tool=callgrind --collect-atstart=no --separate-threads=yes --callgrind-out-file="$work/callgrind.hub.out" \
    "$bin/iothub" serve --data-dir "$work/hub" --hostname localhost --https-port "$https" --mqtts-port "$mqtts" \
    --plain-mqtt-port "$mqtt" --plain-http-port "$http" --amqps-port "$amqps" --plain-amqp-port "$amqp" \
    --log-level warning > "$work/hub-vg.log" 2>&1 &
pids+=($!)
hub_pid=${pids[1]} mosquitto_pid=${pids[0]}
for _ in $(seq 1 1200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$http") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$broker") 2>/dev/null && break
    sleep 0.1
done
owner=$("$bin/iothub" connection-string --data-dir "$work/hub")
"$bin/fleetsim" provision --connection-string "$owner" --endpoint "http://127.0.0.1:$http" --devices "$devices" \
    --prefix instr- --seed "$seed" > /dev/null
hub=(--connection-string "$owner" --no-provision --seed "$seed" --plain-mqtt-port "$mqtt")
mosquitto=(--connection-string "HostName=localhost;SharedAccessKeyName=x;SharedAccessKey=eA==" --no-provision --plain-mqtt-port "$broker")
# Warm-up: the first connections and messages pay for lazy initialisation.
"$bin/fleetsim" run --gateway 127.0.0.1 --devices "$devices" --messages 20 --prefix instr- "${hub[@]}" > /dev/null
"$bin/fleetsim" run --gateway 127.0.0.1 --devices "$devices" --messages 20 --prefix instr- "${mosquitto[@]}" > /dev/null
hub_ir=$(count "$hub_pid" hub "${hub[@]}")
mosquitto_ir=$(count "$mosquitto_pid" mosquitto "${mosquitto[@]}")
mkdir -p bench-results
python3 - "$hub_ir" "$mosquitto_ir" "$devices" "$messages" <<'PY' | tee bench-results/ingest-instructions.json
import json, sys
hub, mosquitto, devices, messages = (int(x) for x in sys.argv[1:5])
total = devices * messages
print(json.dumps({"benchmark": "ingest-instructions", "messages": total,
                  "note": "each count includes its fleet's connects and disconnects",
                  "hubInstructionsPerMessage": round(hub / total), "mosquittoInstructionsPerMessage": round(mosquitto / total),
                  "ratio": round(hub / mosquitto, 2) if mosquitto else None}))
PY
