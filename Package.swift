// swift-tools-version:6.1
// swift-iot-hub: an IoT Hub–compatible device SDK, companion hub and fleet simulator.
import PackageDescription

let package = Package(
    name: "swift-iot-hub",
    products: [
        .library(name: "IoTHubProtocol", targets: ["IoTHubProtocol"]),
        .library(name: "MQTTCore", targets: ["MQTTCore"]),
        .library(name: "IoTHubDevice", targets: ["IoTHubDevice"]),
        .executable(name: "iothub", targets: ["iothub"]),
        .executable(name: "fleetsim", targets: ["fleetsim"]),
        .executable(name: "sample-telemetry", targets: ["sample-telemetry"]),
        .executable(name: "sample-thermostat", targets: ["sample-thermostat"]),
        .executable(name: "sample-c2d-listener", targets: ["sample-c2d-listener"]),
        .executable(name: "sample-x509-device", targets: ["sample-x509-device"]),
        .executable(name: "sample-amqp-gateway", targets: ["sample-amqp-gateway"]),
        .executable(name: "sample-file-upload", targets: ["sample-file-upload"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Already a dependency of Hummingbird; named for NIOHTTPTypes, the HTTP parts the hub's HTTP handlers see.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.7.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Mergeable latency histograms for the simulator's workers.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // The simulator's scenario files (YAML, with line numbers for errors).
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // MARK: System libraries (module map + shim.h; installed by `make deps`).
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // No pkgConfig: Debian's libqpid-proton.pc starts with a comment block SwiftPM cannot parse.
        .systemLibrary(name: "CProton", providers: [.apt(["libqpid-proton11-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // Named CLinuxSystem, not CSystem: swift-system (pulled in by NIO) has a target called CSystem.
        .systemLibrary(name: "CLinuxSystem"),
        // libcurl on the system OpenSSL: the SDK's HTTPS client for file upload (hub and blob storage).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // MARK: Sans-IO cores.
        .target(name: "IoTHubProtocol", dependencies: ["COpenSSL"]),
        .target(name: "MQTTCore"),

        // MARK: AMQP message encoding on Qpid Proton, shared by the SDK and the hub.
        .target(name: "ProtonCodec", dependencies: ["CProton", "IoTHubProtocol"]),

        // MARK: The device SDK (libmosquitto and Qpid Proton on its own epoll loop, system OpenSSL).
        .target(name: "IoTHubDevice", dependencies: [
            "IoTHubProtocol", "ProtonCodec", "CMosquitto", "CProton", "COpenSSL", "CLinuxSystem", "CCurl",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: The fleet simulator.
        .target(name: "FleetSimulation", dependencies: [
            "IoTHubDevice", "IoTHubProtocol", "MQTTCore", "CLinuxSystem",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ], path: "Simulator/FleetSimulation"),
        .executableTarget(name: "fleetsim", dependencies: [
            "FleetSimulation", "IoTHubProtocol", "IoTHubDevice",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Simulator/fleetsim"),

        // MARK: Samples: small device programs on the SDK (see README, "Device SDK samples").
        // SampleSupport and sample-telemetry link only the SDK: no ArgumentParser, which brings FoundationEssentials.
        .target(name: "SampleSupport", dependencies: ["IoTHubDevice"], path: "Samples/Support"),
        .executableTarget(name: "sample-telemetry", dependencies: ["SampleSupport", "IoTHubDevice"],
                          path: "Samples/telemetry"),
        .executableTarget(name: "sample-thermostat", dependencies: [
            "SampleSupport", "IoTHubDevice", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Samples/thermostat"),
        .executableTarget(name: "sample-c2d-listener", dependencies: [
            "SampleSupport", "IoTHubDevice", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Samples/c2d-listener"),
        .executableTarget(name: "sample-x509-device", dependencies: [
            "SampleSupport", "IoTHubDevice", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Samples/x509-device"),
        .executableTarget(name: "sample-amqp-gateway", dependencies: [
            "SampleSupport", "IoTHubDevice", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Samples/amqp-gateway"),
        .executableTarget(name: "sample-file-upload", dependencies: ["SampleSupport", "IoTHubDevice"],
                          path: "Samples/file-upload"),

        // MARK: The companion hub: a protocol-neutral core (services, store, sessions; no NIO or Hummingbird), and
        // the server with its protocol heads (MQTT, AMQP, REST) on SwiftNIO.
        .target(name: "IoTHubCore", dependencies: [
            "IoTHubProtocol", "CSQLite", "COpenSSL", "CLinuxSystem",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .target(name: "IoTHubServer", dependencies: [
            "IoTHubCore", "IoTHubProtocol", "ProtonCodec", "MQTTCore", "CSQLite", "CProton",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),

        .executableTarget(name: "iothub", dependencies: [
            "IoTHubServer", "IoTHubProtocol",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // MARK: Tests.
        .testTarget(name: "IoTHubProtocolTests", dependencies: ["IoTHubProtocol", "IoTHubTestSupport"]),
        .testTarget(name: "MQTTCoreTests", dependencies: ["MQTTCore"]),
        .testTarget(name: "IoTHubServerTests", dependencies: [
            "IoTHubServer", "IoTHubCore", "iothub", "IoTHubTestSupport",
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        // Helpers both test modules use (they share one test process, not their code).
        .target(name: "IoTHubTestSupport", path: "Tests/Support"),
        .testTarget(name: "IoTHubDeviceTests", dependencies: [
            "IoTHubDevice", "IoTHubServer", "IoTHubProtocol", "IoTHubTestSupport", "FleetSimulation",
        ]),
        .testTarget(name: "CInteropTests", dependencies: ["CMosquitto", "CProton", "COpenSSL", "CLinuxSystem"]),
    ],
    swiftLanguageModes: [.v6]
)
