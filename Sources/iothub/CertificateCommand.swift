import ArgumentParser
import Foundation
import IoTHubServer

/// `iothub cert`: test certificates for X.509 devices, for labs and the simulator.
struct CertificateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Issue test device certificates from the hub's local CA.",
        subcommands: [Issue.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a device certificate (CN = the device id) signed by the data directory's CA.",
            discussion: """
                Writes DEVICE.pem and DEVICE.key (mode 0600) and prints the certificate's SHA-1 and SHA-256 \
                thumbprints. Register the device with `iothub device create DEVICE --auth-method x509_thumbprint \
                --primary-thumbprint SHA256`; the SDK then connects with `certificateFile`/`privateKeyFile`.
                """)

        @Option(help: "The device id; it becomes the certificate's common name.")
        var device: String

        @Option(help: "Where to write DEVICE.pem and DEVICE.key.")
        var out: String = "."

        @Option(help: "Validity in days.")
        var days: Int = 365

        @OptionGroup var data: DataDirectoryOptions

        mutating func validate() throws {
            guard (1...3650).contains(days) else { throw ValidationError("--days must be from 1 to 3650") }
            guard !device.isEmpty, !device.contains("/") else { throw ValidationError("--device must be a device id") }
        }

        func run() async throws {
            let configuration = data.configuration()
            guard FileManager.default.fileExists(atPath: configuration.tlsDirectory + "/ca.pem") else {
                throw ValidationError("no hub CA in \(configuration.tlsDirectory); start `iothub serve --data-dir \(configuration.dataDirectory)` once")
            }
            let authority = try HubCertificateAuthority.loadOrCreate(directory: configuration.tlsDirectory,
                                                                     hostName: configuration.hostName,
                                                                     aliases: configuration.hostNameAliases)
            let issued = try authority.issueDeviceCertificate(deviceId: device, validDays: days)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let certificatePath = out + "/\(device).pem", keyPath = out + "/\(device).key"
            try issued.certificatePEM.write(toFile: certificatePath, atomically: true, encoding: .utf8)
            guard FileManager.default.createFile(atPath: keyPath, contents: Data(issued.keyPEM.utf8),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(keyPath)")
            }
            let thumbprints = try HubCertificateAuthority.thumbprints(ofPEM: issued.certificatePEM)
            print("certificate: \(certificatePath)")
            print("private key: \(keyPath)")
            print("sha1 thumbprint: \(thumbprints.sha1)")
            print("sha256 thumbprint: \(thumbprints.sha256)")
        }
    }
}
