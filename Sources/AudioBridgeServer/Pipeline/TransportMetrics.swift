// SPDX-License-Identifier: MIT
// What every phone transport counts, the same way, labelled with the transport's name. The
// media path only adds to relaxed atomics (one per counter, no lock, no allocation); a scrape
// of /metrics carries what was added since the last scrape into swift-prometheus' counters,
// which write all of the exposition text. Tests and logs read the atomics through `snapshot`.
import AudioBridgeCore
import Prometheus
import Synchronization

/// The phone transports, as they appear in the `transport` label.
public enum PhoneTransport: String, Sendable, CaseIterable {
    case audioSocket = "audiosocket"
    case twilio = "twilio"
    case freeSWITCH = "freeswitch"
    case chanWebSocket = "chan_websocket"
    case rtp = "rtp"
    case sip = "sip"
}

/// One counted thing of a call. The Prometheus name and extra label are in `exposition`.
public enum CallCounter: Int, CaseIterable, Sendable {
    case calls, refusedAtLimit, refusedDraining, refusedUnauthorized
    case framesIn, framesOut, underrunFrames
    case bargeIns, bargeInPauses, bargeInResumes
    case dtmf, protocolErrors, ignoredMessages, sendStalls, droppedPeers, heldTicks, deferredReads
    case agentDisconnects, agentReconnects
    case marksSent, marksConfirmed, flushes, compressedCalls
    case recordings
    case webhooksAnswered, webhooksRejected

    /// (metric name, extra label, help).
    var exposition: (name: String, label: (String, String)?, help: String) {
        switch self {
        case .calls: ("audiobridge_calls_total", nil, "Calls started.")
        case .refusedAtLimit: ("audiobridge_refused_calls_total", ("reason", "limit"), "Calls refused, by reason.")
        case .refusedDraining: ("audiobridge_refused_calls_total", ("reason", "draining"), "Calls refused, by reason.")
        case .refusedUnauthorized: ("audiobridge_refused_calls_total", ("reason", "unauthorized"), "Calls refused, by reason.")
        case .framesIn: ("audiobridge_frames_in_total", nil, "20 ms caller frames fed to sessions.")
        case .framesOut: ("audiobridge_frames_out_total", nil, "20 ms frames sent to callers.")
        case .underrunFrames: ("audiobridge_underrun_frames_total", nil, "Agent audio frames that ran short, over ended calls.")
        case .bargeIns: ("audiobridge_barge_ins_total", ("outcome", "committed"), "Barge-ins by outcome: committed (agent cut), paused (playout paused for a possible one), resumed (the pause ended without one).")
        case .bargeInPauses: ("audiobridge_barge_ins_total", ("outcome", "paused"), "Barge-ins by outcome: committed (agent cut), paused (playout paused for a possible one), resumed (the pause ended without one).")
        case .bargeInResumes: ("audiobridge_barge_ins_total", ("outcome", "resumed"), "Barge-ins by outcome: committed (agent cut), paused (playout paused for a possible one), resumed (the pause ended without one).")
        case .dtmf: ("audiobridge_dtmf_total", nil, "DTMF digits from callers.")
        case .protocolErrors: ("audiobridge_protocol_errors_total", nil, "Malformed messages and protocol violations from phone peers.")
        case .ignoredMessages: ("audiobridge_ignored_messages_total", nil, "Well-formed messages of kinds we do not act on.")
        case .sendStalls: ("audiobridge_send_stalls_total", nil, "Ticks at which a peer was not reading (its frame waited).")
        case .droppedPeers: ("audiobridge_dropped_peers_total", nil, "Calls dropped because the peer left its socket full for 5 s (it stopped reading).")
        case .deferredReads: ("audiobridge_deferred_reads_total", nil, "Polls that stopped at the next slot's frames with sockets still to read (AudioSocket): the event loop is near the end of its time.")
        case .heldTicks: ("audiobridge_held_ticks_total", nil, "Ticks a peer's flow control (MEDIA_XOFF) held our audio back.")
        case .agentDisconnects: ("audiobridge_agent_disconnects_total", nil, "Agent connections lost during calls.")
        case .agentReconnects: ("audiobridge_agent_reconnects_total", nil, "Agent connections made again after a loss.")
        case .marksSent: ("audiobridge_marks_sent_total", nil, "End-of-item marks sent to peers that confirm playout.")
        case .marksConfirmed: ("audiobridge_marks_confirmed_total", nil, "Marks the peer confirmed as heard.")
        case .flushes: ("audiobridge_flushes_total", nil, "Requests to a peer to drop the audio it queued (barge-in).")
        case .compressedCalls: ("audiobridge_compressed_calls_total", nil, "Calls that negotiated permessage-deflate.")
        case .recordings: ("audiobridge_recordings_total", nil, "Call recordings handed to the writer (--record).")
        case .webhooksAnswered: ("audiobridge_webhooks_total", ("outcome", "answered"), "Voice webhook requests (Twilio), by outcome.")
        case .webhooksRejected: ("audiobridge_webhooks_total", ("outcome", "rejected"), "Voice webhook requests (Twilio), by outcome.")
        }
    }
}

/// A copy of a transport's counters, for tests and logs.
public struct TransportCounters: Sendable, Equatable {
    public var activeCalls = 0
    private var values = [Int](repeating: 0, count: CallCounter.allCases.count)

    public subscript(_ counter: CallCounter) -> Int {
        get { values[counter.rawValue] }
        set { values[counter.rawValue] = newValue }
    }

    public var totalCalls: Int { self[.calls] }
    public var refusedCalls: Int { self[.refusedAtLimit] + self[.refusedDraining] + self[.refusedUnauthorized] }
    public var framesIn: Int { self[.framesIn] }
    public var framesOut: Int { self[.framesOut] }
    public var underrunFrames: Int { self[.underrunFrames] }
    public var bargeIns: Int { self[.bargeIns] }
    public var bargeInPauses: Int { self[.bargeInPauses] }
    public var bargeInResumes: Int { self[.bargeInResumes] }
    public var dtmf: Int { self[.dtmf] }
    public var protocolErrors: Int { self[.protocolErrors] }
    public var ignoredMessages: Int { self[.ignoredMessages] }
    public var sendStalls: Int { self[.sendStalls] }
    public var marksSent: Int { self[.marksSent] }
    public var marksConfirmed: Int { self[.marksConfirmed] }
    public var flushes: Int { self[.flushes] }
    public var webhooks: Int { self[.webhooksAnswered] }
    public var rejectedWebhooks: Int { self[.webhooksRejected] }
}

/// One transport's counters and its per-frame time histogram. Any thread.
public final class TransportMetrics: Sendable {
    public let transport: PhoneTransport
    /// One atomic per CallCounter, allocated once; only ever touched through the atomics.
    nonisolated(unsafe) private let counts: UnsafeMutablePointer<Atomic<Int>>
    private let active = Atomic<Int>(0)
    /// What each counter had when the last scrape carried it over.
    private let exported: Mutex<[Int]>
    private let prometheus: [Prometheus.Counter]
    private let activeGauge: Prometheus.Gauge
    /// The pacer's time for one call's frame (session read, encode, write), one frame in
    /// `frameTimingInterval` per call: the histogram takes a lock, so not every frame goes in.
    let frameProcessing: DurationHistogram
    static let frameTimingInterval: UInt64 = 16

    init(transport: PhoneTransport, registry: PrometheusCollectorRegistry) {
        self.transport = transport
        let cases = CallCounter.allCases
        counts = .allocate(capacity: cases.count)
        for index in cases.indices { (counts + index).initialize(to: Atomic(0)) }
        exported = Mutex([Int](repeating: 0, count: cases.count))
        let label = ("transport", transport.rawValue)
        prometheus = cases.map { counter in
            let (name, extra, help) = counter.exposition
            return registry.makeCounter(name: name, labels: [label] + (extra.map { [$0] } ?? []), help: help)
        }
        activeGauge = registry.makeGauge(name: "audiobridge_active_calls", labels: [label], help: "Calls in progress.")
        frameProcessing = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: "audiobridge_frame_processing", unitName: "seconds",
                                             helpText: "Pacer time for one call's 20 ms frame (session read, encode, write); one frame in 16 per call is timed."),
            labels: [label],
            buckets: [.microseconds(5), .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100),
                      .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(5)])
    }

    deinit {
        _ = counts.deinitialize(count: CallCounter.allCases.count)
        counts.deallocate()
    }

    /// Adds to a counter. Realtime-safe: one relaxed atomic add.
    @inline(__always)
    func add(_ counter: CallCounter, _ amount: Int = 1) {
        counts[counter.rawValue].wrappingAdd(amount, ordering: .relaxed)
    }

    func callStarted() { active.wrappingAdd(1, ordering: .relaxed); add(.calls) }
    func callEnded() { active.wrappingSubtract(1, ordering: .relaxed) }

    public var activeCalls: Int { active.load(ordering: .relaxed) }

    public var snapshot: TransportCounters {
        var copy = TransportCounters()
        copy.activeCalls = activeCalls
        for counter in CallCounter.allCases { copy[counter] = counts[counter.rawValue].load(ordering: .relaxed) }
        return copy
    }

    /// Carries the counts into the Prometheus registry; at each scrape, never on the media path.
    func publish() {
        exported.withLock { exported in
            for counter in CallCounter.allCases {
                let now = counts[counter.rawValue].load(ordering: .relaxed)
                let delta = now - exported[counter.rawValue]
                if delta > 0 { prometheus[counter.rawValue].increment(by: Int64(delta)) }
                exported[counter.rawValue] = now
            }
        }
        activeGauge.set(Int64(activeCalls))
    }
}

/// Every transport's metrics in one Prometheus registry: one per process (`serve`), or one per
/// test, so servers never share global state.
public final class BridgeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let transports: [PhoneTransport: TransportMetrics]
    /// Sessions, calls and agents alive in the process (LiveObjects): back to 0 once calls end.
    private let liveObjects: [(LiveObjectKind, Prometheus.Gauge)]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var transports: [PhoneTransport: TransportMetrics] = [:]
        for transport in PhoneTransport.allCases { transports[transport] = TransportMetrics(transport: transport, registry: registry) }
        self.transports = transports
        liveObjects = LiveObjectKind.allCases.map { kind in
            (kind, registry.makeGauge(name: "audiobridge_live_objects", labels: [("kind", kind.name)], help: "Sessions, calls and agents alive in the process; 0 when no call is running."))
        }
    }

    public subscript(_ transport: PhoneTransport) -> TransportMetrics { transports[transport]! }

    /// The Prometheus text exposition of every metric, the counters brought up to date first.
    public func prometheusText() -> String {
        for metrics in transports.values { metrics.publish() }
        for (kind, gauge) in liveObjects { gauge.set(Int64(LiveObjects.count(kind))) }
        return registry.emitToString()
    }
}
