"""Drives our hub with the official azure-iot-device package (MQTT over TLS on 8883) and, for the service side,
azure-iot-hub (REST over HTTPS on 443), and prints one JSON result on its last line.

Usage: device_sdk_scenario.py OWNER_CONNECTION_STRING CA_FILE
(REQUESTS_CA_BUNDLE must point at CA_FILE as well, for the service SDK.)

Every wait is bounded, so a misbehaving hub makes this fail instead of hang.
"""
import json
import sys
import threading
import time
import urllib.parse
import base64
import hmac
import hashlib

import requests
from azure.iot.device import IoTHubDeviceClient, Message, MethodResponse
from azure.iot.hub import IoTHubRegistryManager
from azure.iot.hub.models import CloudToDeviceMethod, Twin, TwinProperties

from oracle_result import emit

HOST = "localhost"


def sas(resource, key, ttl, policy=None):
    expiry = int(time.time() + ttl)
    encoded = urllib.parse.quote(resource, safe="")
    signature = base64.b64encode(hmac.new(base64.b64decode(key), f"{encoded}\n{expiry}".encode(), hashlib.sha256).digest())
    token = f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote(signature, safe='')}&se={expiry}"
    return token + (f"&skn={policy}" if policy else "")


def wait_for(predicate, seconds=15.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def error_name(call):
    try:
        call()
        return "connected"
    except Exception as error:  # the SDK's typed errors: CredentialError, ConnectionFailedError, ...
        return type(error).__name__


def main():
    owner, ca_file = sys.argv[1], sys.argv[2]
    ca = open(ca_file).read()
    owner_fields = dict(part.split("=", 1) for part in owner.split(";"))
    manager = IoTHubRegistryManager(owner)
    out = {}

    device = manager.create_device_with_sas("mqtt-dev", None, None, "enabled")
    key = device.authentication.symmetric_key.primary_key
    connection_string = f"HostName={HOST};DeviceId=mqtt-dev;SharedAccessKey={key}"

    client = IoTHubDeviceClient.create_from_connection_string(connection_string, server_verification_cert=ca,
                                                              keep_alive=30)
    desired, methods, c2d, states = [], [], [], []
    client.on_twin_desired_properties_patch_received = desired.append
    client.on_message_received = c2d.append
    client.on_connection_state_change = lambda: states.append(client.connected)

    def on_method(request):
        methods.append(request.name)
        if request.name == "slow":
            return  # never answered: the caller gets 504
        client.send_method_response(MethodResponse.create_from_method_request(
            request, 200, {"echo": request.payload, "method": request.name}))

    client.on_method_request_received = on_method
    client.connect()
    out["connected"] = client.connected
    out["registryConnectionState"] = manager.get_device("mqtt-dev").connection_state

    # Telemetry with application and system properties.
    for index in range(3):
        message = Message(json.dumps({"index": index, "temp": 20 + index}))
        message.message_id = f"msg-{index}"
        message.correlation_id = "corr-1"
        message.content_type = "application/json"
        message.content_encoding = "utf-8"
        message.custom_properties["index"] = str(index)
        message.custom_properties["alert level"] = "high & dry"
        client.send_message(message)
    out["sent"] = 3

    # Twin: reported patch, then read back from both sides.
    before = client.get_twin()
    client.patch_twin_reported_properties({"firmware": "1.2.3", "settings": {"mode": "eco"}})
    after = client.get_twin()
    out["twin"] = {
        "reportedVersionBefore": before["reported"]["$version"],
        "reportedVersionAfter": after["reported"]["$version"],
        "firmware": after["reported"].get("firmware"),
        "mode": after["reported"].get("settings", {}).get("mode"),
    }
    service_twin = manager.get_twin("mqtt-dev")
    out["serviceSeesReported"] = service_twin.properties.reported.get("firmware")

    # Desired patch from the service reaches the device.
    manager.update_twin("mqtt-dev", Twin(properties=TwinProperties(desired={"fan": True, "speed": 3})), service_twin.etag)
    wait_for(lambda: desired)
    out["desired"] = desired[0] if desired else None
    out["desiredInGet"] = client.get_twin()["desired"].get("speed")

    # Direct methods: answered, then unanswered (timeout).
    result = manager.invoke_device_method("mqtt-dev", CloudToDeviceMethod(
        method_name="reboot", payload={"delay": 5}, response_timeout_in_seconds=10))
    out["method"] = {"status": result.status, "payload": result.payload}
    started = time.time()
    try:
        manager.invoke_device_method("mqtt-dev", CloudToDeviceMethod(method_name="slow", payload=None,
                                                                      response_timeout_in_seconds=5))
        out["methodTimeout"] = 200
    except Exception as error:
        out["methodTimeout"] = getattr(getattr(error, "response", None), "status_code", str(error))
    out["methodTimeoutSeconds"] = round(time.time() - started, 1)
    out["methodsSeen"] = methods

    # C2D: queued over the hub's HTTP send path, delivered over MQTT.
    response = requests.post(
        f"https://{HOST}/devices/mqtt-dev/messages/deviceBound?api-version=2021-04-12",
        data=b"switch on",
        headers={"Authorization": sas(HOST, owner_fields["SharedAccessKey"], 600, owner_fields["SharedAccessKeyName"]),
                 "iothub-messageid": "c2d-1", "iothub-app-color": "red", "iothub-correlationid": "c2d-corr"},
        verify=ca_file)
    out["c2dSendStatus"] = response.status_code
    wait_for(lambda: c2d)
    if c2d:
        received = c2d[0]
        out["c2d"] = {"data": received.data.decode(), "messageId": received.message_id,
                      "correlationId": received.correlation_id, "color": received.custom_properties.get("color")}
    wait_for(lambda: manager.get_device("mqtt-dev").cloud_to_device_message_count == 0, 10)
    out["c2dPendingAfter"] = manager.get_device("mqtt-dev").cloud_to_device_message_count

    # Refusals: wrong key, expired token, disabled device.
    wrong = IoTHubDeviceClient.create_from_connection_string(
        f"HostName={HOST};DeviceId=mqtt-dev;SharedAccessKey={base64.b64encode(b'x' * 32).decode()}",
        server_verification_cert=ca, connection_retry=False)
    out["wrongKey"] = error_name(wrong.connect)
    wrong.shutdown()
    token = sas(f"{HOST}/devices/mqtt-dev", key, 2)
    expiring = IoTHubDeviceClient.create_from_sastoken(token, server_verification_cert=ca, connection_retry=False)
    time.sleep(3)
    out["expiredToken"] = error_name(expiring.connect)
    expiring.shutdown()

    manager.create_device_with_sas("mqtt-off", None, None, "disabled")
    off_key = manager.get_device("mqtt-off").authentication.symmetric_key.primary_key
    disabled = IoTHubDeviceClient.create_from_connection_string(
        f"HostName={HOST};DeviceId=mqtt-off;SharedAccessKey={off_key}", server_verification_cert=ca,
        connection_retry=False)
    out["disabled"] = error_name(disabled.connect)
    disabled.shutdown()

    # Deleting a connected device disconnects it.
    states.clear()
    manager.delete_device("mqtt-dev")
    out["disconnectedAfterDelete"] = wait_for(lambda: False in states, 15)
    out["offlineAfterDelete"] = None
    try:
        manager.invoke_device_method("mqtt-dev", CloudToDeviceMethod(method_name="reboot", payload=None,
                                                                      response_timeout_in_seconds=5))
    except Exception as error:
        out["offlineAfterDelete"] = getattr(getattr(error, "response", None), "status_code", str(error))
    client.shutdown()
    emit(out)


if __name__ == "__main__":
    watchdog = threading.Timer(150, lambda: (emit({"error": "scenario timed out"}),
                                             __import__("os")._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    main()
    sys.stdout.flush()
    __import__("os")._exit(0)
