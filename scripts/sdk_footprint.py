#!/usr/bin/env python3
"""The device SDK's footprint as a firmware developer sees it: one `sample-telemetry` binary built with
`--static-swift-stdlib`, run against a hub that `make bench` started.

Reports the binary's size (as built and stripped), the shared libraries it needs at run time, whether Foundation
or ICU is inside it, and, once it is connected and sending one message every 250 ms, its resident memory and
thread count. Prints one line per binary and writes JSON (--json). Bounded: the sample sends --messages and exits.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def symbols(binary, needles):
    """How many symbols of `binary` contain each needle (nm reads the symbol table; stripped binaries have none)."""
    out = subprocess.run(["nm", binary], capture_output=True, text=True).stdout
    return {needle: sum(1 for line in out.splitlines() if needle in line) for needle in needles}


def stripped_size(binary):
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "stripped")
        shutil.copy(binary, copy)
        subprocess.run(["strip", copy], check=True)
        return os.path.getsize(copy)


def libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return sorted(line.split()[0] for line in out.splitlines() if "=>" in line)


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["Threads"])


def run_sample(binary, environment, transport, messages, settle):
    """Runs the sample until it is connected, lets it settle, samples RSS and threads, and waits for its exit."""
    env = dict(os.environ, **environment)
    # MQTT is the default; a sample from before the AMQP transport has no --transport option.
    arguments = ([] if transport == "mqtt" else ["--transport", transport]) + ["--count", str(messages), "--interval-ms", "250"]
    process = subprocess.Popen([binary] + arguments,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        connected, seen = False, []
        while time.time() < deadline and not connected:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            connected = "] connected" in line
        if not connected:
            raise RuntimeError(f"{binary} did not connect: {''.join(seen)}{process.stderr.read()}")
        time.sleep(settle)
        rss, threads = status(process.pid)
        stdout, stderr = process.communicate(timeout=messages * 0.25 + 60)
        if process.returncode != 0:
            raise RuntimeError(f"{binary} exited {process.returncode}: {stderr}")
        return {"residentBytes": rss, "threads": threads, "output": stdout.strip()}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def measure(label, binary, environment, transports, messages, settle):
    needles = ["FoundationInternationalization", "icu_", "FoundationEssentials", "Foundation"]
    result = {"label": label, "binary": binary, "sizeBytes": os.path.getsize(binary),
              "strippedBytes": stripped_size(binary), "libraries": libraries(binary),
              "symbols": symbols(binary, needles), "runs": {}}
    for transport in transports:
        result["runs"][transport] = run_sample(binary, environment, transport, messages, settle)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", action="append", required=True, metavar="LABEL=PATH[:TRANSPORTS]",
                        help="a sample-telemetry to measure, e.g. after=.build-static/release/sample-telemetry:mqtt,amqp")
    parser.add_argument("--connection-string", required=True, help="the device's connection string")
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--amqp-port", type=int, required=True)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds connected before sampling")
    parser.add_argument("--json")
    args = parser.parse_args()
    environment = {"IOTHUB_DEVICE_CONNECTION_STRING": args.connection_string, "IOTHUB_CA_FILE": args.ca_file,
                   "IOTHUB_MQTT_PORT": str(args.mqtt_port), "IOTHUB_AMQP_PORT": str(args.amqp_port)}
    results = []
    for spec in args.binary:
        label, _, rest = spec.partition("=")
        path, _, transports = rest.partition(":")
        results.append(measure(label, path, environment, (transports or "mqtt").split(","), args.messages, args.settle))
    print(f"{'sample-telemetry':<18} {'size':>9} {'stripped':>9} {'Foundation/ICU':>15} {'transport':>9} "
          f"{'RSS':>9} {'threads':>7}")
    for result in results:
        inside = "ICU" if result["symbols"]["icu_"] else ("Essentials" if result["symbols"]["FoundationEssentials"]
                                                          else "none")
        if result["symbols"]["FoundationInternationalization"]:
            inside = "Foundation+ICU"
        for transport, run in result["runs"].items():
            print(f"{result['label']:<18} {result['sizeBytes'] / 2**20:>7.1f}MB {result['strippedBytes'] / 2**20:>7.1f}MB "
                  f"{inside:>15} {transport:>9} {run['residentBytes'] / 2**20:>7.1f}MB {run['threads']:>7}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"benchmark": "sdk-footprint", "results": results}, file, indent=2)
        print(f"sdk footprint: written to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
