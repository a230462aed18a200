import Testing
@testable import IoTHubProtocol

@Suite("identities and error codes")
struct IdentityTests {
    @Test("every allowed character, 128 characters at most")
    func ids() throws {
        try IdentityValidation.validateDeviceId("AZaz09-.%_*?!(),:=@$'")
        try IdentityValidation.validateDeviceId(String(repeating: "a", count: 128))
        #expect(throws: IdentityError.tooLong(.device, id: String(repeating: "a", count: 129), length: 129)) {
            try IdentityValidation.validateDeviceId(String(repeating: "a", count: 129))
        }
        #expect(throws: IdentityError.empty(.module)) { try IdentityValidation.validateModuleId("") }
        for bad in ["a/b", "a b", "a#b", "a+b", "é", "a&b", "a\u{0}b"] {
            #expect(!IdentityValidation.isValid(bad), "\(bad)")
        }
    }

    @Test("client id and topic base")
    func identity() throws {
        let module = DeviceIdentity(deviceId: "d", moduleId: "m")
        #expect(module.clientId == "d/m")
        #expect(module.topicBase == "devices/d/modules/m")
        #expect(module.sasResource(hostName: "h").uri == "h/devices/d/modules/m")
        #expect(throws: IdentityError.self) { try DeviceIdentity(deviceId: "d", moduleId: "m/x").validate() }
    }

    @Test("error codes: status from the first three digits, names round-trip")
    func errorCodes() {
        #expect(IoTHubErrorCode.deviceNotFound.httpStatus == 404)
        #expect(IoTHubErrorCode.throttlingException.httpStatus == 429)
        for code in IoTHubErrorCode.allCases {
            #expect(IoTHubErrorCode(name: code.name) == code)
            #expect((400...599).contains(code.httpStatus))
        }
        #expect(IoTHubErrorCode(name: "NoSuchCode") == nil)
        #expect(Set(IoTHubErrorCode.allCases.map(\.name)).count == IoTHubErrorCode.allCases.count)
    }

    @Test("message size counts body, property names and values")
    func messageSize() {
        var message = IoTHubMessage(text: "12345", properties: ["ab": "cd"])
        message.systemProperties.messageId = "xy"
        #expect(message.size == 5 + 4 + "$.mid".count + 2)
    }

    @Test("C2D acknowledgement modes decide which outcomes get feedback")
    func acks() {
        #expect(C2DAcknowledgement.full.wantsFeedback(for: .expired))
        #expect(C2DAcknowledgement.positive.wantsFeedback(for: .success))
        #expect(!C2DAcknowledgement.positive.wantsFeedback(for: .rejected))
        #expect(C2DAcknowledgement.negative.wantsFeedback(for: .deliveryCountExceeded))
        #expect(!C2DAcknowledgement.negative.wantsFeedback(for: .success))
        #expect(!C2DAcknowledgement.none.wantsFeedback(for: .success))
    }
}
