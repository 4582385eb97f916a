// SPDX-License-Identifier: MIT
// `--record DIR`: one stereo WAV per call — left the caller, right the agent as the caller heard
// it (barge-in cuts included), 8 kHz PCM16, whatever the call's codec. Frames are collected in
// memory on the call's event loop (two appends per 20 ms, into storage reserved for a minute;
// longer calls grow it about once a minute) and the file is written at the end of the call on
// NIO's blocking thread pool, never on an event loop.
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Recordings still being written, so a process that is about to exit can wait for them.
public enum CallRecordings {
    static let writing = Atomic<Int>(0)
    public static var inProgress: Int { writing.load(ordering: .acquiring) }
}

final class CallRecorder {
    private let path: String
    private let codec: PhoneCodec
    private var caller: [Int16] = []
    private var heard: [Int16] = []

    init(directory: String, callID: String, codec: PhoneCodec) {
        path = directory + "/" + callID.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" } + ".wav"
        self.codec = codec
        caller.reserveCapacity(8000 * 60)
        heard.reserveCapacity(8000 * 60)
    }

    /// A caller frame as fed to the session (the call's phone codec).
    func recordCaller(_ frame: UnsafeRawBufferPointer) { append(frame, to: &caller) }

    /// A caller frame as linear PCM (RTP's jitter buffer output).
    func recordCaller(_ frame: UnsafeBufferPointer<Int16>) { caller.append(contentsOf: frame) }

    /// A frame sent to the caller (the call's phone codec).
    func recordHeard(_ frame: UnsafeRawBufferPointer) { append(frame, to: &heard) }

    private func append(_ bytes: UnsafeRawBufferPointer, to samples: inout [Int16]) {
        switch codec {
        case .ulaw: for byte in bytes { samples.append(ULaw.decode(byte)) }
        case .alaw: for byte in bytes { samples.append(ALaw.decode(byte)) }
        case .slin16:
            for i in stride(from: 0, to: bytes.count - 1, by: 2) { samples.append(Int16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8)) }
        }
    }

    /// Writes the file on the thread pool; logs the outcome.
    func finish(on eventLoop: any EventLoop, logger: Logger) {
        let path = path, caller = caller, heard = heard
        CallRecordings.writing.wrappingAdd(1, ordering: .relaxed)
        _ = NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
            defer { CallRecordings.writing.wrappingSubtract(1, ordering: .releasing) }
            let bytes = Self.stereoWav(left: caller, right: heard)
            guard let file = fopen(path, "wb") else { throw RecordingError.cannotOpen(path) }
            defer { fclose(file) }
            guard bytes.withUnsafeBytes({ fwrite($0.baseAddress, 1, $0.count, file) }) == bytes.count else { throw RecordingError.cannotWrite(path) }
        }.map {
            logger.info("recording written", metadata: ["path": "\(path)"])
        }.recover { error in
            logger.error("recording failed: \(error)")
        }
    }

    /// Interleaves two 8 kHz channels (the shorter padded with silence) into a WAV file's bytes.
    static func stereoWav(left: [Int16], right: [Int16]) -> [UInt8] {
        let frames = max(left.count, right.count)
        var out: [UInt8] = []
        out.reserveCapacity(44 + frames * 4)
        func put16(_ v: Int) { out.append(UInt8(v & 0xFF)); out.append(UInt8((v >> 8) & 0xFF)) }
        func put32(_ v: Int) { put16(v & 0xFFFF); put16((v >> 16) & 0xFFFF) }
        out += Array("RIFF".utf8); put32(36 + frames * 4); out += Array("WAVEfmt ".utf8)
        put32(16); put16(1); put16(2); put32(8000); put32(8000 * 4); put16(4); put16(16)
        out += Array("data".utf8); put32(frames * 4)
        for i in 0..<frames {
            put16(Int(UInt16(bitPattern: i < left.count ? left[i] : 0)))
            put16(Int(UInt16(bitPattern: i < right.count ? right[i] : 0)))
        }
        return out
    }
}

enum RecordingError: Error {
    case cannotOpen(String)
    case cannotWrite(String)
}
