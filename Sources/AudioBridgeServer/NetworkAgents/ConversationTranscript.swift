// SPDX-License-Identifier: MIT
// The conversation so far, as text, kept per call so that a new connection to the model can be
// given it: when a connection drops, the model's server forgets everything it was told. Turns
// come from the transcripts the model sends (the caller's input transcription, the model's own
// audio transcript), in the order they arrive. Bounded: past `maximumCharacters` the oldest
// turns go (counted), so a long call cannot grow it without limit.

struct ConversationTranscript {
    enum Speaker: Equatable {
        case caller
        case agent
    }

    struct Turn: Equatable {
        var speaker: Speaker
        var text: String
        /// The model's item this turn transcribes, so that a later cut can shorten it.
        var item: String?
    }

    let maximumCharacters: Int
    private(set) var turns: [Turn] = []
    private(set) var characters = 0
    /// Turns dropped from the front to stay within the bound.
    private(set) var droppedTurns = 0
    /// A cut that came before its item's transcript (the model finishes writing a transcript
    /// when it finishes generating, which a barge-in can precede): applied when it arrives.
    private var pendingCut: (item: String, fraction: Double)?

    init(maximumCharacters: Int) { self.maximumCharacters = maximumCharacters }

    mutating func add(_ speaker: Speaker, _ text: String, item: String? = nil) {
        let trimmed = text.trimmingWhitespace
        guard !trimmed.isEmpty else { return }
        turns.append(Turn(speaker: speaker, text: trimmed, item: item))
        characters += trimmed.count
        if let pending = pendingCut, pending.item == item {
            pendingCut = nil
            cut(item: pending.item, heardFraction: pending.fraction)
        }
        while characters > maximumCharacters, turns.count > 1 {
            characters -= turns.removeFirst().text.count
            droppedTurns += 1
        }
    }

    /// The caller stopped hearing `item` after `fraction` (0…1) of its audio: its text keeps as
    /// many words as that share of its characters, then "…". The transcript has no word timings,
    /// so this is the proportional estimate, not the exact cut the model makes of its own copy.
    mutating func cut(item: String, heardFraction fraction: Double) {
        guard let index = turns.lastIndex(where: { $0.item == item }) else {
            pendingCut = (item, fraction)
            return
        }
        let text = turns[index].text
        let keep = Int(Double(text.count) * min(max(fraction, 0), 1))
        guard keep < text.count else { return }
        var prefix = String(text.prefix(keep))
        if let space = prefix.lastIndex(of: " ") { prefix = String(prefix[..<space]) }
        let shortened = prefix + "…"
        characters += shortened.count - text.count
        turns[index].text = shortened
        turns[index].item = nil  // cut once
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
