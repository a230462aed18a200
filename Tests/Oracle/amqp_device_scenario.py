"""Drives our hub's AMQP endpoint with uamqp, Microsoft's AMQP client, as an independent device and back end.

Usage: amqp_device_scenario.py CONFIG_JSON
  CONFIG_JSON: {"host": hub host name, "connectHost": name to dial, "port": AMQPS port, "httpPort": plain HTTP port,
                "ca": CA path, "device": {"id", "key"}, "otherDevice": id, "policy": {"name", "key"}}
Each step records its outcome (or the error it raised) in the emitted JSON; nothing is asserted here.
"""
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import traceback
import urllib.parse
import urllib.request
import uuid

import uamqp
from uamqp import authentication, types
from uamqp.message import MessageProperties

from oracle_result import emit

CONFIG = json.loads(sys.argv[1])
HOST = CONFIG["host"]
DIAL = CONFIG["connectHost"]
PORT = CONFIG["port"]
CA = CONFIG["ca"]
DEVICE = CONFIG["device"]["id"]


def sas(resource, key, policy=None, ttl=3600):
    expiry = int(time.time() + ttl)
    encoded = urllib.parse.quote(resource, safe="")
    digest = hmac.new(base64.b64decode(key), f"{encoded}\n{expiry}".encode(), hashlib.sha256).digest()
    token = f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote(base64.b64encode(digest).decode(), safe='')}&se={expiry}"
    return (token + f"&skn={policy}" if policy else token), expiry


def device_auth(key=None, device=DEVICE):
    audience = f"{HOST}/devices/{device}"
    token, expiry = sas(audience, key or CONFIG["device"]["key"])
    return authentication.SASTokenAuth(audience=audience, uri=f"amqps://{DIAL}/devices/{device}", token=token,
                                       expires_at=expiry, port=PORT, verify=CA, timeout=60)


def service_auth():
    token, expiry = sas(HOST, CONFIG["policy"]["key"], CONFIG["policy"]["name"])
    return authentication.SASTokenAuth(audience=HOST, uri=f"amqps://{DIAL}", token=token, expires_at=expiry,
                                       port=PORT, verify=CA, timeout=60)


def connection(auth):
    return uamqp.Connection(DIAL, auth, container_id=str(uuid.uuid4()))


def text(value):
    if isinstance(value, bytes):
        return value.decode()
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def body(message):
    return b"".join(message.get_data()).decode(errors="replace")


def step(results, name, run):
    try:
        results[name] = run()
    except Exception as error:  # the outcome is what the Swift test checks
        where = traceback.format_exc(limit=-2).strip().splitlines()
        results[name] = {"error": f"{type(error).__name__}: {error}", "where": where[-4:]}


def telemetry():
    conn = connection(device_auth())
    sender = uamqp.SendClient(f"amqps://{HOST}/devices/{DEVICE}/messages/events", auth=conn.auth)
    sender.open(connection=conn)
    props = MessageProperties(message_id="m-1", correlation_id="c-1", content_type="application/json",
                              content_encoding="utf-8")
    sender.queue_message(uamqp.Message(b'{"temp":21}', properties=props, application_properties={"level": "info"}))
    sender.queue_message(uamqp.BatchMessage(data=[b"batch-1", b"batch-2"]))
    states = sender.send_all_messages(close_on_done=False)
    sender.close()
    conn.destroy()
    return [state.name for state in states]


def wrong_key():
    conn = connection(device_auth(key=base64.b64encode(b"k" * 32).decode()))
    sender = uamqp.SendClient(f"amqps://{HOST}/devices/{DEVICE}/messages/events", auth=conn.auth)
    try:
        sender.open(connection=conn)
        sender.queue_message(uamqp.Message(b"never"))
        return [state.name for state in sender.send_all_messages(close_on_done=False)]
    finally:
        sender.close()
        conn.destroy()


def other_device():
    conn = connection(device_auth())
    receiver = uamqp.ReceiveClient(f"amqps://{HOST}/devices/{CONFIG['otherDevice']}/messages/devicebound",
                                   auth=conn.auth)
    try:
        receiver.open(connection=conn)
        # The refusal raises. Wait for it up to 20 s, not uamqp's 3 s idle timeout: with the whole suite running on
        # two cores, CBS and the attach can take longer than that, and a quiet link must not pass for a refusal.
        got, deadline = [], time.time() + 20
        while not got and time.time() < deadline:
            got = receiver.receive_message_batch(max_batch_size=1, timeout=1000)
        return {"received": len(got)}
    finally:
        receiver.close()
        conn.destroy()


def http(method, path, payload):
    token, _ = sas(HOST, CONFIG["policy"]["key"], CONFIG["policy"]["name"])
    request = urllib.request.Request(f"http://127.0.0.1:{CONFIG['httpPort']}{path}?api-version=2021-04-12", method=method,
                                     data=json.dumps(payload).encode(),
                                     headers={"Authorization": token, "Content-Type": "application/json", "If-Match": "*"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"null")


def receive(receiver, count, seconds=30):
    got, deadline = [], time.time() + seconds
    while len(got) < count and time.time() < deadline:
        got += receiver.receive_message_batch(max_batch_size=count - len(got), timeout=1000)
    return got


def prime(*clients, seconds=20):
    """Waits until each client's link is attached (uamqp attaches lazily), as the official SDKs attach both links
    of a pair before the first request."""
    deadline = time.time() + seconds
    for client in clients:
        while not client.client_ready() and time.time() < deadline:
            time.sleep(0.01)


def twin():
    conn = connection(device_auth())
    channel = {types.AMQPSymbol("com.microsoft:channel-correlation-id"): f"twin:{uuid.uuid4()}",
               types.AMQPSymbol("com.microsoft:api-version"): "2020-09-30"}
    address = f"amqps://{HOST}/devices/{DEVICE}/twin"
    receiver = uamqp.ReceiveClient(address, auth=conn.auth, timeout=30000, link_properties=channel)
    sender = uamqp.SendClient(address, auth=conn.auth, link_properties=channel)
    receiver.open(connection=conn)
    sender.open(connection=conn)
    prime(receiver, sender)

    def request(correlation, operation, resource=None, payload=b" "):
        annotations = {types.AMQPSymbol("operation"): operation}
        if resource:
            annotations[types.AMQPSymbol("resource")] = resource
        sender.queue_message(uamqp.Message(payload, properties=MessageProperties(correlation_id=correlation),
                                           annotations=annotations))

    request("get-1", "GET")
    request("patch-1", "PATCH", "/properties/reported", b'{"temp":21}')
    request("put-1", "PUT", "/notifications/twin/properties/desired")
    request("bad-1", "PATCH", "/properties/reported", b'{"temp":')
    sender.send_all_messages(close_on_done=False)
    answers = {}
    for message in receive(receiver, 4):
        annotations = {text(k): text(v) for k, v in (message.annotations or {}).items()}
        answers[text(message.properties.correlation_id)] = {
            "status": annotations.get("status"), "version": annotations.get("version"), "body": body(message)}
    status, _ = http("PATCH", f"/twins/{DEVICE}", {"properties": {"desired": {"fan": True}}})
    patches = [{"body": body(m), "correlation": text(m.properties.correlation_id) if m.properties else None}
               for m in receive(receiver, 1)]
    sender.close()
    receiver.close()
    conn.destroy()
    return {"answers": answers, "desiredStatus": status, "patches": patches}


def methods():
    conn = connection(device_auth())
    address = f"amqps://{HOST}/devices/{DEVICE}/methods/devicebound"
    channel = {types.AMQPSymbol("com.microsoft:channel-correlation-id"): DEVICE}
    receiver = uamqp.ReceiveClient(address, auth=conn.auth, timeout=30000, link_properties=channel)
    sender = uamqp.SendClient(address, auth=conn.auth, link_properties=channel)
    receiver.open(connection=conn)
    sender.open(connection=conn)
    prime(receiver, sender)
    outcome = {}

    def invoke():
        try:
            outcome["status"], outcome["result"] = http("POST", f"/twins/{DEVICE}/methods", {
                "methodName": "reboot", "payload": {"delay": 1}, "responseTimeoutInSeconds": 10,
                "connectTimeoutInSeconds": 10})
        except Exception as error:
            outcome["error"] = str(error)

    caller = threading.Thread(target=invoke)
    caller.start()
    requests = receive(receiver, 1)
    seen = {}
    for message in requests:
        correlation = message.properties.correlation_id
        seen = {"name": text((message.application_properties or {}).get(b"IoThub-methodname")),
                "correlationType": type(correlation).__name__, "body": body(message)}
        reply = uamqp.Message(b'{"rebooted":true}', properties=MessageProperties(correlation_id=correlation),
                              application_properties={"IoThub-status": 201})
        sender.queue_message(reply)
        sender.send_all_messages(close_on_done=False)
    caller.join(30)
    sender.close()
    receiver.close()
    conn.destroy()
    return {"request": seen, "call": outcome}


def cloud_to_device():
    service = connection(service_auth())
    sender = uamqp.SendClient(f"amqps://{HOST}/messages/devicebound", auth=service.auth)
    sender.open(connection=service)
    for index, ack in enumerate(["full", "full", "none"]):
        properties = MessageProperties(message_id=f"c2d-{index}", to=f"/devices/{DEVICE}/messages/devicebound",
                                       correlation_id=f"corr-{index}", content_type="text/plain")
        sender.queue_message(uamqp.Message(f"hello {index}".encode(), properties=properties,
                                           application_properties={"k": f"v{index}", "iothub-ack": ack}))
    unknown = MessageProperties(message_id="c2d-x", to="/devices/no-such-device/messages/devicebound")
    sender.queue_message(uamqp.Message(b"lost", properties=unknown))
    sends = [state.name for state in sender.send_all_messages(close_on_done=False)]

    conn = connection(device_auth())
    receiver = uamqp.ReceiveClient(f"amqps://{HOST}/devices/{DEVICE}/messages/devicebound", auth=conn.auth,
                                   auto_complete=False, timeout=30000)
    receiver.open(connection=conn)
    received, redelivered = [], []
    for message in receive(receiver, 3):
        props = message.properties
        received.append({"id": text(props.message_id), "to": text(props.to), "correlation": text(props.correlation_id),
                         "contentType": text(props.content_type), "body": body(message),
                         "properties": {text(k): text(v) for k, v in (message.application_properties or {}).items()}})
        {"c2d-0": message.accept, "c2d-1": message.reject}.get(text(props.message_id), message.release)()
    redelivered = [text(m.properties.message_id) for m in receive(receiver, 1)]
    receiver.close()
    conn.destroy()

    feedback_receiver = uamqp.ReceiveClient(f"amqps://{HOST}/messages/servicebound/feedback", auth=service.auth,
                                            timeout=30000)
    feedback_receiver.open(connection=service)
    feedback = []
    for message in receive(feedback_receiver, 1, 30):
        feedback += json.loads(body(message))
    feedback_receiver.close()
    sender.close()
    service.destroy()
    return {"sends": sends, "received": received, "redelivered": redelivered,
            "feedback": sorted((record["originalMessageId"], record["statusCode"]) for record in feedback)}


def main():
    results = {}
    step(results, "telemetry", telemetry)
    step(results, "wrongKey", wrong_key)
    step(results, "otherDevice", other_device)
    step(results, "twin", twin)
    step(results, "methods", methods)
    step(results, "cloudToDevice", cloud_to_device)
    emit(results)


if __name__ == "__main__":
    main()
