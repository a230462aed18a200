"""hub-vs-mosquitto: turns the run's files into bench-results/hub-vs-mosquitto.json, or prints that JSON as a table.

    hub_vs_mosquitto_report.py WORK_DIR CLK_TCK INGEST_DEVICES IDLE_DEVICES   > hub-vs-mosquitto.json
    hub_vs_mosquitto_report.py --table hub-vs-mosquitto.json
"""
import json
import os
import sys


def load(work, name):
    with open(os.path.join(work, name + ".json")) as f:
        return json.load(f)


def read(work, name, default=None):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return f.read().strip()


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def measure(work, tick, idle_devices):
    out = {}
    for target in ("mosquitto", "hub"):
        ingest, storm = load(work, "ingest-" + target), load(work, "storm-" + target)
        ticks = int(read(work, "ingest-%s.cpu" % target, "0"))
        rss_before, rss_after = (int(x) for x in read(work, "idle-%s.rss" % target).split())
        acknowledged = ingest["acknowledged"]
        out[target] = {
            "ingest": {
                "messagesPerSecond": round(ingest["messagesPerSecond"]),
                "acknowledged": acknowledged, "planned": ingest["messagesPlanned"],
                "pubackP50Ms": ingest["sendLatency"]["p50Ms"], "pubackP99Ms": ingest["sendLatency"]["p99Ms"],
                "targetCpuMsPer1000": round(ticks * 1000 / tick / max(acknowledged, 1) * 1000, 2),
                "fleetsimCpuMsPer1000": float(read(work, "ingest-%s.simcpu" % target, "0") or 0),
            },
            "connectStorm": {
                "devices": storm["devices"], "connected": storm["connected"],
                "connectsPerSecond": round(storm["connected"] / storm["connectSeconds"]) if storm["connectSeconds"] else None,
                "connectP50Ms": storm["connectLatency"]["p50Ms"], "connectP99Ms": storm["connectLatency"]["p99Ms"],
            },
            "idle": {
                "connections": idle_devices,
                "bytesPerConnection": round((rss_after - rss_before) * 1024 / idle_devices),
            },
        }
    hub, mosquitto = out["hub"], out["mosquitto"]
    out["ratios"] = {
        "ingestMessagesPerSecond": ratio(hub["ingest"]["messagesPerSecond"], mosquitto["ingest"]["messagesPerSecond"]),
        "pubackP99": ratio(hub["ingest"]["pubackP99Ms"], mosquitto["ingest"]["pubackP99Ms"]),
        "cpuPerMessage": ratio(hub["ingest"]["targetCpuMsPer1000"], mosquitto["ingest"]["targetCpuMsPer1000"]),
        "connectsPerSecond": ratio(hub["connectStorm"]["connectsPerSecond"], mosquitto["connectStorm"]["connectsPerSecond"]),
        "bytesPerIdleConnection": ratio(hub["idle"]["bytesPerConnection"], mosquitto["idle"]["bytesPerConnection"]),
    }
    run_path = os.path.join(work, "roundtrips", "run.json")
    if os.path.exists(run_path):
        with open(run_path) as f:
            run = json.load(f)
        with open(os.path.join(work, "roundtrips", "report.md")) as f:
            out["hub"]["roundTrips"] = summarize_scenario(run, f.read())
        out["hub"]["roundTrips"]["countsAddUp"] = read(work, "roundtrips.rc") == "0"
        out["hub"]["roundTrips"]["hubCpuSeconds"] = round(int(read(work, "roundtrips.cpu", "0")) / tick, 2)
    tls = (read(work, "tls.txt") or "").split()
    if len(tls) == 2:
        server, hub_tls = (float(x) or None for x in tls)
        out["tls"] = {"opensslServerHandshakesPerSecond": round(server) if server else None,
                      "hubHandshakesPerSecond": round(hub_tls) if hub_tls else None,
                      "ratio": ratio(hub_tls, server)}
    short, long_ = read(work, "alloc-50.calls"), read(work, "alloc-250.calls")
    if short and long_:
        runs = [load(work, "alloc-run-%d" % m) for m in (50, 250)]
        extra = runs[1]["acknowledged"] - runs[0]["acknowledged"]
        out["hub"]["allocationsPerMessage"] = round((int(long_) - int(short)) / extra, 2) if extra else None
    out["targets"] = {"ingestRatio": 1.5, "pubackP99Ratio": 1.0, "bytesPerIdleConnection": 4096,
                      "connectsPerSecond": 10000, "d2cEndToEndP99Ms": 5}
    return {"benchmark": "hub-vs-mosquitto", **out}


def summarize_scenario(run, markdown):
    """Each operation's count, p50/p99 and failures, from the scenario's report.md table (run.json keeps the
    histograms themselves), and the telemetry rate it carried."""
    summary = {}
    header = None
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["operation", "count"]:
            header = cells
            continue
        if header and len(cells) == len(header) and not set(cells[0]) <= set("-: "):
            row = dict(zip(header, cells))
            try:
                summary[row["operation"]] = {"succeeded": int(row["count"]), "failed": int(row["failed"]),
                                             "p50Ms": float(row["p50 ms"]), "p99Ms": float(row["p99 ms"])}
            except (KeyError, ValueError):
                continue
        elif header and not line.strip():
            header = None
    counters = run.get("metrics", {}).get("counters") or {}
    seconds = run.get("durationSeconds") or 30
    summary["d2cPerSecond"] = round(counters.get("d2c.acknowledged", 0) / seconds)
    return summary


def find_key(node, key):
    if isinstance(node, dict):
        if key in node:
            return node[key]
        for value in node.values():
            found = find_key(value, key)
            if found is not None:
                return found
    return None


def table(path):
    with open(path) as f:
        data = json.load(f)
    hub, mosquitto, ratios = data["hub"], data["mosquitto"], data["ratios"]
    rows = [
        ("ingest msg/s", mosquitto["ingest"]["messagesPerSecond"], hub["ingest"]["messagesPerSecond"], ratios["ingestMessagesPerSecond"]),
        ("PUBACK p50 ms", mosquitto["ingest"]["pubackP50Ms"], hub["ingest"]["pubackP50Ms"], None),
        ("PUBACK p99 ms", mosquitto["ingest"]["pubackP99Ms"], hub["ingest"]["pubackP99Ms"], ratios["pubackP99"]),
        ("CPU ms / 1,000 msgs", mosquitto["ingest"]["targetCpuMsPer1000"], hub["ingest"]["targetCpuMsPer1000"], ratios["cpuPerMessage"]),
        ("connects/s", mosquitto["connectStorm"]["connectsPerSecond"], hub["connectStorm"]["connectsPerSecond"], ratios["connectsPerSecond"]),
        ("bytes / idle connection", mosquitto["idle"]["bytesPerConnection"], hub["idle"]["bytesPerConnection"], ratios["bytesPerIdleConnection"]),
    ]
    print("%-26s %12s %12s %10s" % ("workload", "mosquitto", "hub", "hub/mosq"))
    for name, m, h, r in rows:
        print("%-26s %12s %12s %10s" % (name, fmt(m), fmt(h), fmt(r)))
    tls = data.get("tls")
    if tls:
        print("%-26s %12s %12s %10s" % ("TLS handshakes/s", fmt(tls["opensslServerHandshakesPerSecond"]) + " (s_server)",
                                        fmt(tls["hubHandshakesPerSecond"]), fmt(tls["ratio"])))
    if hub.get("allocationsPerMessage") is not None:
        print("%-26s %12s %12s" % ("allocations / message", "", fmt(hub["allocationsPerMessage"])))
    trips = hub.get("roundTrips", {})
    if trips:
        print("hub round trips beside %s D2C msg/s (counts add up: %s)" % (trips.get("d2cPerSecond"), trips.get("countsAddUp")))
    for name, value in trips.items():
        if isinstance(value, dict):
            print("hub %-22s p50 %8s ms  p99 %8s ms  (%s succeeded, %s failed)" % (
                name, fmt(value.get("p50Ms")), fmt(value.get("p99Ms")), value.get("succeeded"), value.get("failed")))


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "%.2f" % value
    return str(value)


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(sys.argv[2])
    else:
        work, tick, ingest_devices, idle_devices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(measure(work, tick, idle_devices), indent=2))
