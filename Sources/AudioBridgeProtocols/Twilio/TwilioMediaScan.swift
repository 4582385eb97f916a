// SPDX-License-Identifier: MIT
// Twilio's `media` messages found without building a JSON value, for the 50 messages a second
// of every stream. The scan takes only the shape Twilio writes: an object whose members are
// strings of printable ASCII without escapes, or such objects (Twilio writes every value of a
// media message, numbers included, as a string). For anything else — numbers, arrays, literals,
// escapes, non-ASCII, a member missing — it returns nil and the caller runs the full decoder,
// which decides. Within that shape the scan is a complete syntax check, and keys are looked up
// as the decoder does (the first of duplicates), so a message the scan takes decodes to the same
// `.media` with the same track and payload (a property test holds it to that).
import AudioBridgeCore
public struct TwilioMediaScan: Equatable, Sendable {
    /// The media's track is the caller's ("inbound", or no track given).
    public var inbound: Bool
    /// Where the Base64 payload's characters are in the message.
    public var payload: Range<Int>

    /// The scan of one TEXT message; nil: not a media message of the plain shape (decode it).
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> TwilioMediaScan? {
        var scanner = Scanner(bytes: bytes)
        guard let found = scanner.document() else { return nil }
        guard let event = found.event, scanner.equals(event, "media"), found.mediaIsObject, let payload = found.payload else { return nil }
        let inbound = found.track.map { scanner.equals($0, "inbound") } ?? true
        return TwilioMediaScan(inbound: inbound, payload: payload)
    }

    private struct Found {
        var event: Range<Int>?
        var eventSeen = false
        var mediaSeen = false
        var mediaIsObject = false
        var payload: Range<Int>?
        var payloadSeen = false
        var track: Range<Int>?
        var trackSeen = false
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        static let maximumDepth = 64

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func equals(_ range: Range<Int>, _ text: StaticString) -> Bool {
            guard range.count == text.utf8CodeUnitCount else { return false }
            let start = text.utf8Start
            for i in 0..<range.count where bytes[range.lowerBound + i] != start[i] { return false }
            return true
        }

        mutating func skipWhitespace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D { index += 1 }
        }

        /// The whole message: one object, whitespace around it, nothing after it.
        mutating func document() -> Found? {
            var found = Found()
            skipWhitespace()
            guard object(depth: 0, found: &found) else { return nil }
            skipWhitespace()
            return index == bytes.count ? found : nil
        }

        /// A string of printable ASCII without escapes; the range of its characters.
        mutating func string() -> Range<Int>? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return start..<(index - 1)
                }
                guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
                index += 1
            }
            return nil
        }

        /// An object of string or object members. Depth 0 is the message, 1 its "media" member.
        mutating func object(depth: Int, found: inout Found, isMedia: Bool = false) -> Bool {
            guard depth < Self.maximumDepth, index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return false }
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return true
            }
            while true {
                skipWhitespace()
                guard let key = string() else { return false }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                index += 1
                skipWhitespace()
                guard index < bytes.count else { return false }
                if bytes[index] == UInt8(ascii: "{") {
                    let mediaMember = depth == 0 && equals(key, "media") && !found.mediaSeen
                    if depth == 0 && equals(key, "media") { found.mediaSeen = true }
                    if mediaMember { found.mediaIsObject = true }
                    if depth == 0 && equals(key, "event") { found.eventSeen = true }
                    if isMedia { note(key, value: nil, found: &found) }
                    guard object(depth: depth + 1, found: &found, isMedia: mediaMember) else { return false }
                } else {
                    guard let value = string() else { return false }
                    if depth == 0 {
                        if equals(key, "event"), !found.eventSeen { found.event = value }
                        if equals(key, "event") { found.eventSeen = true }
                        if equals(key, "media") { found.mediaSeen = true }
                    }
                    if isMedia { note(key, value: value, found: &found) }
                }
                skipWhitespace()
                guard index < bytes.count else { return false }
                let next = bytes[index]
                index += 1
                if next == UInt8(ascii: "}") { return true }
                guard next == UInt8(ascii: ",") else { return false }
            }
        }

        /// A member of the "media" object: the first "payload" and "track" count, if strings.
        func note(_ key: Range<Int>, value: Range<Int>?, found: inout Found) {
            if equals(key, "payload"), !found.payloadSeen {
                found.payloadSeen = true
                found.payload = value
            } else if equals(key, "track"), !found.trackSeen {
                found.trackSeen = true
                found.track = value
            }
        }
    }
}
