// SPDX-License-Identifier: MIT
// The fixed-size value events a session reports. They travel through SPSC rings, so they are
// plain BitwiseCopyable values; `Kind` raw values are the C ABI's `AB_EVENT_*` constants.

public struct SessionEvent: BitwiseCopyable, Equatable, Sendable {
    public enum Kind: UInt32, Sendable, BitwiseCopyable {
        /// The caller started talking (after the detector's minimum speech time).
        case speechStarted = 1
        /// The caller stopped talking (after the hangover).
        case speechStopped = 2
        /// Agent audio was cut (a committed barge-in): `item` is the interrupted item,
        /// `heardSamples`/`heardMilliseconds` how much of it the caller heard; `code` is a
        /// `BargeInCause`.
        case bargeIn = 3
        /// The first sample of `item` was handed to the caller.
        case playoutStarted = 4
        /// The last sample of `item` was handed to the caller; `heard*` is its whole length.
        case playoutFinished = 5
        /// The caller pressed `digit` ('0'–'9', '*', '#', 'A'–'D').
        case dtmf = 6
        case transportConnected = 7
        /// `code` is the reason (0 = normal close).
        case transportDisconnected = 8
        /// `code` is a negative status code.
        case transportError = 9
        /// Caller audio was dropped because the agent side did not read it; `count` samples so far.
        case uplinkOverflow = 10
        /// Events were lost because the host did not poll; `count` is how many.
        case eventsDropped = 11
        /// A possible barge-in: playout of `item` is paused (faded out, queue kept) at
        /// `heardSamples`, waiting for the caller's speech to be confirmed. A `bargeIn` (committed)
        /// or a `bargeInResumed` follows.
        case bargeInPending = 12
        /// The pause ended without a barge-in: playout of `item` goes on from exactly
        /// `heardSamples` (faded in); `count` is how long the pause lasted, in ms.
        case bargeInResumed = 13
        /// The agent side asked to end the call, and everything it wrote before asking has now
        /// been handed to the caller: hang up.
        case hangupRequested = 14
        /// The agent side asked to transfer the call (`item`: its request id; the target is the
        /// agent side's to tell), and everything written before has been handed to the caller.
        case transferRequested = 15
    }

    /// Why agent audio was cut.
    public enum BargeInCause: Int32, Sendable {
        case callerSpeech = 0
        case interruptRequest = 1
    }

    public var kind: Kind
    /// The agent item concerned (0 when none).
    public var item: UInt64 = 0
    /// Samples of `item` handed to the caller, at the phone's 8 kHz.
    public var heardSamples: UInt64 = 0
    /// A DTMF digit as ASCII, or 0.
    public var digit: UInt8 = 0
    public var code: Int32 = 0
    /// A count that goes with the event (dropped samples or events).
    public var count: UInt64 = 0
    /// Session media time when it happened: milliseconds of caller audio processed so far.
    public var timestampMilliseconds: UInt64 = 0
    /// Orders events across the session's producers; increases by one per event.
    public var sequence: UInt64 = 0

    public init(kind: Kind, item: UInt64 = 0, heardSamples: UInt64 = 0, digit: UInt8 = 0, code: Int32 = 0, count: UInt64 = 0) {
        self.kind = kind
        self.item = item
        self.heardSamples = heardSamples
        self.digit = digit
        self.code = code
        self.count = count
    }

    /// `heardSamples` in whole milliseconds (8 samples per millisecond).
    public var heardMilliseconds: UInt64 { heardSamples / 8 }
}
