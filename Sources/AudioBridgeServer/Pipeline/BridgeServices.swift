// SPDX-License-Identifier: MIT
// What the servers of one process share: one metrics registry (so /metrics shows every
// transport) and one admission (so --max-calls and a drain cover every transport).
public struct BridgeServices: Sendable {
    public let metrics: BridgeMetrics
    public let admission: CallAdmission

    public init(metrics: BridgeMetrics = BridgeMetrics(), admission: CallAdmission = CallAdmission()) {
        self.metrics = metrics
        self.admission = admission
    }
}
