"""Third-party check of the storage endpoint's Avro blobs: reads one with fastavro, a real Avro reader.

Usage: avro_read.py FILE

Prints the writer schema as the file stores it (one line, {"schema": ...}), then each record as one line of JSON
with the body in base64 ({"EnqueuedTimeUtc": ..., "Properties": {...}, "SystemProperties": {...},
"Body": "base64" or null}). Exits 1, with the reason on stderr, when fastavro cannot read the file.
"""
import base64
import json
import sys

import fastavro


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: avro_read.py FILE\n")
        return 2
    try:
        with open(argv[1], "rb") as handle:
            reader = fastavro.reader(handle)
            schema = reader.metadata.get("avro.schema")
            codec = reader.metadata.get("avro.codec")
            records = list(reader)
    except Exception as error:  # fastavro raises many kinds for a malformed file
        sys.stderr.write("avro_read: %s: %s: %s\n" % (argv[1], type(error).__name__, error))
        return 1
    print(json.dumps({"schema": schema, "codec": codec}, ensure_ascii=False))
    for record in records:
        body = record.get("Body")
        record["Body"] = None if body is None else base64.b64encode(body).decode("ascii")
        print(json.dumps(record, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
