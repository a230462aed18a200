import Hummingbird

/// Builds the hub's REST router: the service API and (later) the device HTTPS API, behind IoT Hub's error format.
public enum HubRouter {
    public static func make(_ hub: HubServices) -> Router<HubRequestContext> {
        let router = Router(context: HubRequestContext.self)
        router.add(middleware: IoTHubErrorMiddleware())
        DevicesController(hub: hub).register(on: router)
        StatisticsController(hub: hub).register(on: router)
        TwinsController(hub: hub).register(on: router)
        DeviceMessagesController(hub: hub).register(on: router)
        MonitorController(hub: hub).register(on: router)
        return router
    }
}
