"""Hands an oracle script's result to the Swift test that ran it.

The official SDKs log from background threads, and such a line can land in the middle of the result on stdout.
So the result goes to the file named by ORACLE_RESULT_FILE (written whole, then renamed into place), and is also
printed for a person reading the test log.
"""
import json
import os
import sys


def emit(result):
    text = json.dumps(result)
    path = os.environ.get("ORACLE_RESULT_FILE")
    if path:
        partial = path + ".partial"
        with open(partial, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
