// SPDX-License-Identifier: MIT
// The server's metrics through swift-metrics, backed by a Prometheus registry of its own (so
// several servers, or tests, never share global state). `--metrics HOST:PORT` serves them as
// Prometheus text (MetricsEndpoint).
import Metrics
import Prometheus

public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let activeCalls: Metrics.Gauge
    let calls: Metrics.Counter
    let framesIn: Metrics.Counter
    let framesOut: Metrics.Counter
    let underruns: Metrics.Counter
    let bargeIns: Metrics.Counter
    /// Pauses for a possible barge-in, and those that resumed without one.
    let bargeInPauses: Metrics.Counter
    let bargeInResumes: Metrics.Counter
    let dtmf: Metrics.Counter
    let protocolErrors: Metrics.Counter
    let sendStalls: Metrics.Counter
    /// Time the pacer spends on one call's frame (session read, encode, write), per frame.
    let frameProcessing: Metrics.Timer

    init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        activeCalls = Metrics.Gauge(label: "audiobridge_active_calls", factory: factory)
        calls = Metrics.Counter(label: "audiobridge_calls_total", factory: factory)
        framesIn = Metrics.Counter(label: "audiobridge_frames_in_total", factory: factory)
        framesOut = Metrics.Counter(label: "audiobridge_frames_out_total", factory: factory)
        underruns = Metrics.Counter(label: "audiobridge_underrun_frames_total", factory: factory)
        bargeIns = Metrics.Counter(label: "audiobridge_barge_ins_total", factory: factory)
        bargeInPauses = Metrics.Counter(label: "audiobridge_barge_in_pauses_total", factory: factory)
        bargeInResumes = Metrics.Counter(label: "audiobridge_barge_in_resumes_total", factory: factory)
        dtmf = Metrics.Counter(label: "audiobridge_dtmf_total", factory: factory)
        protocolErrors = Metrics.Counter(label: "audiobridge_protocol_errors_total", factory: factory)
        sendStalls = Metrics.Counter(label: "audiobridge_send_stalls_total", factory: factory)
        frameProcessing = Metrics.Timer(label: "audiobridge_frame_processing_seconds", factory: factory)
    }

    /// The Prometheus text exposition of every metric.
    public func prometheusText() -> String { registry.emitToString() }
}
