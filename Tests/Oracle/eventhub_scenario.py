"""The official azure-eventhub client reads our hub's built-in endpoint (AMQP on 5671) with one of its two AMQP
stacks, after official azure-iot-device clients sent telemetry over MQTT (8883). Prints one JSON result.

Usage: eventhub_scenario.py TRANSPORT EVENTHUB_CS CA_FILE DEVICE_A_CS DEVICE_B_CS WRONG_EVENTHUB_CS SEND
TRANSPORT is pyamqp (the default stack) or uamqp (uamqp_transport=True). With SEND=1 the devices send first (5
messages each); with 0 the events are already there. Every wait is bounded.
"""
import datetime
import sys
import threading
import time

from azure.eventhub import EventHubConsumerClient
from azure.iot.device import IoTHubDeviceClient, Message

from oracle_result import emit

TRANSPORT, EVENTHUB_CS, CA, DEVICE_A, DEVICE_B, WRONG_CS, SEND = sys.argv[1:8]
UAMQP = TRANSPORT == "uamqp"


def client(connection_string=EVENTHUB_CS, **options):
    return EventHubConsumerClient.from_connection_string(
        connection_string, consumer_group="$Default", connection_verify=CA, uamqp_transport=UAMQP, **options)


def send(connection_string, tag):
    with open(CA) as handle:
        pem = handle.read()
    device = IoTHubDeviceClient.create_from_connection_string(connection_string, server_verification_cert=pem)
    device.connect()
    for index in range(5):
        message = Message('{"index": %d, "from": "%s"}' % (index, tag))
        message.content_type = "application/json"
        message.content_encoding = "utf-8"
        message.message_id = "%s-%d" % (tag, index)
        message.custom_properties["index"] = str(index)
        message.custom_properties["tag"] = tag
        device.send_message(message)
    device.shutdown()


def describe(partition, event):
    system = event.system_properties
    def text(key):
        value = system.get(key.encode())
        return value.decode() if isinstance(value, bytes) else value
    return {
        "partition": partition,
        "sequenceNumber": event.sequence_number,
        "offset": event.offset,
        "enqueuedMs": int(event.enqueued_time.timestamp() * 1000) if event.enqueued_time else None,
        "partitionKey": event.partition_key.decode() if isinstance(event.partition_key, bytes) else event.partition_key,
        "body": event.body_as_str(),
        "properties": {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                       for k, v in (event.properties or {}).items()},
        "deviceId": text("iothub-connection-device-id"),
        "authMethod": text("iothub-connection-auth-method"),
        "messageSource": text("iothub-message-source"),
        "enqueuedTimeAnnotation": str(system.get(b"iothub-enqueuedtime")),
        "messageId": event.message_id,
        "contentType": event.content_type,
    }


def receive(expected, seconds=30, **options):
    """Receives from every partition (or one, with partition_id) until `expected` events or the deadline."""
    events = []
    errors = []
    done = threading.Event()
    consumer = client()

    def on_event(context, event):
        if event is None:
            return
        events.append(describe(context.partition_id, event))
        if len(events) >= expected:
            done.set()

    def on_error(context, error):
        errors.append(type(error).__name__ + ": " + str(error))

    thread = threading.Thread(target=consumer.receive, kwargs=dict(on_event=on_event, on_error=on_error, **options),
                              daemon=True)
    thread.start()
    done.wait(seconds)
    time.sleep(0.5 if len(events) >= expected else 0)  # anything beyond `expected` that was already on its way
    consumer.close()
    thread.join(10)
    return events, errors


def main():
    out = {"transport": TRANSPORT}
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    if SEND == "1":
        send(DEVICE_A, "a")
        send(DEVICE_B, "b")

    management = client()
    with management:
        ids = management.get_partition_ids()
        out["partitionIds"] = ids
        out["eventHub"] = {k: str(v) for k, v in management.get_eventhub_properties().items()}
        out["partitions"] = []
        for partition in ids:
            properties = management.get_partition_properties(partition)
            properties = {k: (v.isoformat() if isinstance(v, datetime.datetime) else v) for k, v in properties.items()}
            out["partitions"].append(properties)

    # From the start of every partition.
    events, errors = receive(10, starting_position="-1")
    out["fromStart"] = events
    out["fromStartErrors"] = errors

    # From an offset and a sequence number in device a's partition, exclusive and inclusive.
    mine = [e for e in events if e["deviceId"] == "eh-a"]
    if len(mine) >= 5:
        third = mine[2]
        partition = third["partition"]
        count = len([e for e in events if e["partition"] == partition and e["sequenceNumber"] > third["sequenceNumber"]])
        out["afterOffset"], _ = receive(count, seconds=15, partition_id=partition, starting_position=third["offset"])
        out["atOffset"], _ = receive(count + 1, seconds=15, partition_id=partition, starting_position=third["offset"],
                                     starting_position_inclusive=True)
        out["afterSequence"], _ = receive(count, seconds=15, partition_id=partition,
                                          starting_position=third["sequenceNumber"])
        enqueued = datetime.datetime.fromtimestamp(third["enqueuedMs"] / 1000, datetime.timezone.utc)
        out["fromEnqueued"], _ = receive(count + 1, seconds=15, partition_id=partition, starting_position=enqueued,
                                         starting_position_inclusive=True)
        out["expectedAfter"] = count
        out["thirdOffset"] = third["offset"]
        out["thirdSequence"] = third["sequenceNumber"]
    out["fromBefore"], _ = receive(10, seconds=20, starting_position=before)

    # Epoch receivers: a higher owner level takes the partition and the first receiver hears amqp:link:stolen;
    # a lower one is then refused the same way. A consumer group that does not exist is refused.
    def watch(owner_level=None, consumer_group="$Default", seconds=4):
        errors = []
        consumer = EventHubConsumerClient.from_connection_string(
            EVENTHUB_CS, consumer_group=consumer_group, connection_verify=CA, uamqp_transport=UAMQP, retry_total=0)
        thread = threading.Thread(target=consumer.receive, daemon=True, kwargs=dict(
            on_event=lambda context, event: None, partition_id="0", starting_position="-1", owner_level=owner_level,
            on_error=lambda context, error: errors.append(str(error)[:400])))
        thread.start()
        return consumer, thread, errors

    def wait_until(predicate, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline and not predicate():
            time.sleep(0.2)

    first, first_thread, first_errors = watch(owner_level=1)
    time.sleep(3)
    second, second_thread, second_errors = watch(owner_level=2)
    wait_until(lambda: first_errors)
    time.sleep(1)
    lower, lower_thread, lower_errors = watch(owner_level=0)
    missing, missing_thread, missing_errors = watch(consumer_group="no-such-group")
    wait_until(lambda: lower_errors and missing_errors)
    for consumer, thread in [(first, first_thread), (second, second_thread), (lower, lower_thread),
                             (missing, missing_thread)]:
        consumer.close()
        thread.join(10)
    out["epochFirstErrors"] = first_errors
    out["epochSecondErrors"] = second_errors
    out["epochLowerErrors"] = lower_errors
    out["missingGroupErrors"] = missing_errors

    # A wrong key is refused, without retrying forever.
    try:
        wrong = client(WRONG_CS, retry_total=0)
        with wrong:
            wrong.get_partition_ids()
        out["wrongKey"] = None
    except Exception as error:  # noqa: BLE001 - the class name is the result
        out["wrongKey"] = type(error).__name__ + ": " + str(error)[:300]
    emit(out)


if __name__ == "__main__":
    main()
