import Testing
@testable import IoTHubProtocol

@Suite("connection strings")
struct ConnectionStringTests {
    let key = "c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MTI="

    @Test("device, module and policy forms")
    func kinds() throws {
        let device = try ConnectionString(parsing: "HostName=hub.local;DeviceId=dev1;SharedAccessKey=\(key)")
        #expect(device.kind == .device)
        #expect(device.hostName == "hub.local")
        #expect(device.deviceId == "dev1")
        #expect(device.sharedAccessKey == key)
        #expect(device.resourceURI == "hub.local/devices/dev1")

        let module = try ConnectionString(parsing: "HostName=hub.local;DeviceId=dev1;ModuleId=m1;SharedAccessKey=\(key)")
        #expect(module.kind == .module)
        #expect(module.resourceURI == "hub.local/devices/dev1/modules/m1")

        let policy = try ConnectionString(parsing: "HostName=hub.local;SharedAccessKeyName=iothubowner;SharedAccessKey=\(key)")
        #expect(policy.kind == .policy)
        #expect(policy.sharedAccessKeyName == "iothubowner")
        #expect(policy.resourceURI == "hub.local")
    }

    @Test("x509, gateway and SAS-token forms")
    func otherForms() throws {
        let x509 = try ConnectionString(parsing: "HostName=hub.local;DeviceId=dev1;x509=true")
        #expect(x509.usesX509)
        #expect(x509.sharedAccessKey == nil)
        let gateway = try ConnectionString(parsing: "HostName=hub.local;DeviceId=d;SharedAccessKey=\(key);GatewayHostName=edge.lan")
        #expect(gateway.gatewayHostName == "edge.lan")
        let token = "SharedAccessSignature sr=hub.local%2Fdevices%2Fd&sig=abc%3D&se=1"
        let sas = try ConnectionString(parsing: "HostName=hub.local;DeviceId=d;SharedAccessSignature=\(token)")
        #expect(sas.sharedAccessSignature == token)
    }

    @Test("keys are case-insensitive, values keep '=' and whitespace around fields is ignored")
    func lenientSyntax() throws {
        let cs = try ConnectionString(parsing: " hostname=hub.local; DEVICEID=d ;sharedaccesskey=\(key)\n")
        #expect(cs.deviceId == "d")
        #expect(cs.sharedAccessKey == key)
        #expect(cs.description == "HostName=hub.local;DeviceId=d;SharedAccessKey=\(key)")
    }

    @Test("description round-trips")
    func roundTrip() throws {
        for text in [
            "HostName=h.net;DeviceId=d;ModuleId=m;SharedAccessKey=\(key)",
            "HostName=h.net;SharedAccessKeyName=service;SharedAccessKey=\(key)",
            "HostName=h.net;DeviceId=d;x509=true;GatewayHostName=g.lan",
        ] {
            #expect(try ConnectionString(parsing: text).description == text)
        }
    }

    @Test("errors name the bad or missing field", arguments: [
        ("", ConnectionStringError.empty),
        ("HostName=h;DeviceId", .malformedSegment("DeviceId")),
        ("HostName=h;;DeviceId=d;SharedAccessKey=c2VjcmV0", .malformedSegment("")),
        ("HostName=h;DeviceId=d;SharedAccessKey=c2VjcmV0;", .malformedSegment("")),
        ("HostName=h;Color=blue", .unknownKey("Color")),
        ("HostName=h;HostName=g;DeviceId=d", .duplicateKey("HostName")),
        ("DeviceId=d;SharedAccessKey=c2VjcmV0", .missingField("HostName")),
        ("HostName=h;DeviceId=d", .missingField("SharedAccessKey, SharedAccessSignature or x509=true")),
        ("HostName=h;SharedAccessKey=c2VjcmV0", .missingField("SharedAccessKeyName")),
        ("HostName=h;SharedAccessKeyName=owner", .missingField("SharedAccessKey")),
        ("HostName=h;DeviceId=d;SharedAccessKey=not*base64", .invalidValue(field: "SharedAccessKey", reason: "it is not valid base64")),
        ("HostName=h;DeviceId=d;SharedAccessKey=c2VjcmV0;x509=true", .mixedAuthentication),
        ("HostName=h;DeviceId=d;x509=maybe", .invalidValue(field: "x509", reason: "'maybe' is neither true nor false")),
        ("HostName=h;DeviceId=;SharedAccessKey=c2VjcmV0", .invalidValue(field: "DeviceId", reason: "it is empty")),
        ("HostName=h;ModuleId=m;SharedAccessKeyName=a;SharedAccessKey=c2VjcmV0", .missingField("DeviceId")),
        ("HostName=a b;DeviceId=d;SharedAccessKey=c2VjcmV0", .invalidValue(field: "HostName", reason: "'a b' is not a host name")),
    ])
    func errors(text: String, expected: ConnectionStringError) {
        #expect(throws: expected) { try ConnectionString(parsing: text) }
    }

    @Test("an invalid device id is reported with the id rule")
    func badDeviceId() {
        #expect {
            try ConnectionString(parsing: "HostName=h;DeviceId=a/b;SharedAccessKey=c2VjcmV0")
        } throws: { error in
            guard case .invalidValue(field: "DeviceId", let reason) = error as? ConnectionStringError else { return false }
            return reason.contains("'/'")
        }
    }

    @Test("every error description tells what to do")
    func descriptions() {
        let errors: [ConnectionStringError] = [.empty, .malformedSegment("x"), .unknownKey("k"), .duplicateKey("k"),
                                               .missingField("f"), .invalidValue(field: "f", reason: "r"),
                                               .mixedAuthentication]
        for error in errors { #expect(error.description.count > 20) }
    }
}
