// SPDX-License-Identifier: MIT
// RFC 4733 telephone-events (DTMF over RTP): the 4-byte payload, a receiver that turns a
// sender's stream of updates and triple end packets into exactly one digit per key press, and a
// sender that produces that stream (first packet marked, an update every frame with the
// duration so far, the end packet three times, all at the event's start timestamp).

public struct TelephoneEvent: Equatable, Sendable {
    /// 0–9 digits, 10 '*', 11 '#', 12–15 'A'–'D', 16 flash; other values are other events.
    public var event: UInt8
    public var isEnd: Bool
    /// 0–63: −0 … −63 dBm0.
    public var volume: UInt8
    /// Timestamp units since the event began.
    public var duration: UInt16

    public static let payloadLength = 4

    public init(event: UInt8, isEnd: Bool = false, volume: UInt8 = 10, duration: UInt16) {
        self.event = event
        self.isEnd = isEnd
        self.volume = volume & 0x3F
        self.duration = duration
    }

    /// Reads the first 4 bytes of a telephone-event payload (more are allowed: RFC 4733 §2.5.1.5
    /// lets a sender stack redundant events, of which the first is the current one).
    public static func parse(_ payload: UnsafeRawBufferPointer) -> TelephoneEvent? {
        guard payload.count >= payloadLength else { return nil }
        return TelephoneEvent(
            event: payload[0], isEnd: payload[1] & 0x80 != 0, volume: payload[1] & 0x3F,
            duration: loadBigEndian(UInt16.self, at: 2, in: payload))
    }

    /// Writes the 4-byte payload; returns 4, or 0 if `out` is shorter. The reserved bit is 0.
    @discardableResult
    public func write(to out: UnsafeMutableRawBufferPointer) -> Int {
        guard out.count >= Self.payloadLength else { return 0 }
        out[0] = event
        out[1] = (isEnd ? 0x80 : 0) | (volume & 0x3F)
        storeBigEndian(duration, at: 2, in: out)
        return Self.payloadLength
    }

    /// The ASCII digit of a DTMF event ('0'–'9', '*', '#', 'A'–'D'), nil for other events.
    public static func digit(forEvent event: UInt8) -> UInt8? {
        switch event {
        case 0...9: UInt8(ascii: "0") + event
        case 10: UInt8(ascii: "*")
        case 11: UInt8(ascii: "#")
        case 12...15: UInt8(ascii: "A") + event - 12
        default: nil
        }
    }

    public static func event(forDigit digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "*"): 10
        case UInt8(ascii: "#"): 11
        case UInt8(ascii: "A")...UInt8(ascii: "D"): digit - UInt8(ascii: "A") + 12
        case UInt8(ascii: "a")...UInt8(ascii: "d"): digit - UInt8(ascii: "a") + 12
        default: nil
        }
    }
}

/// One key press per (SSRC, timestamp), however many updates, retransmitted ends or reordered
/// packets carry it. The digit is reported on the first packet seen (the caller's key press
/// should stop the agent at once, not after the key is released); its end and exact duration
/// follow. An event whose end packets are all lost ends by `expire`.
public struct TelephoneEventReceiver: Sendable {
    public enum Output: Equatable, Sendable {
        /// A new event began (reported once).
        case began(event: UInt8)
        /// A new event that arrived already ended (its earlier packets were lost): both at once.
        case beganAndEnded(event: UInt8, duration: UInt32)
        /// The event that began earlier ended, with its duration in timestamp units.
        case ended(event: UInt8, duration: UInt32)
    }

    private struct Key: Equatable { var ssrc: UInt32; var timestamp: UInt32 }

    /// The event in progress (or the last one, once ended).
    private var current: Key?
    private var currentEvent: UInt8 = 0
    private var currentEnded = true
    private var currentDuration: UInt32 = 0
    /// Recently finished events, so a straggling retransmission cannot start a second press.
    private var recent: (Key?, Key?, Key?, Key?) = (nil, nil, nil, nil)
    /// Arrival time (caller's units) of the newest packet of the current event.
    private var lastPacketTime: Int64 = 0

    public private(set) var duplicates: UInt64 = 0

    public init() {}

    /// Feeds one telephone-event packet. Realtime-safe.
    public mutating func receive(_ event: TelephoneEvent, ssrc: UInt32, timestamp: UInt32, arrivalTime: Int64) -> Output? {
        let key = Key(ssrc: ssrc, timestamp: timestamp)
        if key == current {
            lastPacketTime = arrivalTime
            currentDuration = max(currentDuration, UInt32(event.duration))
            guard !currentEnded else { duplicates &+= 1; return nil }
            guard event.isEnd else { return nil }
            currentEnded = true
            return .ended(event: currentEvent, duration: currentDuration)
        }
        if isRecent(key) { duplicates &+= 1; return nil }
        // A new event. One still open is finished first (its end packets were lost); its
        // digit was reported when it began.
        remember(current)
        current = key
        currentEvent = event.event
        currentDuration = UInt32(event.duration)
        currentEnded = event.isEnd
        lastPacketTime = arrivalTime
        return event.isEnd ? .beganAndEnded(event: event.event, duration: currentDuration) : .began(event: event.event)
    }

    /// Ends an event whose end never arrived, `timeout` after its last packet (same units as
    /// the arrival times). Realtime-safe.
    public mutating func expire(now: Int64, timeout: Int64) -> Output? {
        guard current != nil, !currentEnded, now - lastPacketTime >= timeout else { return nil }
        currentEnded = true
        return .ended(event: currentEvent, duration: currentDuration)
    }

    private func isRecent(_ key: Key) -> Bool {
        recent.0 == key || recent.1 == key || recent.2 == key || recent.3 == key
    }

    private mutating func remember(_ key: Key?) {
        guard let key else { return }
        recent = (key, recent.0, recent.1, recent.2)
    }
}

/// Produces the packets of one key press, one per call to `next` (call it every packet
/// interval): the first marked, updates with the growing duration, then the end three times.
public struct TelephoneEventSender: Sendable {
    public struct Packet: Equatable, Sendable {
        public var event: TelephoneEvent
        public var marker: Bool
        /// The RTP timestamp every packet of the event carries: its start.
        public var timestamp: UInt32

        public init(event: TelephoneEvent, marker: Bool, timestamp: UInt32) {
            self.event = event
            self.marker = marker
            self.timestamp = timestamp
        }
    }

    private var event: UInt8 = 0
    private var volume: UInt8 = 10
    private var startTimestamp: UInt32 = 0
    private var totalDuration: UInt32 = 0
    private var step: UInt32 = 160
    private var sent: UInt32 = 0
    private var endsLeft = 0
    private var first = false

    public init() {}

    public var isActive: Bool { endsLeft > 0 }

    /// Starts an event at `timestamp`, lasting `duration` timestamp units (at most 65,535: one
    /// segment), with an update every `step` units. Replaces an event in progress.
    public mutating func start(event: UInt8, volume: UInt8 = 10, timestamp: UInt32, duration: UInt32, step: UInt32 = 160) {
        self.event = event
        self.volume = volume
        startTimestamp = timestamp
        totalDuration = min(max(duration, step), 65_535)
        self.step = max(step, 1)
        sent = 0
        endsLeft = 3
        first = true
    }

    /// The next packet, nil when the event is over.
    public mutating func next() -> Packet? {
        guard endsLeft > 0 else { return nil }
        let marker = first
        first = false
        if sent < totalDuration {
            sent = min(sent + step, totalDuration)
            if sent < totalDuration {
                return Packet(event: TelephoneEvent(event: event, volume: volume, duration: UInt16(sent)), marker: marker, timestamp: startTimestamp)
            }
        }
        endsLeft -= 1
        return Packet(event: TelephoneEvent(event: event, isEnd: true, volume: volume, duration: UInt16(totalDuration)), marker: marker, timestamp: startTimestamp)
    }
}
