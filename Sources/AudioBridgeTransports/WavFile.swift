// SPDX-License-Identifier: MIT
// A minimal WAV reader and writer: RIFF/WAVE with PCM16, μ-law or A-law, mono. Pure (bytes in,
// samples out) and strict: anything else is a typed error, never a trap.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AudioBridgeCore

public struct WavFile: Equatable, Sendable {
    public var sampleRate: Int
    /// Linear PCM (G.711 files are decoded).
    public var samples: [Int16]

    public init(sampleRate: Int, samples: [Int16]) {
        self.sampleRate = sampleRate
        self.samples = samples
    }

    enum Format: UInt16 { case pcm = 1, alaw = 6, ulaw = 7 }

    /// Parses a WAV file's bytes. Throws `.unsupportedCodec` for anything but mono PCM16/G.711 and
    /// `.invalidArgument` for a malformed file.
    public init(parsing bytes: [UInt8]) throws(AudioBridgeError) {
        func le16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func le32(_ at: Int) -> Int { le16(at) | le16(at + 2) << 16 }
        guard bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WAVE".utf8) else {
            throw .invalidArgument
        }
        var format: Format?, rate = 0, offset = 12
        while offset + 8 <= bytes.count {
            let size = le32(offset + 4)
            let body = offset + 8
            guard size >= 0, size <= bytes.count - body else { throw .invalidArgument }
            if bytes[offset..<offset + 4].elementsEqual("fmt ".utf8) {
                guard size >= 16 else { throw .invalidArgument }
                guard let f = Format(rawValue: UInt16(le16(body))), le16(body + 2) == 1 else { throw .unsupportedCodec }
                let bits = le16(body + 14)
                guard (f == .pcm && bits == 16) || (f != .pcm && bits == 8) else { throw .unsupportedCodec }
                format = f
                rate = le32(body + 4)
            } else if bytes[offset..<offset + 4].elementsEqual("data".utf8) {
                guard let format else { throw .invalidArgument }
                let data = bytes[body..<body + size]
                switch format {
                case .pcm: samples = stride(from: body, to: body + size - 1, by: 2).map { Int16(truncatingIfNeeded: le16($0)) }
                case .ulaw: samples = data.map(ULaw.decode)
                case .alaw: samples = data.map(ALaw.decode)
                }
                sampleRate = rate
                return
            }
            offset = body + size + (size & 1)
        }
        throw .invalidArgument
    }

    /// Reads and parses a file. Control thread (file I/O).
    public init(contentsOf path: String) throws(AudioBridgeError) {
        guard let file = fopen(path, "rb") else { throw .invalidArgument }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let read = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if read == 0 { break }
            bytes += chunk[..<read]
        }
        try self.init(parsing: bytes)
    }

    /// The samples at `rate` (resampled if needed; rates as the Resampler supports).
    public func samples(at rate: Int) throws(AudioBridgeError) -> [Int16] {
        guard rate != sampleRate else { return samples }
        let resampler = try Resampler(inputRate: sampleRate, outputRate: rate, quality: Resampler.defaultQuality)
        var output = [Int16](repeating: 0, count: resampler.maximumOutputCount(forInputCount: samples.count))
        let produced = samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { resampler.process(input, into: $0).produced }
        }
        return Array(output[..<produced])
    }

    /// The file's bytes as 16-bit PCM WAV.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func put16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func put32(_ v: Int) { put16(v & 0xFFFF); put16((v >> 16) & 0xFFFF) }
        out += Array("RIFF".utf8); put32(36 + samples.count * 2); out += Array("WAVEfmt ".utf8)
        put32(16); put16(1); put16(1); put32(sampleRate); put32(sampleRate * 2); put16(2); put16(16)
        out += Array("data".utf8); put32(samples.count * 2)
        for s in samples { put16(Int(UInt16(bitPattern: s))) }
        return out
    }
}
