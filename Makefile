# swift-iot-hub: the README's commands. Everything installs what it needs first (Debian 12, as root).
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: run test deps venv build clean

## make run: the main job: start the hub on its embedded SQLite store, run a simulated fleet against it, report.
run: deps
	bash scripts/run-main-job.sh

## make test: install missing system packages and the Python test venv, then run every test, the fuzz smoke
## (FUZZ_SECONDS, default 15, a target) and the docs build, each step timed (scripts/test-all.sh).
test: deps venv
	bash scripts/test-all.sh

.PHONY: docs

## make docs: the IoTHubDevice DocC catalog built with the swift-docc-plugin, any DocC warning an error; the archive
## goes to .build/plugins/Swift-DocC/outputs/IoTHubDevice.doccarchive. It shares .build with swift build, so after
## the tests it only extracts symbols (under a minute) instead of building the SDK again.
docs: deps
	swift package generate-documentation --target IoTHubDevice --warnings-as-errors

.PHONY: bench

## make bench: release builds, a hub started on a fresh store, and the benchmarks against it (AMQP multiplexing:
## attaches/s and RSS per idle device; the SDK's static footprint); prints numbers, writes bench-results/*.json.
bench: deps
	bash scripts/bench.sh

.PHONY: fuzz fuzz-smoke

## make fuzz: build the libFuzzer targets (Fuzz/) and run each FUZZ_SECONDS (default 600); see Fuzz/README.md.
fuzz: FUZZ_SECONDS ?= 600
fuzz: deps
	bash scripts/fuzz.sh --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## make fuzz-smoke: every fuzz target briefly (FUZZ_SECONDS, default 15), as make test does.
fuzz-smoke: FUZZ_SECONDS ?= 15
fuzz-smoke: deps
	bash scripts/fuzz.sh --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## make hostile: the mixed hostile load (floods, bad logins) against a release hub for HOSTILE_SECONDS (default 600),
## measuring a legitimate device meanwhile and the hub's memory after malloc_trim; writes bench-results/hostile-load.json.
.PHONY: hostile
hostile: HOSTILE_SECONDS ?= 600
hostile: deps
	swift build -c release --product iothub
	python3 scripts/hostile_load.py --hub .build/release/iothub --seconds $(HOSTILE_SECONDS)

deps:
	@bash scripts/install-deps.sh

venv: deps
	@bash scripts/setup-venv.sh

build: deps
	swift build

clean:
	rm -rf .build .venv
