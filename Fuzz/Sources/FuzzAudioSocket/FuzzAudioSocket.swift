// SPDX-License-Identifier: MIT
// libFuzzer target: the AudioSocket stream decoder (Asterisk's TCP framing), fed in two pieces split where the first byte says; every message decoded is encoded and decoded again to itself, and the in-place audio read agrees with the decoder on the whole input.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var decoder = AudioSocketDecoder(maximumPayload: 4096)
    var messages: [AudioSocketMessage] = []
    for piece in [bytes[..<split], bytes[split...]] {
        decoder.append(piece)
        while let message = try? decoder.next() { messages.append(message) }
    }
    // What a connection does while its decoder holds nothing: the audio message read in place
    // at the start of the input is the decoder's first message, exactly when that is audio.
    var whole = AudioSocketDecoder(maximumPayload: 4096)
    whole.append(bytes)
    let first = try? whole.next()
    let inPlace = bytes.withUnsafeBytes { whole.audioMessage(at: $0).map { ($0.sampleRate, Array($0.payload)) } }
    if case .audio(let rate, let payload)? = first {
        precondition(inPlace.map { $0.0 == rate && $0.1 == Array(payload) } == true, "AudioSocket: the in-place read differs from the decoder")
    } else {
        precondition(inPlace == nil, "AudioSocket: the in-place read found audio the decoder did not")
    }
    for message in messages {
        guard let encoded = try? AudioSocketEncoder.encode(message) else { continue }
        var again = AudioSocketDecoder(maximumPayload: 1 << 20)
        again.append(encoded)
        let decoded = try? again.next()
        precondition(decoded == message, "AudioSocket: decode → encode → decode changed \(message)")
    }
    return 0
}
