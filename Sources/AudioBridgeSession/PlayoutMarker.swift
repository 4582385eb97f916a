// SPDX-License-Identifier: MIT
// Item boundaries in the playout queue. The agent side writes a `start` marker before an item's
// first sample and an `end` marker after its last, each at its position in the stream of
// samples written (a running count at 8 kHz). The media thread, counting the samples it hands
// to the caller, knows from them exactly which item is playing and how much of it was heard.
// The agent side's call-control requests (hang up, transfer) ride the same queue, so they take
// effect exactly when everything written before them has been heard.

struct PlayoutMarker: BitwiseCopyable {
    enum Kind: UInt8, BitwiseCopyable { case start, end, hangup, transfer }

    var kind: Kind
    /// The item; for a transfer, the agent side's request id.
    var item: UInt64
    /// Running sample count (8 kHz) at which the item starts or ends.
    var position: Int
    /// The flush generation the agent side had seen when it wrote this marker: start markers
    /// older than the media thread's last cut belong to audio that cut discarded.
    var generation: UInt64
}
