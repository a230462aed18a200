# swift-iot-hub: the README's commands. Everything installs what it needs first (Debian 12, as root).
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: run test deps venv build clean

## make run: the main job: start the hub on its embedded SQLite store, run a simulated fleet against it, report.
run: deps
	bash scripts/run-main-job.sh

## make test: install missing system packages and the Python test venv, then run every test.
test: deps venv
	IOTHUB_TEST_PYTHON="$(CURDIR)/.venv/bin/python3" swift test --disable-xctest

deps:
	@bash scripts/install-deps.sh

venv: deps
	@bash scripts/setup-venv.sh

build: deps
	swift build

clean:
	rm -rf .build .venv
