// SPDX-License-Identifier: MIT
// Caller audio a network agent holds while it has no connection, sent when it has one again.
// Bounded: past the limit the oldest audio goes, and the caller of `append` counts it.
struct UplinkBacklog {
    private(set) var bytes: [UInt8] = []

    /// Appends `audio` and keeps at most `limit` bytes; returns how many old bytes were dropped.
    mutating func append(_ audio: UnsafeRawBufferPointer, limit: Int) -> Int {
        bytes += audio
        let dropped = max(0, bytes.count - limit)
        if dropped > 0 { bytes.removeFirst(dropped) }
        return dropped
    }

    /// Everything held, oldest first; the backlog is empty afterwards.
    mutating func take() -> [UInt8] {
        defer { bytes.removeAll() }
        return bytes
    }
}

/// Reconnect delays: the minimum, doubling per failed attempt, up to the maximum.
struct ReconnectBackoff {
    private var attempts = 0

    /// The delay before the next attempt, in ms; counts the attempt.
    mutating func nextDelay(minimum: Int64, maximum: Int64) -> Int64 {
        defer { attempts += 1 }
        return min(maximum, minimum << Int64(min(attempts, 16)))
    }

    /// A connection succeeded: the next loss starts from the minimum again.
    mutating func reset() { attempts = 0 }
}
