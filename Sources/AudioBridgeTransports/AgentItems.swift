// SPDX-License-Identifier: MIT
// What the built-in local agents share: streaming one prepared clip into the session as an item,
// a little at a time (back-pressure), until it is done or barged in on.
import AudioBridgeCore
import AudioBridgeSession

/// What a prompt agent asks for once a clip of its has been handed to the session
/// (`?then=hangup` / `?then=transfer:N` after its name): the session raises the request when
/// the caller has heard the clip, and drops it if the caller talks over the clip first.
public enum AgentFollowUp: Equatable, Sendable {
    case none
    case hangup
    /// `request` is the host's: the Asterisk module takes it as the position of a target in
    /// its list of allowed targets (1 = the first).
    case transfer(request: UInt64)
}

/// Streams clips as items. Owned by one agent, used on the engine's I/O thread.
struct ItemStreamer {
    private(set) var item: UInt64 = 0
    private var clip: UnsafeRawBufferPointer?
    private var offset = 0
    private var nextItem: UInt64 = 1
    private let followUp: AgentFollowUp
    /// The clip's item has ended and its follow-up is not yet taken (the marker queue was full).
    private var followUpDue = false

    init(then followUp: AgentFollowUp = .none) { self.followUp = followUp }

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
        requestFollowUpIfDue(session)
        guard let clip else { return }
        let configuration = session.configuration
        // 100 ms of agent audio per poll: five times real time at a 20 ms tick.
        let maximumBytesPerPoll = configuration.agentSampleRate / 10 * configuration.agentFormat.bytesPerSample
        let end = min(clip.count, offset + maximumBytesPerPoll)
        let taken = (try? session.agent.writeDownlink(item: item, UnsafeRawBufferPointer(rebasing: clip[offset..<end]))) ?? 0
        offset += taken
        if offset >= clip.count, (try? session.agent.endItem(item)) != nil {
            self.clip = nil
            followUpDue = followUp != .none
            requestFollowUpIfDue(session)
        }
    }

    private mutating func requestFollowUpIfDue(_ session: Session) {
        guard followUpDue else { return }
        switch followUp {
        case .none: followUpDue = false
        case .hangup: followUpDue = (try? session.agent.requestHangup()) == nil
        case .transfer(let request): followUpDue = (try? session.agent.requestTransfer(request)) == nil
        }
    }

    /// Stops streaming if `event` cut our item.
    mutating func handle(_ event: SessionEvent) {
        if event.kind == .bargeIn, event.item == item { clip = nil }
    }
}
