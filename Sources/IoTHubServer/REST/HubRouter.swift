import Hummingbird
import NIOCore

/// Builds the hub's REST router: the service API and (later) the device HTTPS API, behind IoT Hub's error format.
public enum HubRouter {
    /// The routes behind ``DevicePathNormalizer``, which spells device paths as the routes do.
    public static func make(_ hub: HubServices) -> HubResponderBuilder {
        let router = Router(context: HubRequestContext.self)
        router.add(middleware: IoTHubErrorMiddleware(metrics: hub.metrics))
        // Prometheus scrape endpoint; counts only, so it needs no credentials.
        router.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: hub.metrics.render())))
        }
        DevicesController(hub: hub).register(on: router)
        StatisticsController(hub: hub).register(on: router)
        TwinsController(hub: hub).register(on: router)
        DeviceMessagesController(hub: hub).register(on: router)
        MonitorController(hub: hub).register(on: router)
        QueryController(hub: hub).register(on: router)
        CertificatesController(hub: hub).register(on: router)
        FileUploadController(hub: hub).register(on: router)
        FilesController(hub: hub).register(on: router)
        EventHubController(hub: hub).register(on: router)
        RoutingController(hub: hub).register(on: router)
        return HubResponderBuilder(router: router)
    }
}
