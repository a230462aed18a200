// swift-tools-version:6.1
// swift-iot-hub: an IoT Hub–compatible device SDK, companion hub and fleet simulator.
import PackageDescription

let package = Package(
    name: "swift-iot-hub",
    products: [
        .library(name: "IoTHubProtocol", targets: ["IoTHubProtocol"]),
        .library(name: "MQTTCore", targets: ["MQTTCore"]),
    ],
    targets: [
        // MARK: System libraries (module map + shim.h; installed by `make deps`).
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // No pkgConfig: Debian's libqpid-proton.pc starts with a comment block SwiftPM cannot parse.
        .systemLibrary(name: "CProton", providers: [.apt(["libqpid-proton11-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSystem"),

        // MARK: Sans-IO cores.
        .target(name: "IoTHubProtocol", dependencies: ["COpenSSL"]),
        .target(name: "MQTTCore"),

        // MARK: Tests.
        .testTarget(name: "IoTHubProtocolTests", dependencies: ["IoTHubProtocol"]),
        .testTarget(name: "MQTTCoreTests", dependencies: ["MQTTCore"]),
        .testTarget(name: "CInteropTests", dependencies: ["CMosquitto", "CProton", "COpenSSL", "CSystem"]),
    ],
    swiftLanguageModes: [.v6]
)
