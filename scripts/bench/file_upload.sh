#!/usr/bin/env bash
# file-upload (make bench, BENCH=file-upload): the device SDK's streaming file upload against the companion hub.
# Builds release `iothub` and `sample-file-upload`, starts a hub on a temporary data directory, creates a device,
# uploads a FILE_UPLOAD_MB (256) MB random file in FILE_UPLOAD_BLOCK_BYTES (4 MiB) blocks over TLS, checks the
# SHA-256 of the blob the hub stored against the file's, and reports the sample's peak resident memory (VmHWM:
# constant in the file's size, about the block size plus the runtime) and its throughput.
# Writes bench-results/file-upload.json and prints the numbers. Usage: file_upload.sh (knobs: FILE_UPLOAD_MB,
# FILE_UPLOAD_BLOCK_BYTES, SCRATCH_PATH)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/opt/swift/usr/bin:$PATH
FILE_UPLOAD_MB=${FILE_UPLOAD_MB:-256}
FILE_UPLOAD_BLOCK_BYTES=${FILE_UPLOAD_BLOCK_BYTES:-4194304}

# SCRATCH_PATH: another build directory than .build (to run beside another build).
scratch=()
[ -n "${SCRATCH_PATH:-}" ] && scratch=(--scratch-path "$SCRATCH_PATH")
echo "bench: building iothub and sample-file-upload (release)"
swift build -c release "${scratch[@]}" --product iothub > /dev/null
swift build -c release "${scratch[@]}" --product sample-file-upload > /dev/null
bin=$(swift build -c release "${scratch[@]}" --show-bin-path)

source scripts/lib/hub.sh
read -r https mqtts mqtt http amqp storage < <(free_ports 6)
work=$(mktemp -d /tmp/file-upload-bench.XXXXXX)
hub_pid=""
cleanup() {
    stop_hub "$hub_pid"
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/iothub" serve --data-dir "$work/hub" --hostname localhost --https-port "$https" --mqtts-port "$mqtts" \
    --plain-mqtt-port "$mqtt" --plain-http-port "$http" --amqps-port 0 --plain-amqp-port "$amqp" \
    --storage-port "$storage" --storage-max-bytes $(( (FILE_UPLOAD_MB + 64) << 20 )) --log-level warning \
    > "$work/hub.log" 2>&1 &
hub_pid=$!
wait_for_hub "$hub_pid" "$work/hub.log" "$https" "$http" "$storage"
hub=(--data-dir "$work/hub" --endpoint "http://127.0.0.1:$http")
"$bin/iothub" device create bench-uploader "${hub[@]}" > /dev/null
device=$("$bin/iothub" device connection-string bench-uploader "${hub[@]}")

echo "bench: writing a $FILE_UPLOAD_MB MB random file"
head -c $(( FILE_UPLOAD_MB << 20 )) /dev/urandom > "$work/upload.bin"
expected=$(sha256sum "$work/upload.bin" | cut -d' ' -f1)
size=$(stat -c %s "$work/upload.bin")

echo "bench: uploading it with sample-file-upload ($FILE_UPLOAD_BLOCK_BYTES-byte blocks)"
start=$(date +%s.%N)
IOTHUB_DEVICE_CONNECTION_STRING="$device" IOTHUB_CA_FILE="$work/hub/tls/ca.pem" IOTHUB_HTTPS_PORT="$https" \
    "$bin/sample-file-upload" "$work/upload.bin" --blob-name bench/upload.bin --block-size "$FILE_UPLOAD_BLOCK_BYTES" \
    > "$work/sample.out" 2> "$work/sample.err" &
sample=$!
peak_kb=0
while kill -0 "$sample" 2>/dev/null; do
    kb=$(awk '/VmHWM/ {print $2}' "/proc/$sample/status" 2>/dev/null || echo 0)
    [ -n "$kb" ] && [ "$kb" -gt "$peak_kb" ] && peak_kb=$kb
    sleep 0.05
done
wait "$sample" || { echo "bench: the upload failed:" >&2; tail -20 "$work/sample.err" >&2; exit 1; }
end=$(date +%s.%N)
reported=$(awk '/^sha256 / {print $2}' "$work/sample.out")

# What the hub stored: through its CLI when it has `files download`, else from its data directory (the committed
# blob file holds the bytes first, then the hub's manifest).
if "$bin/iothub" files download bench-uploader/bench/upload.bin --output "$work/stored.bin" "${hub[@]}" \
    > /dev/null 2> "$work/download.err"; then
    stored=$(sha256sum "$work/stored.bin" | cut -d' ' -f1)
    stored_via="iothub files download"
else
    blob=$(find "$work/hub/blobs/containers" -path '*/blob' -type f | head -1)
    [ -n "$blob" ] || { echo "bench: the hub stored no blob" >&2; exit 1; }
    stored=$(head -c "$size" "$blob" | sha256sum | cut -d' ' -f1)
    stored_via="data directory"
fi

status=0
if [ "$stored" != "$expected" ] || [ "$reported" != "$expected" ]; then
    echo "bench: SHA-256 mismatch: file $expected, sample $reported, hub $stored" >&2
    status=1
fi
mkdir -p bench-results
python3 - "$size" "$start" "$end" "$peak_kb" "$expected" "$stored" "$reported" "$stored_via" \
    "$FILE_UPLOAD_BLOCK_BYTES" <<'PY' | tee bench-results/file-upload.json
import json, sys
size, start, end, peak_kb = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
seconds = end - start
print(json.dumps({
    "bytes": size,
    "block_bytes": int(sys.argv[9]),
    "seconds": round(seconds, 3),
    "throughput_mib_per_s": round(size / seconds / 1048576, 1),
    "sample_peak_rss_kb": peak_kb,
    "sha256_file": sys.argv[5],
    "sha256_hub": sys.argv[6],
    "sha256_sample": sys.argv[7],
    "hub_blob_read_via": sys.argv[8],
    "sha256_match": sys.argv[5] == sys.argv[6] == sys.argv[7],
}, indent=2))
PY
echo "bench: file upload: $(( size >> 20 )) MiB, peak RSS $(( peak_kb / 1024 )) MiB, SHA-256 via $stored_via: $([ $status = 0 ] && echo match || echo MISMATCH)"
exit "$status"
