"""Message routing seen through official clients: an azure-iot-device client sends telemetry over MQTT, and the
official azure-eventhub client (pyamqp) reads a custom event-stream endpoint under its own EntityPath and the
built-in endpoint, after routes were set up with `iothub route`/`iothub endpoint`. Prints one JSON result.

Usage: routing_scenario.py EVENTHUB_CS CA_FILE DEVICE_CS ENDPOINT
EVENTHUB_CS is the built-in endpoint's connection string; the custom endpoint's is the same with EntityPath=ENDPOINT.
The device sends 3 messages with level=critical and 3 with level=info. Every wait is bounded.
"""
import re
import sys
import threading
import time

from azure.eventhub import EventHubConsumerClient
from azure.iot.device import IoTHubDeviceClient, Message

from oracle_result import emit

EVENTHUB_CS, CA, DEVICE, ENDPOINT = sys.argv[1:5]


def with_entity(connection_string, entity):
    return re.sub(r"EntityPath=[^;]*", "EntityPath=" + entity, connection_string)


def send():
    with open(CA) as handle:
        pem = handle.read()
    device = IoTHubDeviceClient.create_from_connection_string(DEVICE, server_verification_cert=pem)
    device.connect()
    for index in range(6):
        level = "critical" if index % 2 == 0 else "info"
        message = Message('{"index": %d, "temperature": %d}' % (index, 40 + index * 5))
        message.content_type = "application/json"
        message.content_encoding = "utf-8"
        message.custom_properties["level"] = level
        message.custom_properties["index"] = str(index)
        device.send_message(message)
    device.shutdown()


def receive(connection_string, expected, seconds=30):
    events, errors = [], []
    done = threading.Event()
    consumer = EventHubConsumerClient.from_connection_string(connection_string, consumer_group="$Default",
                                                             connection_verify=CA)

    def on_event(context, event):
        if event is None:
            return
        system = event.system_properties
        def text(key):
            value = system.get(key.encode())
            return value.decode() if isinstance(value, bytes) else value
        events.append({
            "partition": context.partition_id,
            "sequenceNumber": event.sequence_number,
            "body": event.body_as_str(),
            "properties": {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                           for k, v in (event.properties or {}).items()},
            "deviceId": text("iothub-connection-device-id"),
            "messageSource": text("iothub-message-source"),
        })
        if len(events) >= expected:
            done.set()

    def on_error(context, error):
        errors.append(type(error).__name__ + ": " + str(error))

    thread = threading.Thread(target=consumer.receive, kwargs=dict(on_event=on_event, on_error=on_error,
                                                                   starting_position="-1"), daemon=True)
    thread.start()
    done.wait(seconds)
    time.sleep(0.5 if len(events) >= expected else 0)
    consumer.close()
    thread.join(10)
    return events, errors


def main():
    out = {}
    send()
    custom = with_entity(EVENTHUB_CS, ENDPOINT)
    with EventHubConsumerClient.from_connection_string(custom, consumer_group="$Default", connection_verify=CA) as c:
        out["customPartitionIds"] = c.get_partition_ids()
        out["customName"] = c.get_eventhub_properties()["eventhub_name"]
    # The custom endpoint gets the critical telemetry and the lifecycle event of the device's creation.
    out["custom"], out["customErrors"] = receive(custom, 4)
    out["builtIn"], out["builtInErrors"] = receive(EVENTHUB_CS, 3)
    try:
        with EventHubConsumerClient.from_connection_string(with_entity(EVENTHUB_CS, "nosuchendpoint"), consumer_group="$Default",
                                                           connection_verify=CA, retry_total=0) as c:
            out["missingIds"] = c.get_partition_ids()
        out["missingErrors"] = []
    except Exception as error:  # the hub must refuse an unknown EntityPath
        out["missingErrors"] = [type(error).__name__ + ": " + str(error)]
    emit(out)


if __name__ == "__main__":
    main()
