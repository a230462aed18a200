#!/usr/bin/env python3
"""A mixed hostile load against an `iothub serve` child process, and what a legitimate device sees meanwhile.

Started by `make hostile` (README, "Limits, throttling and tiers"). Loopback only; every loop is bounded by the
duration and stops by itself. The floods, each from its own loopback source address:

  connect-close   TCP connect-then-close on the plain MQTT port, as fast as one thread can (127.0.0.2)
  twin-flood      an authenticated device writes 20,000 $iothub/twin/GET packets in one go and never reads;
                  a new such connection every 20 s (127.0.0.3)
  half-http       connections that send half a request head to the plain HTTP port and then nothing, kept at
                  up to 2,000 open (127.0.0.4)
  huge-connect    CONNECTs announcing 255 KB, and CONNECTs of 30 KB sent without their last byte (127.0.0.5)
  bad-logins      CONNECTs with a wrong SAS signature, from 127.0.0.6 to 127.0.0.9

Every 2 s a legitimate device (127.0.0.1) connects, sends one QoS 1 message and reads its twin; each step's
latency is recorded. At the start and at the end (after the floods stopped and the hub's timeouts passed) the
hub's resident memory is read after malloc_trim(0) (called in the hub with gdb). Prints a table and writes JSON.
"""
import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import resource
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HOST = "hub.test"


# --- MQTT 3.1.1, the few packets needed -------------------------------------------------------------------------

def remaining_length(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def mqtt_string(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id, username, password, keep_alive=60):
    flags = 0x02 | 0x80 | 0x40
    body = mqtt_string("MQTT") + bytes([4, flags]) + struct.pack("!H", keep_alive)
    body += mqtt_string(client_id) + mqtt_string(username) + mqtt_string(password)
    return bytes([0x10]) + remaining_length(len(body)) + body


def publish_packet(topic, payload, packet_id=None):
    body = mqtt_string(topic)
    header = 0x30
    if packet_id is not None:
        header |= 0x02
        body += struct.pack("!H", packet_id)
    body += payload
    return bytes([header]) + remaining_length(len(body)) + body


def subscribe_packet(packet_id, topic):
    body = struct.pack("!H", packet_id) + mqtt_string(topic) + bytes([0])
    return bytes([0x82]) + remaining_length(len(body)) + body


def read_packet(sock):
    """One packet as (type, body), or None on close."""
    first = recv_exact(sock, 1)
    if first is None:
        return None
    multiplier, length = 1, 0
    while True:
        byte = recv_exact(sock, 1)
        if byte is None:
            return None
        length += (byte[0] & 0x7F) * multiplier
        multiplier *= 128
        if not byte[0] & 0x80:
            break
    body = recv_exact(sock, length) if length else b""
    if body is None:
        return None
    return first[0] >> 4, body


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# --- SAS ---------------------------------------------------------------------------------------------------------

def sas_token(resource, key_b64, ttl=3600, key_name=None):
    expiry = int(time.time()) + ttl
    encoded = urllib.parse.quote(resource, safe="").lower()
    signature = base64.b64encode(hmac.new(base64.b64decode(key_b64), f"{encoded}\n{expiry}".encode(),
                                          hashlib.sha256).digest()).decode()
    token = f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote(signature, safe='')}&se={expiry}"
    return token + (f"&skn={key_name}" if key_name else "")


# --- the hub -----------------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def trimmed_rss_kib(pid):
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "call (int)malloc_trim(0)"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return rss_kib(pid)


class Hub:
    def __init__(self, binary):
        self.directory = tempfile.mkdtemp(prefix="iothub-hostile-")
        self.mqtt, self.http, self.mqtts, self.https = free_port(), free_port(), free_port(), free_port()
        self.log = open(os.path.join(self.directory, "hub.log"), "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", self.directory, "--hostname", HOST, "--plain-mqtt-port", str(self.mqtt),
             "--plain-http-port", str(self.http), "--mqtts-port", str(self.mqtts), "--https-port", str(self.https),
             "--amqps-port", "0", "--storage-port", "0", "--log-level", "notice"], stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.owner_key = None
        for line in self.process.stdout:
            match = re.match(r"iothubowner: .*SharedAccessKey=(\S+)", line)
            if match:
                self.owner_key = match.group(1)
            if line.startswith("iothub ready"):
                break
        if not self.owner_key:
            raise SystemExit("hostile-load: the hub did not start (see %s)" % self.log.name)
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
        # "ready" comes before every listener is bound: wait until the plain ports accept.
        for port in (self.http, self.mqtt):
            for _ in range(3000):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.01)

    def rest(self, method, path, body=None):
        token = sas_token(HOST, self.owner_key, key_name="iothubowner")
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}?api-version=2021-04-12", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": token, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def device(self, device_id):
        record = self.rest("PUT", f"/devices/{device_id}", {"deviceId": device_id})
        return record["authentication"]["symmetricKey"]["primaryKey"]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def device_connect(device_id, key):
    return connect_packet(device_id, f"{HOST}/{device_id}/?api-version=2021-04-12",
                          sas_token(f"{HOST}/devices/{device_id}", key))


def tcp(port, source, timeout=10):
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


# --- the floods --------------------------------------------------------------------------------------------------

class Counters:
    """What one flood did; each flood runs in a process of its own (so the legitimate device's measurements do
    not wait for the floods' Python threads) and reports its counters at the end."""

    def __init__(self):
        self.values = {}

    def add(self, name, n=1):
        self.values[name] = self.values.get(name, 0) + n


class Ports:
    """The hub's plain ports, all a flood process needs."""

    def __init__(self, hub):
        self.mqtt, self.http = hub.mqtt, hub.http


def run_flood(target, ports, stop, results, *args):
    counters = Counters()
    try:
        target(ports, stop, counters, *args)
    finally:
        results.put(counters.values)


def connect_close(hub, stop, counters):
    while not stop.is_set():
        try:
            tcp(hub.mqtt, "127.0.0.2", timeout=2).close()
            counters.add("connect-close")
        except OSError:
            counters.add("connect-close refused")
            time.sleep(0.01)


def twin_flood(hub, stop, counters, key):
    flood = b"".join(publish_packet(f"$iothub/twin/GET/?$rid={i}", b"") for i in range(20_000))
    while not stop.is_set():
        try:
            sock = tcp(hub.mqtt, "127.0.0.3")
            sock.sendall(device_connect("flooder", key))
            read_packet(sock)
            sock.sendall(subscribe_packet(1, "$iothub/twin/res/#"))
            sock.settimeout(1)
            sent = 0
            deadline = time.time() + 20
            while sent < len(flood) and time.time() < deadline and not stop.is_set():
                try:
                    sent += sock.send(flood[sent:sent + 65536])
                except socket.timeout:
                    continue  # the hub stopped reading: that is the point
            counters.add("twin-flood bytes", sent)
            stop.wait(max(0, deadline - time.time()))
            sock.close()
        except OSError:
            counters.add("twin-flood errors")
            stop.wait(1)


def half_http(hub, stop, counters):
    open_connections = []
    while not stop.is_set():
        open_connections = [c for c in open_connections if c.fileno() >= 0]
        while len(open_connections) < 2_000 and not stop.is_set():
            try:
                sock = tcp(hub.http, "127.0.0.4", timeout=2)
                sock.sendall(b"GET /devices HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                sock.setblocking(False)
                open_connections.append(sock)
                counters.add("half-http opened")
            except OSError:
                counters.add("half-http refused")
                break
        # Reap the ones the hub closed.
        alive = []
        for sock in open_connections:
            try:
                if sock.recv(1) == b"":
                    sock.close()
                    counters.add("half-http closed by hub")
                    continue
            except BlockingIOError:
                pass
            except OSError:
                sock.close()
                counters.add("half-http closed by hub")
                continue
            alive.append(sock)
        open_connections = alive
        stop.wait(0.5)
    for sock in open_connections:
        sock.close()


def huge_connect(hub, stop, counters):
    announced = bytes([0x10]) + remaining_length(255 * 1024)
    body = mqtt_string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60) + mqtt_string("x") + mqtt_string("u")
    partial = bytes([0x10]) + remaining_length(30 * 1024) + body + b"p" * (30 * 1024 - len(body) - 1)
    held = []
    while not stop.is_set():
        try:
            sock = tcp(hub.mqtt, "127.0.0.5", timeout=2)
            sock.sendall(announced + b"a" * 4096)
            counters.add("huge-connect sent")
            sock.close()
            if len(held) < 500:
                sock = tcp(hub.mqtt, "127.0.0.5", timeout=2)
                sock.sendall(partial)
                held.append(sock)
        except OSError:
            counters.add("huge-connect refused")
            stop.wait(0.05)
        if len(held) >= 500:
            for sock in held:
                sock.close()
            held = []
    for sock in held:
        sock.close()


def bad_logins(hub, stop, counters, source):
    packet = connect_packet("victim", f"{HOST}/victim/?api-version=2021-04-12",
                            f"SharedAccessSignature sr={HOST}%2fdevices%2fvictim&sig=AAAA&se=9999999999")
    while not stop.is_set():
        try:
            sock = tcp(hub.mqtt, source, timeout=2)
            sock.sendall(packet)
            answer = read_packet(sock)
            counters.add("bad-login refused (CONNACK 5)" if answer else "bad-login closed before CONNECT")
            sock.close()
        except OSError:
            counters.add("bad-login closed before CONNECT")


# --- the legitimate device ---------------------------------------------------------------------------------------

def legit_round(hub, key):
    """Connect, send one QoS 1 message, read the twin; each step's latency in ms, or an error."""
    result = {}
    started = time.perf_counter()
    sock = tcp(hub.mqtt, "127.0.0.1")
    try:
        sock.sendall(device_connect("legit", key))
        packet = read_packet(sock)
        if not packet or packet[0] != 2 or packet[1][1] != 0:
            return {"error": f"CONNECT refused: {packet}"}
        result["connect_ms"] = (time.perf_counter() - started) * 1000
        sock.sendall(subscribe_packet(1, "$iothub/twin/res/#"))
        read_packet(sock)
        step = time.perf_counter()
        sock.sendall(publish_packet("devices/legit/messages/events/", b'{"t":21.5}', packet_id=7))
        packet = read_packet(sock)
        if not packet or packet[0] != 4:
            return {"error": f"no PUBACK: {packet}"}
        result["send_ms"] = (time.perf_counter() - step) * 1000
        step = time.perf_counter()
        sock.sendall(publish_packet("$iothub/twin/GET/?$rid=probe", b""))
        packet = read_packet(sock)
        if not packet or packet[0] != 3 or b"$iothub/twin/res/200/" not in packet[1]:
            return {"error": f"no twin: {packet}"}
        result["twin_ms"] = (time.perf_counter() - step) * 1000
        sock.sendall(bytes([0xE0, 0]))
        return result
    except OSError as error:
        return {"error": str(error)}
    finally:
        sock.close()


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hub", default=".build/release/iothub")
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--output", default="bench-results/hostile-load.json")
    arguments = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    hub = Hub(arguments.hub)
    try:
        legit_key = hub.device("legit")
        flooder_key = hub.device("flooder")
        hub.device("victim")
        warm = [legit_round(hub, legit_key) for _ in range(20)]
        start_rss = trimmed_rss_kib(hub.process.pid)
        print(f"hostile-load: hub pid {hub.process.pid}, RSS after malloc_trim {start_rss} KiB; "
              f"floods for {arguments.seconds} s")
        stop, results, ports = multiprocessing.Event(), multiprocessing.Queue(), Ports(hub)
        floods = [(connect_close,), (twin_flood, flooder_key), (half_http,), (huge_connect,)]
        floods += [(bad_logins, f"127.0.0.{i}") for i in range(6, 10)]
        threads = [multiprocessing.Process(target=run_flood, args=(flood[0], ports, stop, results) + flood[1:])
                   for flood in floods]
        for thread in threads:
            thread.start()
        rounds, peak_rss = [], 0
        deadline = time.time() + arguments.seconds
        while time.time() < deadline:
            rounds.append(legit_round(hub, legit_key))
            peak_rss = max(peak_rss, rss_kib(hub.process.pid))
            time.sleep(2)
        stop.set()
        counters = Counters()
        for _ in threads:
            for name, value in results.get(timeout=120).items():
                counters.add(name, value)
        for thread in threads:
            thread.join(timeout=60)
        time.sleep(35)  # the hub's CONNECT and HTTP deadlines (30 s) pass
        after = [legit_round(hub, legit_key) for _ in range(5)]
        end_rss = trimmed_rss_kib(hub.process.pid)
    finally:
        hub.stop()

    ok = [r for r in rounds if "error" not in r]
    errors = [r["error"] for r in rounds if "error" in r]
    summary = {"seconds": arguments.seconds, "rounds": len(rounds), "failed_rounds": len(errors),
               "errors": errors[:20], "floods": counters.values, "rss_start_kib": start_rss,
               "rss_peak_kib": peak_rss, "rss_end_kib": end_rss,
               "rss_end_vs_start": round(end_rss / start_rss, 3) if start_rss else None,
               "after_floods_ok": all("error" not in r for r in after), "warm_ok": all("error" not in r for r in warm)}
    for step in ("connect_ms", "send_ms", "twin_ms"):
        values = [r[step] for r in ok]
        summary[step] = {"p50": percentile(values, 50), "p99": percentile(values, 99),
                         "max": max(values) if values else None}
    summary["total_ms_max"] = max((r["connect_ms"] + r["send_ms"] + r["twin_ms"] for r in ok), default=None)
    os.makedirs(os.path.dirname(arguments.output) or ".", exist_ok=True)
    with open(arguments.output, "w") as out:
        json.dump(summary, out, indent=2)
    print(f"{'legitimate device under load':32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for step in ("connect_ms", "send_ms", "twin_ms"):
        row = summary[step]
        print(f"{step:32} " + " ".join(f"{v:8.1f}" if v is not None else "       -" for v in (row["p50"], row["p99"], row["max"])))
    print(f"rounds {len(rounds)}, failed {len(errors)}; after the floods ok: {summary['after_floods_ok']}")
    print(f"RSS after malloc_trim: start {start_rss} KiB, end {end_rss} KiB ({summary['rss_end_vs_start']}x), "
          f"peak {peak_rss} KiB")
    print("floods:", json.dumps(counters.values, sort_keys=True))
    print(f"wrote {arguments.output}")
    return 0 if not errors and summary["after_floods_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
