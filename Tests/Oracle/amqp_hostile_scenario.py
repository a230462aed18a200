"""Hostile input against our hub's AMQP endpoint: garbage, bad SASL, wrong and expired tokens and huge frames
(uamqp, Microsoft's AMQP client, for the SASL and CBS traffic; raw sockets for the rest).

Usage: amqp_hostile_scenario.py CONFIG_FILE
  CONFIG_FILE: JSON {"host", "connectHost", "tlsPort", "plainPort", "ca", "devices": [{"id", "key"}, ...]}
Each step records what the hub answered; the Swift test judges it. Every wait is bounded.
"""
import base64
import hashlib
import hmac
import json
import socket
import ssl
import sys
import time
import urllib.parse
import uuid

import uamqp
from uamqp import authentication, types
from uamqp.message import MessageProperties

from oracle_result import emit

CONFIG = json.load(open(sys.argv[1]))
HOST, DIAL, CA = CONFIG["host"], CONFIG["connectHost"], CONFIG["ca"]
TLS_PORT, PLAIN_PORT = CONFIG["tlsPort"], CONFIG["plainPort"]
DEVICES = CONFIG["devices"]
SASL_HEADER = b"AMQP\x03\x01\x00\x00"


def sas(resource, key, expiry):
    encoded = urllib.parse.quote(resource, safe="")
    digest = hmac.new(base64.b64decode(key), f"{encoded}\n{expiry}".encode(), hashlib.sha256).digest()
    return f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote(base64.b64encode(digest).decode(), safe='')}&se={expiry}"


def raw(tls=False):
    sock = socket.create_connection(("127.0.0.1", TLS_PORT if tls else PLAIN_PORT), timeout=10)
    if tls:
        context = ssl.create_default_context(cafile=CA)
        sock = context.wrap_socket(sock, server_hostname=DIAL)
    return sock


def read_until_closed(sock, seconds=10):
    data, deadline = b"", time.time() + seconds
    sock.settimeout(1)
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def garbage(tls):
    sock = raw(tls)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n" + bytes(range(256)) * 4)
    data, closed = read_until_closed(sock)
    sock.close()
    return {"header": data[:8].hex(), "closed": closed}


def sasl_frame(body):
    return (8 + len(body)).to_bytes(4, "big") + b"\x02\x01\x00\x00" + body


def unknown_mechanism():
    sock = raw()
    sock.sendall(SASL_HEADER)
    time.sleep(0.3)
    offered = sock.recv(65536)
    # sasl-init (0x41) with mechanism symbol "FOO" and nothing else.
    sock.sendall(sasl_frame(b"\x00\x53\x41\xc0\x06\x01\xa3\x03FOO"))
    data, closed = read_until_closed(sock)
    sock.close()
    # sasl-outcome: 00 53 44, list8 (c0 size count), then the code as a ubyte (50 code).
    outcome = data.find(b"\x00\x53\x44\xc0")
    code = data[outcome + 7] if outcome >= 0 and len(data) > outcome + 7 and data[outcome + 6] == 0x50 else None
    mechanisms = [name for name in ("MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL") if name.encode() in offered]
    return {"offered": mechanisms, "outcomeCode": code, "closed": closed}


def huge_frame():
    sock = raw()
    sock.sendall(SASL_HEADER)
    time.sleep(0.3)
    sock.recv(65536)
    sock.sendall(b"\x7f\xff\xff\xf0\x02\x01\x00\x00" + b"\x00" * 1024)
    data, closed = read_until_closed(sock)
    sock.close()
    return {"closed": closed, "bytes": len(data)}


def send_telemetry(auth, device):
    connection = uamqp.Connection(DIAL, auth, container_id=str(uuid.uuid4()))
    sender = uamqp.SendClient(f"amqps://{HOST}/devices/{device}/messages/events", auth=connection.auth)
    try:
        sender.open(connection=connection)
        sender.queue_message(uamqp.Message(b"hostile"))
        return [state.name for state in sender.send_all_messages(close_on_done=False)]
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}
    finally:
        sender.close()
        connection.destroy()


def bad_plain():
    device = DEVICES[0]["id"]
    wrong = sas(f"{HOST}/devices/{device}", base64.b64encode(b"w" * 32).decode(), int(time.time()) + 600)
    auth = authentication.SASLPlain(DIAL, f"{device}@sas.{HOST.split('.')[0]}", wrong, port=TLS_PORT, verify=CA)
    return send_telemetry(auth, device)


def good_plain():
    device = DEVICES[1]
    token = sas(f"{HOST}/devices/{device['id']}", device["key"], int(time.time()) + 600)
    auth = authentication.SASLPlain(DIAL, f"{device['id']}@sas.{HOST.split('.')[0]}", token, port=TLS_PORT, verify=CA)
    return send_telemetry(auth, device["id"])


def expired_token():
    device = DEVICES[0]
    audience = f"{HOST}/devices/{device['id']}"
    token = sas(audience, device["key"], int(time.time()) - 60)
    auth = authentication.SASTokenAuth(audience=audience, uri=f"amqps://{DIAL}/devices/{device['id']}", token=token,
                                       expires_at=time.time() + 600, port=TLS_PORT, verify=CA)
    return send_telemetry(auth, device["id"])


def open_then_huge_frame():
    """SASL ANONYMOUS and an AMQP open by hand, then a frame header claiming 2 GiB: the hub answers with a close
    carrying amqp:connection:framing-error and hangs up."""
    sock = raw()
    sock.sendall(SASL_HEADER)
    time.sleep(0.3)
    sock.recv(65536)
    sock.sendall(sasl_frame(b"\x00\x53\x41\xc0\x0c\x01\xa3\x09ANONYMOUS"))
    time.sleep(0.3)
    sock.recv(65536)
    open_body = b"\x00\x53\x10\xc0\x04\x01\xa1\x01x"
    sock.sendall(b"AMQP\x00\x01\x00\x00" + (8 + len(open_body)).to_bytes(4, "big") + b"\x02\x00\x00\x00" + open_body)
    time.sleep(0.3)
    sock.sendall(b"\x7f\xff\xff\xf0\x02\x00\x00\x00" + b"\x00" * 1024)
    data, closed = read_until_closed(sock)
    sock.close()
    return {"closed": closed, "framingError": b"amqp:connection:framing-error" in data}


def afterwards():
    """A well-behaved device after all of the above: served as usual."""
    device = DEVICES[1]
    audience = f"{HOST}/devices/{device['id']}"
    expiry = int(time.time()) + 600
    auth = authentication.SASTokenAuth(audience=audience, uri=f"amqps://{DIAL}/devices/{device['id']}",
                                       token=sas(audience, device["key"], expiry), expires_at=expiry, port=TLS_PORT, verify=CA)
    return send_telemetry(auth, device["id"])


def step(results, name, run):
    try:
        results[name] = run()
    except Exception as error:
        results[name] = {"error": f"{type(error).__name__}: {error}"}


def main():
    results = {}
    step(results, "garbage", lambda: garbage(False))
    step(results, "garbageTLS", lambda: garbage(True))
    step(results, "unknownMechanism", unknown_mechanism)
    step(results, "hugeFrame", huge_frame)
    step(results, "badPlain", bad_plain)
    step(results, "goodPlain", good_plain)
    step(results, "expiredToken", expired_token)
    step(results, "openThenHugeFrame", open_then_huge_frame)
    step(results, "afterwards", afterwards)
    emit(results)


if __name__ == "__main__":
    main()
