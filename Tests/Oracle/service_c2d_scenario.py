"""The official azure-iot-hub package's send_c2d_message (uamqp on port 5671) against our hub, received by one device
over MQTT (azure-iot-device on 8883) and one over AMQP (uamqp on 5671), and prints one JSON result.

Usage: service_c2d_scenario.py OWNER_CONNECTION_STRING CA_FILE MQTT_DEVICE_CS AMQP_DEVICE_CS FULL_DEVICE_ID
(SSL_CERT_FILE and REQUESTS_CA_BUNDLE must point at CA_FILE.) Every wait is bounded.
"""
import base64
import hashlib
import hmac
import sys
import time
import urllib.parse

import uamqp
from azure.iot.device import IoTHubDeviceClient
from azure.iot.hub import IoTHubRegistryManager
from uamqp import authentication

from oracle_result import emit

OWNER, CA, MQTT_CS, AMQP_CS, FULL_DEVICE = sys.argv[1:6]


def fields(connection_string):
    return dict(part.split("=", 1) for part in connection_string.split(";"))


def error_text(call):
    try:
        call()
        return None
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def main():
    out = {}
    manager = IoTHubRegistryManager(OWNER)
    mqtt_id = fields(MQTT_CS)["DeviceId"]
    amqp = fields(AMQP_CS)
    properties = {"color": "blue", "messageId": "svc-1", "correlationId": "corr-1", "contentType": "text/plain"}
    out["sendMqtt"] = error_text(lambda: manager.send_c2d_message(mqtt_id, "to mqtt", properties=properties))
    out["sendAmqp"] = error_text(lambda: manager.send_c2d_message(amqp["DeviceId"], "to amqp", properties={"color": "red"}))
    out["unknown"] = error_text(lambda: manager.send_c2d_message("no-such-device", "lost"))
    depth = [error_text(lambda i=i: manager.send_c2d_message(FULL_DEVICE, f"m{i}")) for i in range(51)]
    out["queueDepth"] = {"accepted": sum(1 for result in depth if result is None), "last": depth[-1]}

    device = IoTHubDeviceClient.create_from_connection_string(MQTT_CS, server_verification_cert=open(CA).read())
    device.connect()
    message = device.receive_message(timeout=15)
    out["mqtt"] = None if message is None else {
        "body": message.data.decode(), "color": message.custom_properties.get("color"), "id": message.message_id,
        "correlation": message.correlation_id, "contentType": message.content_type}
    device.shutdown()

    expiry = int(time.time() + 600)
    audience = f"{amqp['HostName']}/devices/{amqp['DeviceId']}"
    encoded = urllib.parse.quote(audience, safe="")
    digest = hmac.new(base64.b64decode(amqp["SharedAccessKey"]), f"{encoded}\n{expiry}".encode(), hashlib.sha256).digest()
    token = f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote(base64.b64encode(digest).decode(), safe='')}&se={expiry}"
    auth = authentication.SASTokenAuth(audience=audience, uri=f"amqps://{audience}", token=token, expires_at=expiry,
                                       verify=CA)
    receiver = uamqp.ReceiveClient(f"amqps://{audience}/messages/devicebound", auth=auth, timeout=15000)
    received = receiver.receive_message_batch(max_batch_size=1, timeout=15000)
    out["amqp"] = [{"body": b"".join(m.get_data()).decode(),
                    "color": (m.application_properties or {}).get(b"color", b"").decode()} for m in received]
    receiver.close()
    manager.amqp_svc_client.disconnect_sync() if getattr(manager, "amqp_svc_client", None) else None
    emit(out)


if __name__ == "__main__":
    main()
