// SPDX-License-Identifier: MIT
// WebSocket permessage-deflate (RFC 7692), server side: choosing a response to the client's
// offer, and compressing / decompressing whole messages. FreeSWITCH's mod_audio_stream turns it
// on by default, so a server for it must speak it.
//
// Our side compresses every message afresh (we answer with server_no_context_takeover: each
// message is decodable alone, and nothing carries over between them). The client may keep its
// context; the inflater keeps its window across messages, which decodes both kinds. A message
// that would inflate beyond the size limit is refused (a decompression bomb costs nothing).
import CZlib

public struct PerMessageDeflateParameters: Equatable, Sendable {
    /// The window our compressor may use (the client's server_max_window_bits, else 15).
    public var serverWindowBits: Int = 15
    /// What goes in the Sec-WebSocket-Extensions response header.
    public var responseHeader: String = "permessage-deflate; server_no_context_takeover"
}

public enum PerMessageDeflateError: Error, Equatable, Sendable {
    case corrupt
    case tooLarge(Int)
    case zlibFailure(Int32)
}

public enum PerMessageDeflate {
    /// The parameters for the first permessage-deflate offer in a Sec-WebSocket-Extensions
    /// header we can accept; nil if there is none (then no compression is used).
    public static func negotiate(_ header: String) -> PerMessageDeflateParameters? {
        for offer in header.split(separator: ",") {
            let parts = offer.split(separator: ";").map { $0.trimmingSpaces }
            guard parts.first == "permessage-deflate" else { continue }
            var parameters = PerMessageDeflateParameters()
            var response = ["permessage-deflate", "server_no_context_takeover"]
            var acceptable = true
            var seen = Set<Substring>()
            for parameter in parts.dropFirst() {
                let pieces = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
                let name = pieces[0]
                // A parameter twice, or one we do not know, declines this offer (RFC 7692 §5).
                guard seen.insert(name).inserted else { acceptable = false; break }
                let value = pieces.count > 1 ? Int(pieces[1].trimmingQuotes) : nil
                switch name {
                case "server_no_context_takeover", "client_no_context_takeover":
                    guard pieces.count == 1 else { acceptable = false; break }
                case "server_max_window_bits":
                    // zlib's raw deflate cannot use a window of 8; we decline rather than lie.
                    guard let bits = value, bits >= 9, bits <= 15 else { acceptable = false; break }
                    parameters.serverWindowBits = bits
                    response.append("server_max_window_bits=\(bits)")
                case "client_max_window_bits":
                    if pieces.count > 1 { guard let bits = value, bits >= 8, bits <= 15 else { acceptable = false; break } }
                default:
                    acceptable = false
                }
                if !acceptable { break }
            }
            guard acceptable else { continue }
            parameters.responseHeader = response.joined(separator: "; ")
            return parameters
        }
        return nil
    }
}

/// Compresses whole messages (no context kept between them). One connection, one thread.
public final class PerMessageDeflater {
    private let stream: UnsafeMutablePointer<z_stream>

    /// Nil if zlib cannot set up (out of memory).
    public init?(windowBits: Int = 15) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard deflateInit2_(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -Int32(windowBits), 8, Z_DEFAULT_STRATEGY,
                            zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    /// The message's compressed payload (the sync flush's trailing 00 00 FF FF removed).
    public func compress(_ message: [UInt8]) throws(PerMessageDeflateError) -> [UInt8] {
        deflateReset(stream)
        var output = [UInt8](repeating: 0, count: message.count + message.count / 8 + 64)
        var produced = 0
        var input = message
        let status: Int32 = input.withUnsafeMutableBufferPointer { input in
            stream.pointee.next_in = input.baseAddress
            stream.pointee.avail_in = UInt32(input.count)
            var status = Z_OK
            repeat {
                if produced == output.count { output.append(contentsOf: repeatElement(0, count: max(64, output.count / 2))) }
                status = output.withUnsafeMutableBufferPointer { out in
                    stream.pointee.next_out = out.baseAddress! + produced
                    stream.pointee.avail_out = UInt32(out.count - produced)
                    let result = deflate(stream, Z_SYNC_FLUSH)
                    produced = out.count - Int(stream.pointee.avail_out)
                    return result
                }
            } while status == Z_OK && stream.pointee.avail_out == 0
            return status
        }
        guard status == Z_OK || status == Z_BUF_ERROR else { throw .zlibFailure(status) }
        output.removeSubrange(produced...)
        if output.count >= 4, Array(output.suffix(4)) == [0, 0, 0xFF, 0xFF] { output.removeLast(4) }
        return output
    }
}

/// Decompresses whole messages, keeping the window between them. One connection, one thread.
public final class PerMessageInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    public let maximumMessageBytes: Int

    public init?(maximumMessageBytes: Int = 1 << 20) {
        self.maximumMessageBytes = maximumMessageBytes
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit2_(stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    public func decompress(_ payload: [UInt8]) throws(PerMessageDeflateError) -> [UInt8] {
        var input = payload + [0, 0, 0xFF, 0xFF]
        var output = [UInt8](repeating: 0, count: min(maximumMessageBytes, max(256, payload.count * 4)))
        var produced = 0
        let status: Int32 = input.withUnsafeMutableBufferPointer { input in
            stream.pointee.next_in = input.baseAddress
            stream.pointee.avail_in = UInt32(input.count)
            var status = Z_OK
            while stream.pointee.avail_in > 0 {
                if produced == output.count {
                    guard output.count < maximumMessageBytes else { return Z_BUF_ERROR }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, maximumMessageBytes - output.count)))
                }
                status = output.withUnsafeMutableBufferPointer { out in
                    stream.pointee.next_out = out.baseAddress! + produced
                    stream.pointee.avail_out = UInt32(out.count - produced)
                    let result = inflate(stream, Z_SYNC_FLUSH)
                    produced = out.count - Int(stream.pointee.avail_out)
                    return result
                }
                guard status == Z_OK || (status == Z_BUF_ERROR && stream.pointee.avail_out == 0) else { return status }
                // The message's deflate stream ended (a final block): nothing after it counts.
                if status == Z_STREAM_END { inflateReset(stream); break }
            }
            return Z_OK
        }
        if status == Z_BUF_ERROR, produced >= maximumMessageBytes { throw .tooLarge(maximumMessageBytes) }
        guard status == Z_OK else { throw status == Z_DATA_ERROR ? .corrupt : .zlibFailure(status) }
        output.removeSubrange(produced...)
        return output
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }

    var trimmingQuotes: Substring {
        var text = self
        if text.first == "\"", text.last == "\"", text.count >= 2 { text = text.dropFirst().dropLast() }
        return text
    }
}
