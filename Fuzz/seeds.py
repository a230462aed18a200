#!/usr/bin/env python3
"""Writes the seed corpora in Fuzz/corpus/<target>/ (hand-made valid and near-valid inputs).

Run it again after changing the lists below: `python3 Fuzz/seeds.py`. It only (re)writes the files named here.
The fuzzers never write into Fuzz/corpus: scripts/fuzz.sh copies it into a working corpus under .build-fuzz/.
"""
import base64, hashlib, hmac, os, struct, urllib.parse

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
KEY = base64.b64decode("c2VjcmV0LWtleS1mb3ItZnV6emluZy0wMTIzNDU2Nzg5")


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# MQTT 3.1.1 encoding -------------------------------------------------------------------------------------------

def remaining(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + remaining(len(body)) + body


def connect(client_id, username=None, password=None, will=None, clean=True, keep_alive=60):
    flags = 0x02 if clean else 0
    payload = s(client_id)
    if will:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += s(topic) + s(message)
    if username is not None:
        flags |= 0x80
        payload += s(username)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    return packet(0x10, s("MQTT") + bytes([4, flags]) + struct.pack(">H", keep_alive) + payload)


def publish(topic, payload, qos=0, packet_id=None, retain=False, dup=False):
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = s(topic) + (struct.pack(">H", packet_id) if qos else b"") + payload
    return packet(first, body)


def subscribe(packet_id, filters):
    return packet(0x82, struct.pack(">H", packet_id) + b"".join(s(f) + bytes([q]) for f, q in filters))


def unsubscribe(packet_id, filters):
    return packet(0xA2, struct.pack(">H", packet_id) + b"".join(s(f) for f in filters))


def sas_token(uri, expiry, key_name=None, service_style=False):
    encoded = urllib.parse.quote_plus(uri) if service_style else urllib.parse.quote(uri, safe="")
    signature = base64.b64encode(hmac.new(KEY, f"{encoded}\n{expiry}".encode(), hashlib.sha256).digest()).decode()
    sig = urllib.parse.quote(signature) if service_style else urllib.parse.quote(signature, safe="")
    token = f"SharedAccessSignature sr={encoded}&sig={sig}&se={expiry}"
    return token + (f"&skn={key_name}" if key_name else "")


DEVICE_TOKEN = sas_token("hub.local/devices/d1", 1900000000)
MODULE_TOKEN = sas_token("hub.local/devices/d1/modules/m1", 1900000000)
POLICY_TOKEN = sas_token("hub.local", 1900000000, "iothubowner", service_style=True)
USER = "hub.local/d1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F2.12.0"


def mqtt_seeds():
    sas_connect = connect("d1", USER, DEVICE_TOKEN.encode())
    packets = {
        "connect-sas": sas_connect,
        "connect-module-will": connect("d1/m1", "hub.local/d1/m1/?api-version=2020-09-30&model-id=dtmi%3Ax%3B1",
                                       MODULE_TOKEN.encode(), will=("devices/d1/status", b"offline", 1, True),
                                       clean=False, keep_alive=0),
        "connect-x509": connect("pump-01", "hub.local/pump-01/?api-version=2019-10-01"),
        "connack": packet(0x20, bytes([0, 0])),
        "connack-session-present": packet(0x20, bytes([1, 0])),
        "connack-refused": packet(0x20, bytes([0, 5])),
        "publish-telemetry": publish("devices/d1/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&a=b",
                                     b'{"temperature":21.5}'),
        "publish-twin-patch": publish("$iothub/twin/PATCH/properties/reported/?$rid=2", b'{"firmware":"1.2.0"}',
                                      qos=1, packet_id=7),
        "publish-twin-get": publish("$iothub/twin/GET/?$rid=1", b"", qos=1, packet_id=1),
        "publish-method-request": publish("$iothub/methods/POST/reboot/?$rid=1", b'{"delay":5}', retain=True),
        "publish-c2d-qos2-dup": publish("devices/d1/messages/devicebound/%24.mid=42&iothub-ack=full", b"hello",
                                        qos=2, packet_id=65535, dup=True),
        "subscribe": subscribe(1, [("devices/d1/messages/devicebound/#", 1), ("$iothub/twin/res/#", 0),
                                   ("$iothub/methods/POST/#", 0), ("$iothub/twin/PATCH/properties/desired/#", 1)]),
        "suback": packet(0x90, struct.pack(">H", 1) + bytes([1, 0, 0x80, 2])),
        "unsubscribe": unsubscribe(3, ["$iothub/twin/res/#", "a/+/c"]),
        "unsuback": packet(0xB0, struct.pack(">H", 3)),
        "puback": packet(0x40, struct.pack(">H", 7)),
        "pubrec": packet(0x50, struct.pack(">H", 8)),
        "pubrel": packet(0x62, struct.pack(">H", 8)),
        "pubcomp": packet(0x70, struct.pack(">H", 8)),
        "pingreq": packet(0xC0, b""),
        "pingresp": packet(0xD0, b""),
        "disconnect": packet(0xE0, b""),
    }
    for name, data in packets.items():
        write("mqtt-stream", name, bytes([0x00, 0x00]) + data)
    session = (sas_connect + subscribe(1, [("devices/d1/messages/devicebound/#", 1)])
               + publish("devices/d1/messages/events/", b"x" * 40, qos=1, packet_id=2) + packet(0xC0, b"")
               + packet(0xE0, b""))
    write("mqtt-stream", "session-chunks-3-8", bytes([0x12, 0x00]) + session)
    write("mqtt-stream", "session-bytewise-limit-300", bytes([0x00, 0x03]) + session)
    write("mqtt-stream", "publish-too-large-limit-64", bytes([0x31, 0x02]) + publish("a/b", b"y" * 100))
    # Near-valid streams.
    write("mqtt-stream", "connect-truncated", bytes([0x00, 0x00]) + sas_connect[:-5])
    write("mqtt-stream", "connect-mqisdp-3", bytes([0, 0]) + packet(0x10, s("MQIsdp") + bytes([3, 2, 0, 60]) + s("d1")))
    write("mqtt-stream", "connect-level-5", bytes([0, 0]) + packet(0x10, s("MQTT") + bytes([5, 2, 0, 60, 0]) + s("d1")))
    write("mqtt-stream", "remaining-length-5-bytes", bytes([0, 0, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
    write("mqtt-stream", "remaining-length-non-minimal", bytes([0, 0, 0xC0, 0x80, 0x00, 0x40, 0x82, 0x00, 0x00, 0x07]))
    write("mqtt-stream", "publish-qos3", bytes([0, 0]) + publish("a", b"").replace(b"\x30", b"\x36", 1))
    write("mqtt-stream", "publish-wildcard-topic", bytes([0, 0]) + publish("a/+/#", b""))
    write("mqtt-stream", "publish-overlong-utf8", bytes([0, 0]) + packet(0x30, s(b"a\xc0\xafb")))
    write("mqtt-stream", "filter-nul-topic", bytes([0, 0]) + b"devices/+/messages/#\x00devices/d1/messages/events")
    write("mqtt-stream", "filter-dollar-topic", bytes([0, 0]) + b"#\x00$iothub/twin/res/200")


def topic_seeds():
    seeds = [
        (0, "devices/d1/messages/events/%24.ct=application%2Fjson&a=b"),
        (0, "devices/d1/messages/events/"),
        (0, "devices/d1/messages/events"),
        (0, "$iothub/twin/GET/?$rid=1"),
        (0, "$iothub/twin/PATCH/properties/reported/?$rid=42&$version=3"),
        (0, "$iothub/methods/res/200/?$rid=7"),
        (0, "$iothub/methods/res/9999/?$rid=7"),
        (0, "$iothub/twin/res/204/?$rid=3&$version=5"),
        (0, "$iothub/twin/res/200/?$rid=%24x"),
        (0, "$iothub/twin/PATCH/properties/desired/?$version=12"),
        (0, "$iothub/methods/POST/reboot%2Fnow/?$rid=1"),
        (0, "devices/d1/messages/devicebound/%24.mid=42&%24.to=%2Fdevices%2Fd1%2Fmessages%2Fdevicebound&iothub-ack=full"),
        (1, "devices/d1/modules/m1/messages/events/a=1&flag&b="),
        (1, "devices/d1/modules/m1/inputs/input1/%24.ct=text%2Fplain"),
        (0, "devices/d1/messages/devicebound/#"),
        (0, "$iothub/twin/res/#"),
        (0, "$iothub/twin/PATCH/properties/desired/#"),
        (1, "devices/d1/modules/m1/inputs/#"),
        (0, "devices/d2/messages/events/a=1"),
        (0, "hub.local/d1/?api-version=2019-10-01&DeviceClientType=azure-iot-device%2F2.12.0"),
        (1, "hub.local/d1/m1/?api-version=2020-09-30&DeviceClientType=x&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1"),
        (0, "hub.local/d1/api-version=2016-11-14"),
        (0, "hub.local/d1"),
        (4, "hub.local/a.b%c?d=e/?api-version=1"),
        (0, "a=1&flag&b=&%ZZ=%e2%82%ac&%&=x"),
        # Regressions: U+0600 (a prepended mark) before '/', a combining mark after '='.
        (0, "h/id\u0600"),
        (0, "$iothub/twin/GET/?$rid=\u03011"),
    ]
    for index, (identity, text) in enumerate(seeds):
        write("iothub-topics", f"seed-{index:02d}", bytes([identity]) + text.encode())


def sas_seeds():
    texts = [
        DEVICE_TOKEN, MODULE_TOKEN, POLICY_TOKEN,
        "  " + DEVICE_TOKEN.replace("&se=", "&skn=device&se=") + " ",
        "SharedAccessSignature sr=hub.local%2Fdevices%2Fd1&sig=abc&se=notanumber",
        "SharedAccessSignature sig=x&se=1&sr=https%3A%2F%2Fhub.local%2Fdevices%2Fd1%2F",
        "SharedAccessSignature sr=%zz&sig=x&se=1",
        "HostName=hub.local;DeviceId=d1;SharedAccessKey=" + base64.b64encode(KEY).decode(),
        "HostName=hub.local;DeviceId=d1;ModuleId=m1;SharedAccessKey=" + base64.b64encode(KEY).decode(),
        "HostName=hub.local;SharedAccessKeyName=iothubowner;SharedAccessKey=" + base64.b64encode(KEY).decode(),
        "HostName=hub.local;DeviceId=pump-01;x509=true;GatewayHostName=edge.local",
        "hostname=hub.local ; deviceid=d1 ; SharedAccessSignature=" + DEVICE_TOKEN,
        "HostName=hub.local;DeviceId=d1;SharedAccessKey=AAAA;x509=true",
        "HostName=hub.local;;DeviceId=d1",
        "amqps://hub.local/devices/d1/modules/m1/",
        "hub.local/devices/d1",
        "a b/c%20\u00e9+~_.-%2",
        # Regressions: U+0600 (a prepended mark) before ';' and '&', CR LF after the last value.
        "HostName=hub.local;SharedAccessKey=AAAA;SharedAccessKeyName=owner\u0600",
        "SharedAccessSignature skn=owner\u0600&" + DEVICE_TOKEN[len("SharedAccessSignature "):] + "\r\n",
    ]
    for index, text in enumerate(texts):
        write("sas-connection-string", f"seed-{index:02d}", bytes([index]) + text.encode())


def json_seeds():
    docs = {
        "twin-service": '{"deviceId":"d1","etag":"AAAAAAAAAAI=","version":2,"tags":{"floor":3,"site":"lab"},'
                        '"properties":{"desired":{"rate":5,"$metadata":{"$lastUpdated":"2024-05-01T10:00:00.1234567Z",'
                        '"$lastUpdatedVersion":2,"rate":{"$lastUpdated":"2024-05-01T10:00:00.1234567Z",'
                        '"$lastUpdatedVersion":2}},"$version":2},"reported":{"fw":"1.2.0","$metadata":'
                        '{"$lastUpdated":"2024-05-01T10:00:00Z","fw":{"$lastUpdated":"2024-05-01T10:00:00+01:00"}},'
                        '"$version":4}}}',
        "twin-device-get": '{"desired":{"rate":5,"$version":3},"reported":{"$version":7}}',
        "reported-patch": '{"temperature": 21.5, "ok": true, "nested": {"a": {"b": null}}, "list": [1, "x", false]}',
        "desired-notification": '{"rate":null,"mode":"eco","$version":9}',
        "service-patch": '{"tags":{"floor":4,"owner":null},"properties":{"desired":{"setpoint":22}}}',
        "numbers": '[0, -0, 1e308, -1.5e-300, 0.1, 9223372036854775807, -9223372036854775808, 9223372036854775808,'
                   ' 4503599627370496, 1E+2]',
        "strings": '["\\u00e9\\ud83d\\ude00", "\\"\\\\\\/\\b\\f\\n\\r\\t", "\u00e9\u4e2d", ""]',
        "deep-10": '{"a":' * 10 + '1' + '}' * 10,
        "timestamp": '"2026-11-22T17:42:41.1234567Z"',
        "method-payload": '{"methodName":"reboot","responseTimeoutInSeconds":30,"payload":{"delay":5}}',
        "bad-trailing-comma": '[1,2,]',
        "bad-leading-zero": '{"a":01}',
        "bad-lone-surrogate": '"\\ud800"',
        "bad-utf8": b'"\xc0\xaf"',
        "bad-nan": '[NaN]',
        # Regression: a version that the next update could not increment.
        "twin-version-max": '{"version":9223372036854775807,"properties":{"desired":{"$version":1},'
                            '"reported":{"$version":1}}}',
    }
    for name, text in docs.items():
        write("json", name, text)


def query_seeds():
    queries = [
        "SELECT * FROM devices",
        "SELECT * FROM devices WHERE tags.floor = 3",
        "select * from devices where tags.floor >= 3 AND status = 'enabled'",
        "SELECT * FROM devices.modules WHERE properties.reported.status = 'running'",
        "SELECT deviceId, tags.site FROM devices WHERE NOT (tags.floor = 1 OR tags.floor = 2)",
        "SELECT COUNT() AS total FROM devices WHERE connectionState = 'Connected'",
        "SELECT COUNT() FROM devices",
        "SELECT * FROM devices WHERE tags.site IN ['lab', 'plant'] AND tags.floor NIN [1, 2.5, -3e2]",
        "SELECT * FROM devices WHERE IS_DEFINED(tags.owner) AND STARTSWITH(deviceId, 'thermo')",
        "SELECT * FROM devices WHERE ENDSWITH(deviceId, '-1') OR CONTAINS(properties.reported.firmware, '.2.')",
        "SELECT * FROM devices WHERE IS_NULL(tags.flag) AND IS_NUMBER(tags.weight) AND IS_OBJECT(tags.owner)",
        "SELECT * FROM devices WHERE deviceId = 'it''s' OR deviceId = \"q\\\"x\" OR capabilities.iotEdge = false",
        "SELECT * FROM devices WHERE properties.desired.setpoint <> 21.5 AND properties.reported.temperature < 0",
        "SELECT * FROM devices WHERE devices.tags.floor = 3 AND devices.modules.x = 1 AND tags.flag = null",
        "SELECT * FROM devices WHERE ((tags.floor = 3))",
        "SELECT * FROM devices WHERE tags.floor = 3 AND",
        "SELECT * FROM devices WHERE tags.x = 'open",
        "SELECT * FROM devices WHERE a ! b",
    ]
    for index, text in enumerate(queries):
        write("registry-query", f"seed-{index:02d}", text)


if __name__ == "__main__":
    mqtt_seeds()
    topic_seeds()
    sas_seeds()
    json_seeds()
    query_seeds()
