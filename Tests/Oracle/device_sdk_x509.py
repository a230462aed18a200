"""Connects to our hub with the official azure-iot-device package and an X.509 client certificate (its X509
credential object), sends one message, and hands one JSON result to the test (oracle_result.emit).

Usage: device_sdk_x509.py DEVICE_ID CERT_FILE KEY_FILE CA_FILE
The hub must listen on localhost:8883 (the SDK's fixed MQTT port). Every wait is bounded.
"""
import json
import sys

from azure.iot.device import IoTHubDeviceClient, Message, X509
from azure.iot.device.exceptions import ClientError, CredentialError, ConnectionFailedError

from oracle_result import emit


def main():
    device_id, cert_file, key_file, ca_file = sys.argv[1:5]
    with open(ca_file) as handle:
        ca = handle.read()
    client = IoTHubDeviceClient.create_from_x509_certificate(
        x509=X509(cert_file=cert_file, key_file=key_file), hostname="localhost", device_id=device_id,
        server_verification_cert=ca, connection_retry=False)
    result = {"connected": False, "sent": False, "error": None}
    try:
        client.connect()
        result["connected"] = True
        message = Message("x509 hello")
        message.custom_properties["via"] = "python-x509"
        client.send_message(message)
        result["sent"] = True
    except (ClientError, CredentialError, ConnectionFailedError) as error:
        result["error"] = type(error).__name__
    finally:
        client.shutdown()
    emit(result)


if __name__ == "__main__":
    main()
