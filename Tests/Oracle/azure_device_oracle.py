"""Test oracle: answers questions with the official Azure IoT Python SDKs.

Reads a JSON array of requests on stdin and writes a JSON array of answers on stdout, one per request, in order.
Each request is an object with an "op" and its arguments; each answer is {"ok": value} or {"error": "text"}.
Used by the Swift tests (Tests/IoTHubProtocolTests/Support/PythonOracle.swift) so that our tokens, user names
and topics are compared byte for byte with what azure-iot-device and azure-iot-hub produce.
"""
import json
import sys
import threading
import types

from azure.iot.device import Message
from azure.iot.device.common.auth import sastoken as device_sastoken
from azure.iot.device.common.auth import signing_mechanism
from azure.iot.device.common.auth import connection_string as device_connection_string
from azure.iot.device.common.pipeline import pipeline_ops_base, pipeline_thread
from azure.iot.device.iothub.pipeline import config as iothub_config
from azure.iot.device.iothub.pipeline import mqtt_topic_iothub as topics
from azure.iot.device.iothub.pipeline import pipeline_stages_iothub_mqtt
from azure.iot.hub import sastoken as service_sastoken


def device_sas(req):
    mechanism = signing_mechanism.SymmetricKeySigningMechanism(req["key"])
    token = device_sastoken.RenewableSasToken(req["uri"], mechanism, key_name=req.get("keyName"))
    # Pin the expiry instead of now + ttl, then rebuild with the SDK's own builder.
    token._expiry_time = req["expiry"]
    token._token = token._build_token()
    return str(token)


def service_sas(req):
    token = service_sastoken.SasToken(req["uri"], req["key"], key_name=req.get("keyName"))
    token.expiry_time = req["expiry"]
    token._token = token._build_token()
    return str(token)


def parse_sas(req):
    token = device_sastoken.NonRenewableSasToken(req["token"])
    return {"expiry": token.expiry_time, "resource": token.resource_uri}


def parse_connection_string(req):
    cs = device_connection_string.ConnectionString(req["text"])
    return {key: cs.get(key) for key in device_connection_string._valid_keys if cs.get(key) is not None}


def username(req):
    token = device_sastoken.NonRenewableSasToken("SharedAccessSignature sr=a&sig=b&se=9999999999")
    config = iothub_config.IoTHubPipelineConfig(
        hostname=req["host"], device_id=req["deviceId"], module_id=req.get("moduleId"),
        product_info=req.get("productInfo", ""), sastoken=token)
    stage = pipeline_stages_iothub_mqtt.IoTHubMQTTTranslationStage()
    stage.nucleus = types.SimpleNamespace(pipeline_configuration=config)
    captured = {}
    done = threading.Event()

    def send_op_down(op):
        captured["op"] = op
        done.set()

    stage.send_op_down = send_op_down
    op = pipeline_ops_base.InitializePipelineOperation(callback=lambda op, error: None)
    pipeline_thread.invoke_on_pipeline_thread_nowait(lambda: stage._run_op(op))()
    if not done.wait(10):
        raise RuntimeError("the SDK pipeline stage did not produce a user name")
    return {"username": captured["op"].username, "clientId": captured["op"].client_id}


def telemetry_topic(req):
    message = Message(b"")
    for field in ("message_id", "correlation_id", "user_id", "content_type", "content_encoding",
                  "output_name", "expiry_time_utc"):
        if req.get(field) is not None:
            setattr(message, field, req[field])
    if req.get("security"):
        message.set_as_security_message()
    message.custom_properties = dict(req.get("properties", {}))
    base = topics.get_telemetry_topic_for_publish(req["deviceId"], req.get("moduleId"))
    return topics.encode_message_properties_in_topic(message, base)


def parse_c2d_topic(req):
    message = Message(b"")
    topics.extract_message_properties_from_topic(req["topic"], message)
    return {
        "message_id": message.message_id, "correlation_id": message.correlation_id,
        "user_id": message.user_id, "content_type": message.content_type,
        "content_encoding": message.content_encoding, "expiry_time_utc": message.expiry_time_utc,
        "ack": message.ack, "properties": message.custom_properties,
    }


def device_topics(req):
    device_id, module_id = req["deviceId"], req.get("moduleId")
    rid, status = req["rid"], req["status"]
    return {
        "c2dSubscribe": topics.get_c2d_topic_for_subscribe(device_id),
        "methodSubscribe": topics.get_method_topic_for_subscribe(),
        "twinResponseSubscribe": topics.get_twin_response_topic_for_subscribe(),
        "twinPatchSubscribe": topics.get_twin_patch_topic_for_subscribe(),
        "inputSubscribe": topics.get_input_topic_for_subscribe(device_id, module_id) if module_id else None,
        "twinGet": topics.get_twin_topic_for_publish("GET", "/", rid),
        "twinPatch": topics.get_twin_topic_for_publish("PATCH", "/properties/reported/", rid),
        "methodResponse": topics.get_method_topic_for_publish(rid, status),
    }


def parse_hub_topics(req):
    method, twin = req["methodTopic"], req["twinTopic"]
    return {
        "methodName": topics.get_method_name_from_topic(method),
        "methodRid": topics.get_method_request_id_from_topic(method),
        "twinRid": topics.get_twin_request_id_from_topic(twin),
        "twinStatus": topics.get_twin_status_code_from_topic(twin),
        "isTwinPatch": topics.is_twin_desired_property_patch_topic(req["patchTopic"]),
        "isC2D": topics.is_c2d_topic(req["c2dTopic"], req["deviceId"]),
    }


OPERATIONS = {
    "device_sas": device_sas,
    "service_sas": service_sas,
    "parse_sas": parse_sas,
    "parse_connection_string": parse_connection_string,
    "username": username,
    "telemetry_topic": telemetry_topic,
    "parse_c2d_topic": parse_c2d_topic,
    "device_topics": device_topics,
    "parse_hub_topics": parse_hub_topics,
}


def main():
    requests = json.load(sys.stdin)
    answers = []
    for request in requests:
        try:
            answers.append({"ok": OPERATIONS[request["op"]](request)})
        except Exception as error:  # the error text is the answer
            answers.append({"error": "%s: %s" % (type(error).__name__, error)})
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
