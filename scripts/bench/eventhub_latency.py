"""make bench (BENCH=eventhub-latency): end-to-end latency from a device's send to an azure-eventhub receive.

A fleetsim fleet sends at a steady rate over plain MQTT (each message carries its send time in `ts`); the official
azure-eventhub client (pyamqp) reads every partition of the hub's built-in endpoint from the end and records, per
event, receive time - send time and receive time - x-opt-enqueued-time. Prints and writes JSON with the
percentiles; asserts nothing.

Usage: eventhub_latency.py --connection-string EH_CS --amqps-port PORT --ca CA --fleetsim BIN --owner OWNER_CS
       --endpoint URL --mqtt-port PORT --devices N --rate PER_DEVICE_PER_S --seconds S --json OUT
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from azure.eventhub import EventHubConsumerClient, TransportType


def parse_time(text):
    # IoT Hub's 7-digit fractions; Python takes 6.
    if text.endswith("Z"):
        text = text[:-1]
    if "." in text:
        head, fraction = text.split(".", 1)
        text = head + "." + fraction[:6]
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


def delay_buckets(endpoint):
    """The hub's iothub_eventhub_delivery_delay_seconds histogram: {upper bound in s: cumulative count}."""
    import urllib.request
    buckets = {}
    try:
        with urllib.request.urlopen(endpoint + "/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return buckets
    for line in text.splitlines():
        if line.startswith("iothub_eventhub_delivery_delay_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_quantile(before, after, q):
    """The smallest bucket bound (ms) holding the q-quantile of what was observed between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    for bound, count in zip(bounds, counts):
        if count >= q * counts[-1]:
            return None if bound == float("inf") else round(bound * 1000, 1)
    return None


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 2)


def main():
    parser = argparse.ArgumentParser()
    for name in ["connection-string", "amqps-port", "ca", "fleetsim", "owner", "endpoint", "mqtt-port", "json"]:
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--prefetch", type=int, default=50,
                        help="the receivers' prefetch (link credit). pyamqp hands events to on_event only after reading "
                             "a prefetch's worth of frames or a socket time-out, so a large prefetch at a low rate "
                             "measures the reader's batching, not the hub")
    parser.add_argument("--transport", choices=["pyamqp", "uamqp"], default="pyamqp",
                        help="azure-eventhub's AMQP stack: pyamqp (pure Python, the default) or uamqp (C)")
    args = parser.parse_args()

    client = EventHubConsumerClient.from_connection_string(
        args.connection_string, consumer_group="$Default", connection_verify=args.ca,
        custom_endpoint_address=f"sb://127.0.0.1:{args.amqps_port}", transport_type=TransportType.Amqp,
        uamqp_transport=args.transport == "uamqp")
    partitions = client.get_partition_ids()
    ready = set()
    end_to_end, after_enqueue = [], []
    lock = threading.Lock()

    def on_init(context):
        with lock:
            ready.add(context.partition_id)

    def on_event(context, event):
        if event is None:
            return
        now = time.time()
        try:
            sent = parse_time(json.loads(event.body_as_str())["ts"])
        except (ValueError, KeyError, TypeError):
            return
        with lock:
            end_to_end.append((now - sent) * 1000)
            if event.enqueued_time:
                after_enqueue.append((now - event.enqueued_time.timestamp()) * 1000)

    thread = threading.Thread(target=client.receive, daemon=True, kwargs=dict(
        on_event=on_event, on_partition_initialize=on_init, starting_position="@latest", prefetch=args.prefetch))
    thread.start()
    deadline = time.time() + 60
    while time.time() < deadline and len(ready) < len(partitions):
        time.sleep(0.1)
    time.sleep(2)  # the receivers' first credit

    interval_ms = max(1, int(1000 / args.rate))
    scenario = f"""name: eventhub-latency
duration: {args.seconds}s
groups:
  - name: senders
    count: {args.devices}
    ids: "eh-bench-{{index:04}}"
    security: plain
    telemetry:
      interval: {interval_ms}ms
      payload:
        ts: {{timestamp: {{}}}}
        value: {{uniform: {{min: 0, max: 100}}}}
    lifecycle:
      connectRate: 500/s
"""
    directory = tempfile.mkdtemp(prefix="eventhub-latency-")
    path = os.path.join(directory, "scenario.yaml")
    with open(path, "w") as handle:
        handle.write(scenario)
    delays_before = delay_buckets(args.endpoint)
    started = time.time()
    run = subprocess.run([args.fleetsim, "run", "--scenario", path, "--quiet", "--connection-string", args.owner,
                          "--endpoint", args.endpoint, "--gateway", "127.0.0.1", "--plain-mqtt-port", args.mqtt_port,
                          "--output", os.path.join(directory, "report")], capture_output=True, text=True)
    sent = None
    try:
        with open(os.path.join(directory, "report", "run.json")) as handle:
            report = json.load(handle)
        sent = report.get("metrics", {}).get("counters", {}).get("d2c.acknowledged")
    except (OSError, ValueError):
        pass
    time.sleep(5)  # the last events' way out
    delays_after = delay_buckets(args.endpoint)
    client.close()
    thread.join(10)
    with lock:
        received = len(end_to_end)
        result = {
            "benchmark": "eventhub-latency",
            "devices": args.devices, "perDeviceRate": args.rate, "targetRate": args.devices * args.rate,
            "seconds": args.seconds, "fleetsimExit": run.returncode,
            "acknowledged": sent, "received": received,
            "receivedRate": round(received / args.seconds, 1),
            "sendToReceiveMs": {"p50": percentile(end_to_end, 50), "p90": percentile(end_to_end, 90),
                                "p99": percentile(end_to_end, 99), "max": percentile(end_to_end, 100)},
            "enqueueToReceiveMs": {"p50": percentile(after_enqueue, 50), "p99": percentile(after_enqueue, 99)},
            # The hub's own share, from its metrics: enqueue (before the commit) to the transfer to the reader,
            # as histogram bucket bounds (the quantile is at most this).
            "hubEnqueueToSendMs": {"p50AtMost": bucket_quantile(delays_before, delays_after, 0.5),
                                   "p90AtMost": bucket_quantile(delays_before, delays_after, 0.9),
                                   "p99AtMost": bucket_quantile(delays_before, delays_after, 0.99)},
            "reader": "azure-eventhub (%s), all partitions, prefetch %d" % (args.transport, args.prefetch),
            "prefetch": args.prefetch,
            "wallSeconds": round(time.time() - started, 1),
        }
    if run.returncode != 0:
        result["fleetsimOutput"] = (run.stdout + run.stderr)[-2000:]
    text = json.dumps(result, indent=2)
    print(text)
    with open(args.json, "w") as handle:
        handle.write(text + "\n")


if __name__ == "__main__":
    main()
