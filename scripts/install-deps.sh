#!/usr/bin/env bash
# Installs the system packages swift-iot-hub needs on Debian 12, only when some are missing.
# Idempotent and quick when everything is present. Runs as root (or through sudo when available).
set -euo pipefail

packages=(
    libssl-dev            # COpenSSL: TLS, HMAC, X.509
    libmosquitto-dev      # CMosquitto: the device SDK's MQTT transport
    libqpid-proton11-dev  # CProton: AMQP 1.0
    libsqlite3-dev        # the hub's embedded store
    libcurl4-openssl-dev  # CCurl: the device SDK's HTTPS client for file upload (on the system OpenSSL)
    pkg-config            # SwiftPM finds the libraries' flags with it
    mosquitto             # a reference MQTT broker for transport tests
    python3-venv          # the test venv with the official Azure SDKs
    openssl               # certificates for TLS and X.509 tests
    curl                  # HTTP checks in tests
    gdb                   # make hostile reads the hub's memory after malloc_trim
    heaptrack             # make bench counts the hub's allocations per message
    chromium              # a headless browser renders the simulator's HTML report in a test
    fonts-liberation      # ... with real fonts (chromium only recommends them)
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
run_as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then run_as_root=(sudo); else
        echo "install-deps: missing ${missing[*]}; run as root or install them with apt-get" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${run_as_root[@]}" apt-get update -qq
"${run_as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
