"""The official azure-iot-device file-upload calls (get_storage_info_for_blob, notify_blob_upload_status over HTTPS
on 443) with the official azure-storage-blob BlobClient against our hub's storage endpoint; then a back end reads
the file-upload notifications with uamqp on /messages/servicebound/filenotifications. Prints one JSON result.

Usage: file_upload_scenario.py DEVICE_CS CA_FILE OWNER_CS
(REQUESTS_CA_BUNDLE and SSL_CERT_FILE must point at CA_FILE.) Every wait is bounded.
"""
import base64
import hashlib
import hmac
import os
import sys
import time
import urllib.parse

import uamqp
from azure.core.exceptions import HttpResponseError
from azure.iot.device import IoTHubDeviceClient
from azure.storage.blob import BlobClient
from uamqp import authentication

from oracle_result import emit

DEVICE_CS, CA, OWNER = sys.argv[1:4]


def fields(connection_string):
    return dict(part.split("=", 1) for part in connection_string.split(";"))


def url_of(info):
    return "https://{}/{}/{}{}".format(info["hostName"], info["containerName"], info["blobName"], info["sasToken"])


def storage_error(call):
    try:
        call()
        return None
    except HttpResponseError as error:
        return {"status": error.status_code, "code": getattr(error, "error_code", None)}
    except Exception as error:
        return {"status": None, "code": f"{type(error).__name__}: {error}"}


def main():
    out = {}
    device = IoTHubDeviceClient.create_from_connection_string(DEVICE_CS, server_verification_cert=open(CA).read())
    device.connect()

    # Single shot (Put Blob).
    small = b"hello from the official SDKs\n" * 10
    info = device.get_storage_info_for_blob("logs/small.txt")
    out["info"] = {key: info.get(key) for key in ("hostName", "containerName", "blobName")}
    out["infoKeys"] = sorted(info.keys())
    blob = BlobClient.from_blob_url(url_of(info))
    blob.upload_blob(small, overwrite=True, content_settings=None)
    device.notify_blob_upload_status(info["correlationId"], True, 200, "uploaded small")
    out["smallDownload"] = hashlib.sha256(blob.download_blob().readall()).hexdigest()
    out["smallSha256"] = hashlib.sha256(small).hexdigest()
    out["smallRange"] = blob.download_blob(offset=6, length=4).readall().decode()
    out["smallSize"] = blob.get_blob_properties().size

    # Chunked (Put Block + Put Block List), with small limits.
    large = os.urandom(700 * 1024 + 123)
    info2 = device.get_storage_info_for_blob("large.bin")
    chunked = BlobClient.from_blob_url(url_of(info2), max_single_put_size=64 * 1024, max_block_size=64 * 1024,
                                       max_chunk_get_size=100 * 1024, max_single_get_size=64 * 1024)
    chunked.upload_blob(large, overwrite=True, max_concurrency=2)
    out["largeBlocks"] = len(chunked.get_block_list("committed")[0])
    device.notify_blob_upload_status(info2["correlationId"], True, 200, "uploaded large")
    out["largeDownload"] = hashlib.sha256(chunked.download_blob(max_concurrency=2).readall()).hexdigest()
    out["largeSha256"] = hashlib.sha256(large).hexdigest()

    # An empty file.
    info3 = device.get_storage_info_for_blob("empty.txt")
    empty = BlobClient.from_blob_url(url_of(info3))
    empty.upload_blob(b"", overwrite=True)
    out["emptyDownload"] = len(empty.download_blob().readall())
    device.notify_blob_upload_status(info3["correlationId"], True, 200, "uploaded empty")

    # A failed upload is reported, and sends no notification.
    info4 = device.get_storage_info_for_blob("failed.bin")
    device.notify_blob_upload_status(info4["correlationId"], False, 500, "the device ran out of battery")

    # SAS refusals.
    sas = info["sasToken"]
    tampered = sas.replace("sig=", "sig=AAAA", 1)
    out["tampered"] = storage_error(lambda: BlobClient.from_blob_url(
        url_of(dict(info, sasToken=tampered))).upload_blob(b"x", overwrite=True))
    out["otherBlob"] = storage_error(lambda: BlobClient.from_blob_url(
        url_of(dict(info, blobName=info["blobName"] + ".other"))).upload_blob(b"x", overwrite=True))
    out["noSas"] = storage_error(lambda: BlobClient.from_blob_url(
        url_of(dict(info, sasToken=""))).download_blob().readall())
    out["beyondEnd"] = storage_error(lambda: BlobClient.from_blob_url(
        url_of(dict(info2, blobName=info2["blobName"]))).download_blob(offset=10 ** 9, length=5).readall())

    # At most 10 uploads in progress per device.
    pending = []
    limit_error = None
    for index in range(11):
        try:
            pending.append(device.get_storage_info_for_blob(f"pending-{index}.bin"))
        except Exception as error:
            limit_error = f"{type(error).__name__}: {error}"
            break
    out["inProgressGranted"] = len(pending)
    out["limitError"] = limit_error
    for grant in pending:
        device.notify_blob_upload_status(grant["correlationId"], False, 400, "abandoned")
    device.shutdown()

    # A back end reads the notifications.
    owner = fields(OWNER)
    expiry = int(time.time() + 600)
    host = owner["HostName"]
    encoded = urllib.parse.quote_plus(host)
    digest = hmac.new(base64.b64decode(owner["SharedAccessKey"]), f"{encoded}\n{expiry}".encode(), hashlib.sha256).digest()
    token = (f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote(base64.b64encode(digest).decode(), safe='')}"
             f"&se={expiry}&skn={owner['SharedAccessKeyName']}")
    # uamqp waits 10 s for a CBS answer by default; one fresh-clone CI run failed here (Put-Token, retries exhausted)
    # while every other suite ran beside it. A minute, still bounded.
    auth = authentication.SASTokenAuth(audience=host, uri=f"amqps://{host}", token=token, expires_at=expiry, verify=CA,
                                       timeout=60)
    receiver = uamqp.ReceiveClient(f"amqps://{host}/messages/servicebound/filenotifications", auth=auth, timeout=15000)
    notifications = []
    deadline = time.time() + 20
    while time.time() < deadline and len(notifications) < 3:
        for message in receiver.receive_message_batch(max_batch_size=10, timeout=3000):
            notifications.append(__import__("json").loads(b"".join(message.get_data())))
            message.accept()
    receiver.close()
    out["notifications"] = notifications
    emit(out)


if __name__ == "__main__":
    main()
