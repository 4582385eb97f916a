// SPDX-License-Identifier: MIT
// Agent audio a network agent has received but the session could not take yet. Models send
// faster than real time; the session's playout queue is bounded, so the rest waits here, in
// arrival order with the item ends between, and the agent stops reading its socket while this
// holds more than its bound (back-pressure: nothing is dropped).
import AudioBridgeSession

struct DownlinkQueue {
    private enum Entry {
        case audio(item: UInt64, bytes: [UInt8], offset: Int)
        case end(item: UInt64)

        var item: UInt64 {
            switch self {
            case .audio(let item, _, _), .end(let item): item
            }
        }
    }

    private var entries: [Entry] = []
    /// Audio bytes waiting.
    private(set) var byteCount = 0

    var isEmpty: Bool { entries.isEmpty }

    mutating func append(item: UInt64, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        entries.append(.audio(item: item, bytes: bytes, offset: 0))
        byteCount += bytes.count
    }

    mutating func end(item: UInt64) { entries.append(.end(item: item)) }

    /// Forgets everything of `item` (cut by a barge-in).
    mutating func remove(item: UInt64) {
        entries.removeAll { $0.item == item }
        byteCount = entries.reduce(0) { if case .audio(_, let bytes, let offset) = $1 { $0 + bytes.count - offset } else { $0 } }
    }

    mutating func removeAll() {
        entries.removeAll()
        byteCount = 0
    }

    /// Offers the queue to the session until its playout queue is full. Returns whether
    /// everything was taken.
    mutating func drain(into session: Session) -> Bool {
        while let first = entries.first {
            switch first {
            case .audio(let item, let bytes, let offset):
                let taken = bytes.withUnsafeBytes { (try? session.agent.writeDownlink(item: item, UnsafeRawBufferPointer(rebasing: $0[offset...]))) ?? 0 }
                byteCount -= taken
                if offset + taken < bytes.count {
                    entries[0] = .audio(item: item, bytes: bytes, offset: offset + taken)
                    return false
                }
            case .end(let item):
                guard (try? session.agent.endItem(item)) != nil else { return false }
            }
            entries.removeFirst()
        }
        return true
    }
}
