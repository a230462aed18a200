import Hummingbird

/// `/statistics/devices` and `/statistics/service`.
struct StatisticsController {
    let hub: HubServices

    struct RegistryStatistics: Codable {
        var totalDeviceCount: Int
        var enabledDeviceCount: Int
        var disabledDeviceCount: Int
    }

    struct ServiceStatistics: Codable {
        var connectedDeviceCount: Int
    }

    func register(on router: Router<HubRequestContext>) {
        router.get("statistics/devices") { request, _ in
            try hub.authenticator.authorize(request, requires: [.registryRead])
            let counts = try await hub.store.deviceCounts()
            return try JSONResponse.make(RegistryStatistics(totalDeviceCount: counts.total, enabledDeviceCount: counts.enabled,
                                                            disabledDeviceCount: counts.disabled))
        }
        router.get("statistics/service") { request, _ in
            try hub.authenticator.authorize(request, requires: [.serviceConnect])
            return try JSONResponse.make(ServiceStatistics(connectedDeviceCount: hub.presence.count))
        }
    }
}
