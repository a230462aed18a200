// The server is the hub's core plus its protocol heads: code that links IoTHubServer sees the core's API too.
@_exported import IoTHubCore
