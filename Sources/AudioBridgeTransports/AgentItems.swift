// SPDX-License-Identifier: MIT
// What the built-in local agents share: streaming one prepared clip into the session as an item,
// a little at a time (back-pressure), until it is done or barged in on.
import AudioBridgeCore
import AudioBridgeSession

/// Streams clips as items. Owned by one agent, used on the engine's I/O thread.
struct ItemStreamer {
    private(set) var item: UInt64 = 0
    private var clip: UnsafeRawBufferPointer?
    private var offset = 0
    private var nextItem: UInt64 = 1

    var isPlaying: Bool { clip != nil }

    /// Starts `clip` (agent-format bytes, which must outlive the streaming) as a new item.
    mutating func start(_ clip: UnsafeRawBufferPointer) {
        guard !clip.isEmpty else { return }
        item = nextItem
        nextItem &+= 1
        self.clip = clip
        offset = 0
    }

    /// Offers the next part of the clip — at most `maximumBytesPerPoll`, so a long clip does not
    /// hold up the thread that also paces other calls — and ends the item once all of it is taken.
    mutating func pump(_ session: Session) {
        guard let clip else { return }
        let configuration = session.configuration
        // 100 ms of agent audio per poll: five times real time at a 20 ms tick.
        let maximumBytesPerPoll = configuration.agentSampleRate / 10 * configuration.agentFormat.bytesPerSample
        let end = min(clip.count, offset + maximumBytesPerPoll)
        let taken = (try? session.agent.writeDownlink(item: item, UnsafeRawBufferPointer(rebasing: clip[offset..<end]))) ?? 0
        offset += taken
        if offset >= clip.count, (try? session.agent.endItem(item)) != nil {
            self.clip = nil
        }
    }

    /// Stops streaming if `event` cut our item.
    mutating func handle(_ event: SessionEvent) {
        if event.kind == .bargeIn, event.item == item { clip = nil }
    }
}
