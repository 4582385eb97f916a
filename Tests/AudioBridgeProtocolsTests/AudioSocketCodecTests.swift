// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

/// Feeds `bytes` to a fresh decoder in pieces of `piece` bytes (all at once when nil) and
/// collects every message, or the first error.
/// Decodes `bytes` appended in pieces, as a sequence or (`fromMemory`) from raw memory as a
/// socket's buffer is.
func decodeAll(_ bytes: [UInt8], piece: Int? = nil, maximumPayload: Int = 16_384, fromMemory: Bool = false) -> (messages: [AudioSocketMessage], error: AudioSocketError?) {
    var decoder = AudioSocketDecoder(maximumPayload: maximumPayload)
    var messages: [AudioSocketMessage] = []
    var start = 0
    repeat {
        let end = min(bytes.count, start + (piece ?? bytes.count))
        if fromMemory {
            bytes[start..<end].withUnsafeBytes { decoder.append($0) }
        } else {
            decoder.append(bytes[start..<end])
        }
        start = end
        do {
            while let message = try decoder.next() { messages.append(message) }
        } catch {
            return (messages, error)
        }
    } while start < bytes.count
    return (messages, nil)
}

struct AudioSocketCodecTests {
    static let uuid = AudioSocketUUID(string: "40325ec2-5efd-4bd3-805f-53576e581d13")!
    static let call: [AudioSocketMessage] = [
        .uuid(uuid),
        .audio(sampleRate: 8000, payload: ArraySlice((0..<320).map { UInt8(truncatingIfNeeded: $0) })),
        .dtmf(0x35),
        .audio(sampleRate: 8000, payload: ArraySlice([1, 2] + [UInt8](repeating: 9, count: 274))),  // a short last frame
        .audio(sampleRate: 16000, payload: ArraySlice(repeating: 7, count: 640)),
        .audio(sampleRate: 192000, payload: ArraySlice(repeating: 3, count: 7680)),
        .error(code: 4), .error(code: nil),
        .hangup,
    ]

    @Test func theWorkedExampleEncodesAsDocumented() throws {
        #expect(try AudioSocketEncoder.encode(.uuid(Self.uuid)) == [0x01, 0x00, 0x10, 0x40, 0x32, 0x5E, 0xC2, 0x5E, 0xFD, 0x4B, 0xD3, 0x80, 0x5F, 0x53, 0x57, 0x6E, 0x58, 0x1D, 0x13])
        #expect(try AudioSocketEncoder.encode(.dtmf(0x35)) == [0x03, 0x00, 0x01, 0x35])
        #expect(try AudioSocketEncoder.encode(.hangup) == [0x00, 0x00, 0x00])
        #expect(Array(try AudioSocketEncoder.encode(.audio(sampleRate: 8000, payload: ArraySlice(repeating: 0, count: 320))).prefix(3)) == [0x10, 0x01, 0x40])
        #expect(Array(try AudioSocketEncoder.encode(.audio(sampleRate: 16000, payload: ArraySlice(repeating: 0, count: 640))).prefix(3)) == [0x12, 0x02, 0x80])
        #expect(Self.uuid.description == "40325ec2-5efd-4bd3-805f-53576e581d13")
    }

    /// The in-place header (what the server writes before a payload it reads straight into the
    /// send buffer) is the encoder's header, for every audio kind and length edge.
    @Test func inPlaceAudioHeaderMatchesTheEncoder() throws {
        for (kind, rate) in AudioSocketMessage.audioKinds {
            #expect(AudioSocketEncoder.audioKind(sampleRate: rate) == kind)
            for length in [2, 254, 256, 320, 7680, 65_534] {
                var header = [UInt8](repeating: 0xAA, count: 3)
                header.withUnsafeMutableBytes { AudioSocketEncoder.writeAudioHeader(kind: kind, length: length, into: $0) }
                let encoded = try AudioSocketEncoder.encode(.audio(sampleRate: rate, payload: ArraySlice(repeating: 1, count: length)))
                #expect(header == Array(encoded.prefix(3)))
            }
        }
        #expect(AudioSocketEncoder.audioKind(sampleRate: 11025) == nil)
        let uuids = (0..<100).map { _ in AudioSocketUUID.random() }
        #expect(Set(uuids).count == 100)
        #expect(uuids.allSatisfy { $0.bytes[6] >> 4 == 4 && $0.bytes[8] >> 6 == 2 }, "version 4, RFC 4122 variant")
    }

    /// The decoder verifier: byte by byte, in every piece size up to 64, all at once, and one
    /// message per buffer give the same messages, whether appended as a sequence or from memory.
    @Test func splitAndCoalescedInputDecodesTheSame() throws {
        var stream: [UInt8] = []
        var perMessage: [[UInt8]] = []
        for message in Self.call {
            let bytes = try AudioSocketEncoder.encode(message)
            perMessage.append(bytes)
            stream += bytes
        }
        #expect(decodeAll(stream).messages == Self.call)
        #expect(decodeAll(stream, fromMemory: true).messages == Self.call)
        for piece in 1...64 {
            #expect(decodeAll(stream, piece: piece).messages == Self.call, "pieces of \(piece)")
            #expect(decodeAll(stream, piece: piece, fromMemory: true).messages == Self.call, "pieces of \(piece) from memory")
        }
        var decoder = AudioSocketDecoder()
        var oneByOne: [AudioSocketMessage] = []
        for bytes in perMessage {
            decoder.append(bytes)
            if let message = try decoder.next() { oneByOne.append(message) }
            #expect(try decoder.next() == nil)
        }
        #expect(oneByOne == Self.call)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func everyAudioKindCarriesItsRate() throws {
        for (kind, rate) in AudioSocketMessage.audioKinds {
            let decoded = decodeAll([kind, 0x00, 0x02, 0x34, 0x12])
            #expect(decoded.messages == [.audio(sampleRate: rate, payload: [0x34, 0x12])])
        }
    }

    /// Reading an audio message in place (`audioMessage(at:)`, what a connection does while its
    /// decoder holds nothing) agrees with the decoder on every input: for 20,000 random streams
    /// (valid, corrupted, truncated, random bytes), at every message boundary the in-place read
    /// gives exactly the audio message the decoder gives, and nil wherever the decoder gives
    /// another kind, waits for more bytes or fails.
    @Test func inPlaceAudioAgreesWithTheDecoder() throws {
        var rng = SplitMix64(seed: 0x1AB0)
        let small: [[UInt8]] = try [
            .uuid(Self.uuid), .dtmf(0x23), .hangup, .error(code: 1),
            .audio(sampleRate: 8000, payload: ArraySlice((0..<320).map { UInt8(truncatingIfNeeded: $0) })),
            .audio(sampleRate: 48000, payload: [9, 9]), .audio(sampleRate: 16000, payload: ArraySlice(repeating: 5, count: 640)),
        ].map { try AudioSocketEncoder.encode($0) }
        var inPlace = 0
        for round in 0..<20_000 {
            var bytes = (0..<(1 + Int(rng.next() % 4))).flatMap { _ in small[Int(rng.next() % UInt64(small.count))] }
            switch round % 4 {
            case 0: bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1: bytes.removeLast(Int(rng.next() % UInt64(bytes.count)))
            case 2: bytes = (0..<Int(rng.next() % 12)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default: break
            }
            let maximumPayload = round % 3 == 0 ? 400 : 16_384
            var decoder = AudioSocketDecoder(maximumPayload: maximumPayload)
            var offset = 0
            while offset <= bytes.count {
                let direct = bytes[offset...].withUnsafeBytes { rest in
                    decoder.audioMessage(at: rest).map { (rate: $0.sampleRate, payload: Array($0.payload)) }
                }
                var fresh = AudioSocketDecoder(maximumPayload: maximumPayload)
                fresh.append(bytes[offset...])
                let decoded = try? fresh.next()
                if case .audio(let rate, let payload)? = decoded {
                    #expect(direct?.rate == rate && direct?.payload == Array(payload))
                    inPlace += 1
                } else {
                    #expect(direct == nil)
                }
                guard let message = decoded ?? nil else { break }
                offset += try AudioSocketEncoder.encode(message).count
            }
            decoder = AudioSocketDecoder()
        }
        #expect(inPlace > 5_000, "the streams really held audio: \(inPlace)")
    }

    @Test func malformedInputIsATypedError() {
        #expect(decodeAll([0x42, 0x00, 0x00]).error == .unknownKind(0x42))
        #expect(decodeAll([0x02, 0x00, 0x00]).error == .unknownKind(0x02))
        #expect(decodeAll([0x10, 0x00, 0x00]).error == .emptyAudio)
        #expect(decodeAll([0x10, 0x00, 0xA1]).error == .oddAudioLength(161), "fails at the header, before the payload")
        #expect(decodeAll([0x10, 0xFF, 0xFE]).error == .payloadTooLarge(kind: 0x10, length: 65534))
        #expect(decodeAll([0x10, 0x01, 0x40], maximumPayload: 100).error == .payloadTooLarge(kind: 0x10, length: 320))
        #expect(decodeAll([0x01, 0x00, 0x0F]).error == .badUUIDLength(15))
        #expect(decodeAll([0x03, 0x00, 0x02, 0x31, 0x32]).error == .badDTMF(length: 2, digit: nil))
        #expect(decodeAll([0x03, 0x00, 0x01, 0x78]).error == .badDTMF(length: 1, digit: 0x78))
        #expect(decodeAll([0x00, 0x00, 0x01, 0x00]).error == .badHangupLength(1))
        #expect(decodeAll([0xFF, 0x00, 0x02, 1, 2]).error == .badErrorLength(2))
        #expect(decodeAll([0x10, 0x01]).messages.isEmpty && decodeAll([0x10, 0x01]).error == nil, "a truncated header just waits")
        #expect(throws: AudioSocketError.oddAudioLength(3)) { try AudioSocketEncoder.encode(.audio(sampleRate: 8000, payload: [1, 2, 3])) }
        #expect(throws: AudioSocketError.emptyAudio) { try AudioSocketEncoder.encode(.audio(sampleRate: 8000, payload: [])) }
        #expect(throws: AudioSocketError.unknownKind(0)) { try AudioSocketEncoder.encode(.audio(sampleRate: 11025, payload: [1, 2])) }
        #expect(throws: AudioSocketError.badDTMF(length: 1, digit: 0x20)) { try AudioSocketEncoder.encode(.dtmf(0x20)) }
    }
}

/// The million-input property test, on the release build with the other heavy suites (in a
/// debug build it holds a core for seconds beside the network tests).
struct AudioSocketCodecFuzzTests {
    /// A property test over 1,000,000 random inputs: random bytes, and valid streams with random
    /// corruption, in random pieces. Never a trap; buffered bytes stay bounded; whatever decodes
    /// re-encodes to the same bytes.
    @Test func oneMillionRandomInputsNeverTrapAndStayBounded() throws {
        var rng = SplitMix64(seed: 0xA5D10)
        let small: [[UInt8]] = try [
            .uuid(AudioSocketCodecTests.uuid), .dtmf(0x23), .hangup, .error(code: 1),
            .audio(sampleRate: 8000, payload: [1, 2, 3, 4]), .audio(sampleRate: 24000, payload: [9, 9]),
        ].map { try AudioSocketEncoder.encode($0) }
        var decodedMessages = 0, errors = 0
        for round in 0..<1_000_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(rng.next() % 24)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                // A valid stream of 1–4 small messages, one byte corrupted half of the time.
                bytes = (0..<(1 + Int(rng.next() % 4))).flatMap { _ in small[Int(rng.next() % UInt64(small.count))] }
                if rng.next() % 2 == 0 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            var decoder = AudioSocketDecoder(maximumPayload: 1024)
            var offset = 0
            // The messages decoded, encoded again: byte for byte the start of the input.
            var reencoded: [UInt8] = []
            loop: while offset < bytes.count {
                let piece = 1 + Int(rng.next() % 7)
                decoder.append(bytes[offset..<min(bytes.count, offset + piece)])
                offset += piece
                do {
                    while let message = try decoder.next() {
                        decodedMessages += 1
                        reencoded += try AudioSocketEncoder.encode(message)
                    }
                } catch {
                    break loop
                }
                if decoder.bufferedByteCount > 3 + 1024 + 8 { errors += 1 }
            }
            if reencoded != Array(bytes.prefix(reencoded.count)) { errors += 1 }
        }
        #expect(errors == 0)
        #expect(decodedMessages > 500_000, "the corpus really produced messages: \(decodedMessages)")
    }
}
