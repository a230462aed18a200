import IoTHubCore
import Logging

/// What every connection of one MQTT listener shares: the hub's services, the endpoint's configuration, the
/// per-event-loop objects and the listener's logger.
///
/// One object per listener, referenced by each ``MQTTDeviceConnectionHandler``, so that an idle connection holds
/// one reference instead of its own copies of these (a few hundred bytes each).
final class MQTTConnectionEnvironment: Sendable {
    let services: HubServices
    let configuration: MQTTEndpointConfiguration
    let locals: EventLoopLocals
    /// The listener's logger; a connection adds its peer and identity when it logs.
    let logger: Logger

    init(services: HubServices, configuration: MQTTEndpointConfiguration, locals: EventLoopLocals, logger: Logger) {
        self.services = services
        self.configuration = configuration
        self.locals = locals
        self.logger = logger
    }
}
