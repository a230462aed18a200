# Shell helpers for scripts that start the companion hub (sourced by run-main-job.sh and bench.sh).

# free_ports N: prints N free loopback TCP ports on one line.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in sockets])
PY
}

# wait_for_hub PID LOG PORT...: waits (up to 20 s) until every PORT accepts on 127.0.0.1; if the hub process PID
# exits first, prints LOG and exits 1.
wait_for_hub() {
    local pid=$1 log=$2 port ready
    shift 2
    for _ in $(seq 1 400); do
        ready=1
        for port in "$@"; do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { ready=0; break; }
        done
        [ "$ready" = 1 ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "the hub exited:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "the hub did not open ports $* within 20 s:" >&2
    cat "$log" >&2
    exit 1
}

# stop_hub PID: SIGTERM and wait, if it is still running.
stop_hub() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1"
        wait "$1" 2>/dev/null || true
    fi
}
