import Testing
@testable import IoTHubProtocol

@Suite("IoT Hub MQTT topics")
struct TopicTests {
    let me = DeviceIdentity(deviceId: "d1")
    let module = DeviceIdentity(deviceId: "d1", moduleId: "m1")

    @Test("telemetry topics: with and without a bag, with and without the trailing slash")
    func telemetry() throws {
        #expect(try DeviceTopic(parsing: "devices/d1/messages/events/", identity: me) == .telemetry(PropertyBag()))
        #expect(try DeviceTopic(parsing: "devices/d1/messages/events", identity: me) == .telemetry(PropertyBag()))
        #expect(try DeviceTopic(parsing: "devices/d1/messages/events/a=1&%24.mid=x&flag&e=", identity: me)
                == .telemetry(PropertyBag([("a", "1"), ("$.mid", "x"), ("flag", nil), ("e", "")])))
        #expect(try DeviceTopic(parsing: "devices/d1/modules/m1/messages/events/", identity: module)
                == .telemetry(PropertyBag()))
    }

    @Test("property bags: null and empty values, '+' is literal")
    func bags() {
        let bag = PropertyBag(decoding: "k&e=&p=a+b&q=%2B")
        #expect(bag["k"] == .some(nil))
        #expect(bag["e"] == .some(""))
        #expect(bag["p"] == .some("a+b"))
        #expect(bag["q"] == .some("+"))
        #expect(bag["missing"] == nil)
        #expect(PropertyBag([("k", nil), ("a b", "c&d")]).encoded == "k&a%20b=c%26d")
    }

    @Test("a message's bag: system keys decoded into fields, others into properties")
    func messageFromBag() {
        let message = IoTHubMessage(body: [1], propertyBag: PropertyBag(decoding: "%24.mid=1&%24.ct=application%2Fjson&%24.ce=utf-8&level=hi&bare"))
        #expect(message.systemProperties.messageId == "1")
        #expect(message.systemProperties.contentType == "application/json")
        #expect(message.systemProperties.contentEncoding == "utf-8")
        #expect(message.properties == ["level": "hi", "bare": ""])
    }

    @Test("C2D bag order: $.mid, $.to, $.cid, $.uid, $.ct, $.ce, iothub-ack, $.exp, then sorted properties")
    func c2dOrder() {
        var message = IoTHubMessage()
        message.systemProperties.messageId = "m"
        message.systemProperties.to = "/devices/d1/messages/deviceBound"
        message.systemProperties.ack = "full"
        message.systemProperties.correlationId = "c"
        message.properties = ["z": "1", "a": "2"]
        #expect(HubTopic.cloudToDevice(message.cloudToDevicePropertyBag).topic(for: me)
                == "devices/d1/messages/devicebound/%24.mid=m&%24.to=%2Fdevices%2Fd1%2Fmessages%2FdeviceBound&%24.cid=c&iothub-ack=full&a=2&z=1")
    }

    @Test("hub topics round-trip through the device-side parser")
    func hubTopicsRoundTrip() throws {
        let topics: [HubTopic] = [
            .cloudToDevice(PropertyBag([("$.mid", "1"), ("k", "v w")])),
            .twinResponse(status: 200, requestId: "r1", version: nil),
            .twinResponse(status: 204, requestId: "r 2", version: 12),
            .twinResponse(status: 429, requestId: "3", version: nil),
            .desiredPropertiesPatch(version: 4),
            .methodRequest(name: "reboot now", requestId: "9"),
        ]
        for topic in topics {
            #expect(try HubTopic(parsing: topic.topic(for: me), identity: me) == topic)
        }
        let input = HubTopic.moduleInput(name: "in1", PropertyBag([("a", "b")]))
        #expect(try HubTopic(parsing: input.topic(for: module), identity: module) == input)
        #expect(HubTopic.desiredPropertiesPatch(version: 4).topic(for: me) == "$iothub/twin/PATCH/properties/desired/?$version=4")
        #expect(HubTopic.twinResponse(status: 204, requestId: "3", version: 5).topic(for: me) == "$iothub/twin/res/204/?$rid=3&$version=5")
        #expect(HubTopic.methodRequest(name: "reboot", requestId: "1").topic(for: me) == "$iothub/methods/POST/reboot/?$rid=1")
    }

    @Test("device topics round-trip through the hub-side parser")
    func deviceTopicsRoundTrip() throws {
        let topics: [DeviceTopic] = [
            .telemetry(PropertyBag([("a", "1")])), .twinGet(requestId: "1"), .twinReportedPatch(requestId: "x y"),
            .methodResponse(status: 500, requestId: "7"),
        ]
        for topic in topics {
            #expect(try DeviceTopic(parsing: topic.topic(for: me), identity: me) == topic)
        }
    }

    @Test("another device's topics are foreign", arguments: [
        "devices/d2/messages/events/", "devices/d2/modules/m/messages/events/a=1",
    ])
    func foreign(topic: String) {
        #expect(throws: MQTTNameError.foreignTopic(topic, expected: me)) { try DeviceTopic(parsing: topic, identity: me) }
    }

    @Test("unknown topics are refused", arguments: [
        "devices/d1/messages/devicebound/", "devices/d1/twin", "$iothub/twin/GET/x", "$iothub/twin/PATCH/properties/desired/?$rid=1",
        "$iothub/methods/POST/reboot/?$rid=1", "hello", "", "devices/d1/modules/m1/messages/events/",
    ])
    func unknown(topic: String) {
        #expect(throws: MQTTNameError.self) { try DeviceTopic(parsing: topic, identity: me) }
    }

    @Test("twin and method topics need a request id and a numeric status")
    func malformed() {
        #expect(throws: MQTTNameError.malformedTopic("$iothub/twin/GET/", reason: "it has no $rid request id")) {
            try DeviceTopic(parsing: "$iothub/twin/GET/", identity: me)
        }
        #expect(throws: MQTTNameError.self) { try DeviceTopic(parsing: "$iothub/twin/GET/?$rid=", identity: me) }
        #expect(throws: MQTTNameError.self) { try DeviceTopic(parsing: "$iothub/methods/res/ok/?$rid=1", identity: me) }
        #expect(throws: MQTTNameError.self) { try DeviceTopic(parsing: "$iothub/methods/res/99/?$rid=1", identity: me) }
        #expect(throws: MQTTNameError.self) { try HubTopic(parsing: "$iothub/twin/res/204/?$rid=1&$version=-1", identity: me) }
        #expect(throws: MQTTNameError.self) { try HubTopic(parsing: "$iothub/methods/POST//?$rid=1", identity: me) }
    }

    @Test("subscriptions: own filters accepted, others refused")
    func subscriptions() throws {
        #expect(try DeviceSubscription(parsing: "devices/d1/messages/devicebound/#", identity: me) == .cloudToDevice)
        #expect(try DeviceSubscription(parsing: "$iothub/twin/res/#", identity: me) == .twinResponses)
        #expect(try DeviceSubscription(parsing: "$iothub/twin/PATCH/properties/desired/#", identity: me) == .desiredProperties)
        #expect(try DeviceSubscription(parsing: "$iothub/methods/POST/#", identity: me) == .methods)
        #expect(try DeviceSubscription(parsing: "devices/d1/modules/m1/inputs/#", identity: module) == .moduleInputs)
        #expect(throws: MQTTNameError.foreignTopic("devices/d2/messages/devicebound/#", expected: me)) {
            try DeviceSubscription(parsing: "devices/d2/messages/devicebound/#", identity: me)
        }
        for bad in ["#", "devices/+/messages/devicebound/#", "$iothub/#", "devices/d1/messages/events/#", "$SYS/#"] {
            #expect(throws: MQTTNameError.self) { try DeviceSubscription(parsing: bad, identity: me) }
        }
        #expect(throws: MQTTNameError.self) { try DeviceSubscription(parsing: "devices/d1/modules/m1/inputs/#", identity: me) }
    }

    @Test("user names: forms with and without '?', module client ids, unknown keys kept")
    func userNames() throws {
        let plain = try MQTTUserName(parsing: "h.net/d1/?api-version=2021-04-12&foo=bar%20baz")
        #expect(plain.identity == me)
        #expect(plain.apiVersion == "2021-04-12")
        #expect(plain.queryValue("foo") == "bar baz")
        let moduleName = try MQTTUserName(parsing: "h.net/d1/m1/?api-version=2019-10-01")
        #expect(moduleName.identity == module)
        let old = try MQTTUserName(parsing: "h.net/d1/api-version=2016-11-14&DeviceClientType=c")
        #expect(old.identity == me)
        #expect(old.clientType == "c")
        let bare = try MQTTUserName(parsing: "h.net/d1")
        #expect(bare.apiVersion == nil)
        for bad in ["", "h.net", "h.net//?a=1", "h.net/a/b/c/?x=1", "/d1/?a=1"] {
            #expect(throws: MQTTNameError.self) { try MQTTUserName(parsing: bad) }
        }
    }

    @Test("user name encoding: host and client id raw, query encoded")
    func userNameEncoding() {
        let name = MQTTUserName(hostName: "h", identity: DeviceIdentity(deviceId: "a$b", moduleId: "m"),
                                clientType: "x/1 (y;z)")
        #expect(name.description == "h/a$b/m/?api-version=2019-10-01&DeviceClientType=x%2F1%20%28y%3Bz%29")
    }
}
