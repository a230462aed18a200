"""Runs a fixed sequence of device operations with the official azure-iot-device package, so that the test
(WireFidelityTests) can capture at the hub what the official SDK puts on the wire and compare it with our Swift
DeviceClient doing the same operations.

Usage: device_sdk_wire.py DEVICE_CONNECTION_STRING CA_FILE

The hub must listen on 8883 (MQTT over TLS) for the connection string's HostName, with a certificate from CA_FILE.
The SDK is used with its defaults (keep-alive, retry policy, product info) apart from trusting CA_FILE.

Protocol with the test, one line each:
  stdout  "step connected" / "step sent" / "step twin" / "step reported" / "step desired-enabled"
          "step methods-enabled"  -> the test invokes method "m"; the handler answers 200
          "step method-answered"
          "step c2d-enabled"      -> the test sends one cloud-to-device message
          "step c2d-received"
  stdin   "close"                 <- the test has seen what it waits for; shut the client down
  stdout  "step closed", then one JSON object with the results on the last line.

Every wait is bounded, so a misbehaving hub makes this fail instead of hang.
"""
import json
import os
import sys
import threading
import time

from azure.iot.device import IoTHubDeviceClient, Message, MethodResponse

from oracle_result import emit


def step(name):
    print(f"step {name}", flush=True)


def wait_for(predicate, seconds=30.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def main():
    connection_string, ca_file = sys.argv[1], sys.argv[2]
    with open(ca_file) as handle:
        ca = handle.read()
    out = {}

    client = IoTHubDeviceClient.create_from_connection_string(connection_string, server_verification_cert=ca)

    # 1. Connect.
    client.connect()
    out["connected"] = client.connected
    step("connected")

    # 2. One telemetry message with an application property and three system properties.
    message = Message("x")
    message.custom_properties["a"] = "1"
    message.message_id = "m1"
    message.content_type = "application/json"
    message.content_encoding = "utf-8"
    client.send_message(message)
    step("sent")

    # 3. Get the twin (the SDK subscribes to $iothub/twin/res/# on first use).
    twin = client.get_twin()
    out["twinHasReported"] = "reported" in twin
    step("twin")

    # 4. Patch reported properties.
    client.patch_twin_reported_properties({"r": 1})
    step("reported")

    # 5. Desired-property updates.
    desired = []
    client.on_twin_desired_properties_patch_received = desired.append
    step("desired-enabled")

    # 6. Direct methods: the test invokes "m", the handler answers 200.
    methods = []

    def on_method(request):
        client.send_method_response(MethodResponse.create_from_method_request(request, 200, {"ok": True}))
        methods.append(request.name)

    client.on_method_request_received = on_method
    step("methods-enabled")
    out["method"] = methods[0] if wait_for(lambda: methods) else None
    step("method-answered")

    # 7. Cloud-to-device: the test sends one message.
    received = []
    client.on_message_received = received.append
    step("c2d-enabled")
    out["c2d"] = received[0].data.decode() if wait_for(lambda: received) else None
    step("c2d-received")

    # 8. Close, once the test says so (it first waits for the hub to see the C2D acknowledgement).
    out["closeCommand"] = sys.stdin.readline().strip()
    client.shutdown()
    step("closed")
    emit(out)


if __name__ == "__main__":
    watchdog = threading.Timer(120, lambda: (emit({"error": "timed out"}), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    main()
    sys.stdout.flush()
    os._exit(0)
