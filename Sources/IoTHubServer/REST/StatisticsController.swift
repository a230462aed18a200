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
        router.requiring([.registryRead], hub).get("statistics/devices") { _, _ in
            let counts = try await hub.store.deviceCounts()
            return try JSONResponse.make(RegistryStatistics(totalDeviceCount: counts.total, enabledDeviceCount: counts.enabled,
                                                            disabledDeviceCount: counts.disabled))
        }
        router.requiring([.serviceConnect], hub).get("statistics/service") { _, _ in
            return try JSONResponse.make(ServiceStatistics(connectedDeviceCount: hub.presence.count))
        }
    }
}
