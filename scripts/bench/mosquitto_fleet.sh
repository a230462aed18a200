#!/usr/bin/env bash
# mosquitto-fleet (make bench, BENCH=mosquitto-fleet): one `fleetsim run` puts MOSQUITTO_FLEET_DEVICES (100,000)
# native MQTT devices on several Mosquitto processes. A process may open 20,000 files here, so each Mosquitto
# carries at most MOSQUITTO_PER_PROCESS (16,000) connections on its own loopback address (127.0.1.N, one port),
# and fleetsim spreads the devices over them (--gateway A,B,…) and over worker processes (15,000 devices each,
# each from its own source address). The devices send one 64-byte QoS 1 message every 30 s.
#
# Once every connection is up it samples resident memory and descriptors of fleetsim's processes and of each
# Mosquitto, and writes bench-results/mosquitto-fleet.json: bytes and descriptors per device (gross: whole
# processes divided by devices; and the slope between a third of the fleet connected and all of it), the
# connections each Mosquitto holds, and fleetsim's own CPU figures. Usage: mosquitto_fleet.sh BIN_DIR
set -euo pipefail
bin=$1
devices=${MOSQUITTO_FLEET_DEVICES:-100000}
per_process=${MOSQUITTO_PER_PROCESS:-16000}
processes=$(( (devices + per_process - 1) / per_process ))
work=$(mktemp -d /tmp/mosquitto-fleet.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
sim=""
cleanup() {
    [ -n "$sim" ] && kill "$sim" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

gateways=()
for n in $(seq 1 "$processes"); do
    address=127.0.1.$n
    cat > "$work/mosquitto-$n.conf" <<EOF
listener $port $address
allow_anonymous true
max_connections -1
persistence false
log_dest stdout
EOF
    (ulimit -n 20000; exec mosquitto -c "$work/mosquitto-$n.conf" > "$work/mosquitto-$n.log" 2>&1) &
    pids+=($!)
    gateways+=("$address")
done
for address in "${gateways[@]}"; do
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null && break; sleep 0.05; done
done
echo "bench: $processes Mosquitto processes on ${gateways[0]}…${gateways[-1]}:$port for $devices devices"

cat > "$work/idle.yaml" <<EOF
name: mosquitto-fleet
duration: 60s
groups:
  - name: sensors
    count: $devices
    ids: "mqfleet-{index:06}"
    security: plain
    telemetry:
      interval: 30s
      size: 64
      payload: {value: {uniform: {min: 0, max: 100}}}
    lifecycle:
      connectRate: 5000/s
EOF
# Mosquitto has no registry and takes any credentials: keys come from a seed, nothing is provisioned.
seed=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
"$bin/fleetsim" run --connection-string "HostName=mosquitto.local;SharedAccessKeyName=iothubowner;SharedAccessKey=$seed" \
    --no-provision --seed "$seed" --gateway "$(IFS=,; echo "${gateways[*]}")" --plain-mqtt-port "$port" --loops 2 \
    --scenario "$work/idle.yaml" --quiet --output "$work/report" > "$work/fleetsim.log" 2>&1 &
sim=$!

established() { ss -Htn state established "( sport = :$port and src 127.0.1.0/24 )" | wc -l; }
sim_rss() {  # kB, fleetsim and its workers
    local total=0 pid
    for pid in $sim $(pgrep -f "fleetsim worker" || true); do
        total=$(( total + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0) ))
    done
    echo "$total"
}
cpu_ticks() {  # user + system clock ticks of the given processes
    local total=0 pid
    for pid in "$@"; do
        total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
    done
    echo "$total"
}
sim_pids() { echo "$sim" $(pgrep -f "fleetsim worker" || true); }
sim_fds() {
    local total=0 pid
    for pid in $sim $(pgrep -f "fleetsim worker" || true); do
        total=$(( total + $(ls "/proc/$pid/fd" 2>/dev/null | wc -l) ))
    done
    echo "$total"
}

third=$(( devices / 3 ))
first_connections=0 first_rss=0 first_fds=0
for _ in $(seq 1 1200); do
    now=$(established)
    if [ "$first_connections" = 0 ] && [ "$now" -ge "$third" ]; then
        first_connections=$now first_rss=$(sim_rss) first_fds=$(sim_fds)
    fi
    [ "$now" -ge "$devices" ] && break
    kill -0 "$sim" 2>/dev/null || { echo "bench: fleetsim exited early:" >&2; tail -20 "$work/fleetsim.log" >&2; exit 1; }
    sleep 0.25
done
# Ten seconds with the whole fleet up: what the simulator and Mosquitto spend on it (keep-alives, 1 message per
# device per 30 s), before anything else is sampled.
sim_cpu0=$(cpu_ticks $(sim_pids)) mosquitto_cpu0=$(cpu_ticks "${pids[@]}")
sleep 10
sim_cpu1=$(cpu_ticks $(sim_pids)) mosquitto_cpu1=$(cpu_ticks "${pids[@]}")
connections=$(established)
rss=$(sim_rss)
fds=$(sim_fds)
coordinator_rss=$(awk '/VmRSS/ {print $2}' "/proc/$sim/status")
workers=$(pgrep -fc "fleetsim worker" || true)
mosquitto_rss=() mosquitto_connections=()
for n in $(seq 1 "$processes"); do
    mosquitto_rss+=("$(awk '/VmRSS/ {print $2}' "/proc/${pids[$((n - 1))]}/status")")
    mosquitto_connections+=("$(ss -Htn state established "( sport = :$port and src 127.0.1.$n )" | wc -l)")
done
echo "bench: $connections connections up; fleetsim ${rss} kB RSS, $fds descriptors over $workers workers"
wait "$sim" || { echo "bench: fleetsim failed:" >&2; tail -30 "$work/fleetsim.log" >&2; exit 1; }
sim=""
cat "$work/fleetsim.log" | grep -E "^fleetsim: CPU|telemetry acknowledged|Every count|problem" || true

python3 - "$devices" "$connections" "$rss" "$fds" "$first_connections" "$first_rss" "$first_fds" "$workers" \
    "${mosquitto_rss[*]}" "${mosquitto_connections[*]}" "$work/report/run.json" "$work/fleetsim.log" \
    "$coordinator_rss" "$sim_cpu0 $sim_cpu1 $mosquitto_cpu0 $mosquitto_cpu1 $(getconf CLK_TCK)" <<'PY' \
    | tee bench-results/mosquitto-fleet.json
import json, re, sys
devices, connections, rss, fds, c0, rss0, fds0, workers = (int(x) for x in sys.argv[1:9])
mosquitto_rss = [int(x) for x in sys.argv[9].split()]
mosquitto_connections = [int(x) for x in sys.argv[10].split()]
run = json.load(open(sys.argv[11]))
counters = run.get("metrics", {}).get("counters", {})
cpu = re.search(r"CPU ([0-9.]+) s .*?; ([0-9.]+) ms per 1,000", open(sys.argv[12]).read())
coordinator = int(sys.argv[13])
sim_cpu0, sim_cpu1, mq_cpu0, mq_cpu1, ticks = (float(x) for x in sys.argv[14].split())
slope = lambda a, b: round((a - b) * 1024 / (connections - c0)) if connections > c0 else None
print(json.dumps({
    "benchmark": "mosquitto-fleet", "devices": devices, "connected": connections,
    "fleetsimWorkers": workers, "mosquittoProcesses": len(mosquitto_rss),
    # gross: every fleetsim process over the devices; netOfProcessBaseline: less a process's baseline (the
    # coordinator's RSS, which carries no devices) per worker; slope: between a third connected and all.
    "simulatorBytesPerDevice": {"gross": round(rss * 1024 / max(1, connections)),
                                "netOfProcessBaseline": round((rss - (workers + 1) * coordinator) * 1024 / max(1, connections)),
                                "slope": slope(rss, rss0)},
    "simulatorProcessBaselineKB": coordinator,
    "simulatorFdsPerDevice": {"gross": round(fds / max(1, connections), 3),
                              "slope": round((fds - fds0) / (connections - c0), 3) if connections > c0 else None},
    "mosquittoBytesPerConnection": round(sum(mosquitto_rss) * 1024 / max(1, connections)),
    "mosquittoConnections": mosquitto_connections,
    "acknowledged": counters.get("d2c.acknowledged"), "sent": counters.get("d2c.sent"),
    "steadyState10s": {"simulatorCores": round((sim_cpu1 - sim_cpu0) / ticks / 10, 3),
                       "mosquittoCores": round((mq_cpu1 - mq_cpu0) / ticks / 10, 3)},
    "simulatorCPUSeconds": float(cpu.group(1)) if cpu else None,
    "simulatorCPUMillisecondsPer1000Messages": float(cpu.group(2)) if cpu else None,
    "targets": {"devices": 100000, "simulatorBytesPerDevice": 2048, "simulatorFdsPerDevice": 1},
}))
PY
