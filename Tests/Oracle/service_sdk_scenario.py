"""Drives our hub with the official azure-iot-hub package (REST over HTTPS) and prints one JSON result.

Usage: service_sdk_scenario.py CONNECTION_STRING   (REQUESTS_CA_BUNDLE must point at the hub's ca.pem)
"""
import json
import sys

from azure.iot.hub import IoTHubRegistryManager
from azure.iot.hub.models import Twin, TwinProperties, CloudToDeviceMethod, QuerySpecification

from oracle_result import emit


def status_of(call):
    try:
        call()
        return 200
    except Exception as error:  # msrest HttpOperationError carries the response
        response = getattr(error, "response", None)
        return getattr(response, "status_code", None) or str(error)


def main():
    manager = IoTHubRegistryManager(sys.argv[1])
    out = {}
    created = manager.create_device_with_sas("sdk-dev", None, None, "enabled")
    out["created"] = {"id": created.device_id, "type": created.authentication.type,
                      "hasKey": bool(created.authentication.symmetric_key.primary_key), "etag": created.etag}
    out["duplicate"] = status_of(lambda: manager.create_device_with_sas("sdk-dev", None, None, "enabled"))
    fetched = manager.get_device("sdk-dev")
    out["fetched"] = {"status": fetched.status, "connectionState": fetched.connection_state}
    updated = manager.update_device_with_sas("sdk-dev", fetched.etag, None, None, "disabled")
    out["updated"] = {"status": updated.status, "etagChanged": updated.etag != fetched.etag}
    out["staleEtag"] = status_of(lambda: manager.update_device_with_sas("sdk-dev", fetched.etag, None, None, "enabled"))
    twin = manager.get_twin("sdk-dev")
    patch = Twin(tags={"floor": 2}, properties=TwinProperties(desired={"setpoint": 21}))
    patched = manager.update_twin("sdk-dev", patch, twin.etag)
    out["twin"] = {"version": patched.version, "tags": patched.tags, "setpoint": patched.properties.desired.get("setpoint"),
                   "desiredVersion": patched.properties.desired.get("$version")}
    out["staleTwin"] = status_of(lambda: manager.update_twin("sdk-dev", patch, twin.etag))
    out["queryBeforeReplace"] = [t.device_id for t in manager.query_iot_hub(
        QuerySpecification(query="SELECT * FROM devices WHERE tags.floor = 2")).items]
    replaced = manager.replace_twin("sdk-dev", Twin(properties=TwinProperties(desired={"only": True})))
    out["replaced"] = sorted(k for k in replaced.properties.desired if not k.startswith("$"))
    out["offlineMethod"] = status_of(lambda: manager.invoke_device_method(
        "sdk-dev", CloudToDeviceMethod(method_name="reboot", payload={}, response_timeout_in_seconds=5)))
    result = manager.query_iot_hub(QuerySpecification(query="SELECT * FROM devices WHERE tags.floor = 2"), None, 10)
    out["query"] = {"ids": [item.device_id for item in result.items], "type": result.type}
    out["registryStats"] = manager.get_device_registry_statistics().total_device_count
    out["serviceStats"] = manager.get_service_statistics().connected_device_count
    out["list"] = [d.device_id for d in manager.get_devices(10)]
    out["missing"] = status_of(lambda: manager.get_device("no-such-device"))
    manager.delete_device("sdk-dev")
    out["afterDelete"] = status_of(lambda: manager.get_device("sdk-dev"))
    bad = IoTHubRegistryManager(sys.argv[1].replace(sys.argv[1].split("SharedAccessKey=")[1], "AAAA" * 11))
    out["wrongKey"] = status_of(lambda: bad.get_device("sdk-dev"))
    emit(out)


if __name__ == "__main__":
    main()
