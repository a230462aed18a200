import IoTHubCore
import IoTHubProtocol

/// A stored device-to-cloud message as IoT Hub's built-in endpoint delivers it to Event Hubs readers.
///
/// - Body: one data section, the device's bytes.
/// - Properties: `message-id`, `correlation-id`, `user-id`, `content-type`, `content-encoding`, `to` and
///   `absolute-expiry-time`, as the device set them.
/// - Message annotations: Event Hubs' `x-opt-sequence-number` (long, within the partition), `x-opt-offset`
///   (string), `x-opt-enqueued-time` (timestamp) and `x-opt-partition-key` (the device id), then the hub's stamps
///   `iothub-connection-device-id`, `iothub-connection-module-id`, `iothub-connection-auth-method`,
///   `iothub-connection-auth-generation-id`, `iothub-enqueuedtime` (timestamp) and `iothub-message-source`, and
///   the device's `iothub-creation-time-utc`, `dt-dataschema` and `iothub-outputname` when set.
/// - Application properties: the device's, as strings.
enum EventHubEventMessage {
    static func make(_ event: StoredEvent) -> AMQPMessage {
        // The standard properties and application properties as C2D messages carry them; the creation time goes
        // in an annotation instead, as IoT Hub does for telemetry.
        var message = AMQPMessage(event.message)
        message.creationTime = nil
        let system = event.message.systemProperties
        let milliseconds = AMQPMessage.milliseconds
        let enqueued = event.enqueuedTime.milliseconds
        var annotations: [String: AMQPValue] = [
            "x-opt-sequence-number": .long(event.partitionSequenceNumber),
            "x-opt-offset": .string(String(event.sequenceNumber)),
            "x-opt-enqueued-time": .timestamp(enqueued),
            "x-opt-partition-key": .string(event.identity.deviceId),
        ]
        annotations["iothub-connection-device-id"] = system.connectionDeviceId.map(AMQPValue.string)
        annotations["iothub-connection-module-id"] = system.connectionModuleId.map(AMQPValue.string)
        annotations["iothub-connection-auth-method"] = system.connectionAuthMethod.map(AMQPValue.string)
        annotations["iothub-connection-auth-generation-id"] = system.connectionAuthGenerationId.map(AMQPValue.string)
        annotations["iothub-enqueuedtime"] = .timestamp(system.enqueuedTime.flatMap(milliseconds) ?? enqueued)
        annotations["iothub-message-source"] = .string(system.messageSource ?? "Telemetry")
        annotations["iothub-creation-time-utc"] = system.creationTimeUTC.map(AMQPValue.string)
        annotations["dt-dataschema"] = system.interfaceId.map(AMQPValue.string)
        annotations["iothub-outputname"] = system.outputName.map(AMQPValue.string)
        message.messageAnnotations = annotations
        return message
    }
}
