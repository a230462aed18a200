/// Carries a loop-confined object through a `@Sendable` closure that runs on that loop (or, for the connector,
/// while the loop provably does not touch the object: between `connect()` and `connectReturned`).
struct LoopHandoff<Value: AnyObject>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
