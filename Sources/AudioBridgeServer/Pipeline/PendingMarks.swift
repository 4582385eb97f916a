// SPDX-License-Identifier: MIT
// Items whose end was marked to the peer (Twilio's mark, chan_websocket's MARK_MEDIA, jambonz's
// mark), waiting for the peer to say the caller heard them; only then is the item's
// playoutFinished reported. One per call, on its event loop.
import AudioBridgeSession

struct PendingMarks {
    private var waiting: [String: SessionEvent] = [:]

    /// Remembers a finished item under the mark name sent for it, until confirmed.
    mutating func add(_ finished: SessionEvent, name: String) { waiting[name] = finished }

    /// The playoutFinished a confirmed mark stands for, once; nil for a name not waiting.
    mutating func confirm(_ name: String) -> SessionEvent? { waiting.removeValue(forKey: name) }

    /// Forgets every pending mark (the peer dropped them with the audio).
    mutating func removeAll() { waiting.removeAll() }
}
