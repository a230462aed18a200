/// The daily message quota's counter: pure state, keyed by UTC day number (days since 1970-01-01 UTC).
struct DailyQuotaCounter: Sendable {
    let quota: DailyMessageQuota
    /// The UTC day the count belongs to.
    private(set) var day: Int64
    /// Messages charged on that day.
    private(set) var used = 0

    init(quota: DailyMessageQuota, day: Int64) {
        self.quota = quota
        self.day = day
    }

    /// Starts a new count when `today` is later than the counted day (a clock stepping back keeps the count).
    mutating func roll(to today: Int64) {
        if today > day {
            day = today
            used = 0
        }
    }

    /// Charges `bytes` on `today`, unless the quota is already used up. The message that reaches the quota is
    /// charged in full, so `used` may end a little above the limit; every later one is refused.
    mutating func meter(bytes: Int, on today: Int64) -> Bool {
        roll(to: today)
        guard used < quota.messages else { return false }
        used += quota.messages(forBytes: bytes)
        return true
    }
}
