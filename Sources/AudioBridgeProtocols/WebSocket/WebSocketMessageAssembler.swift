// SPDX-License-Identifier: MIT
// WebSocket data frames joined into messages (RFC 6455 §5.4: a peer may fragment a message into
// a first frame and continuations), compressed messages (RSV1, RFC 7692 permessage-deflate)
// inflated, and every limit a typed failure the connection turns into a close code. Pure: the
// frames' opcode, flags and payload in, messages out; the server's WebSocket channel feeds it.

public enum WebSocketMessage: Equatable, Sendable {
    case text([UInt8])
    case binary([UInt8])
}

public enum WebSocketMessageFailure: Error, Equatable, Sendable {
    /// A message over the limit (close 1009).
    case tooLarge(Int)
    /// A continuation without a start, a new message inside another, RSV bits without an
    /// extension (close 1002).
    case badFraming
    /// A compressed message that does not inflate (close 1007).
    case badCompression
}

public struct WebSocketMessageAssembler {
    /// The data frames' opcodes; control frames never reach the assembler.
    public enum Opcode: Sendable { case text, binary, continuation }

    public let maximumMessageBytes: Int
    private let inflater: PerMessageInflater?
    private var partial: [UInt8] = []
    private var partialOpcode: Opcode?
    private var partialCompressed = false

    /// `inflater`: the connection negotiated permessage-deflate (its limit should be
    /// `maximumMessageBytes` too); nil: RSV1 is a framing error.
    public init(maximumMessageBytes: Int, inflater: PerMessageInflater?) {
        self.maximumMessageBytes = maximumMessageBytes
        self.inflater = inflater
    }

    /// One data frame; a whole message once its last frame (`fin`) has come.
    public mutating func receive(opcode: Opcode, fin: Bool, rsv1: Bool, rsv2: Bool, rsv3: Bool,
                                 payload: some Collection<UInt8>) throws(WebSocketMessageFailure) -> WebSocketMessage? {
        guard !rsv2, !rsv3, !rsv1 || inflater != nil else { throw .badFraming }
        switch opcode {
        case .text, .binary:
            guard partialOpcode == nil else { throw .badFraming }
            partialOpcode = opcode
            partialCompressed = rsv1
            partial.removeAll(keepingCapacity: true)
        case .continuation:
            guard partialOpcode != nil, !rsv1 else { throw .badFraming }
        }
        guard partial.count + payload.count <= maximumMessageBytes else { throw .tooLarge(partial.count + payload.count) }
        partial += payload
        guard fin, let whole = partialOpcode else { return nil }
        partialOpcode = nil
        var message = partial
        if partialCompressed, let inflater {
            do throws(PerMessageDeflateError) { message = try inflater.decompress(message) } catch {
                if case .tooLarge = error { throw .tooLarge(maximumMessageBytes) }
                throw .badCompression
            }
        }
        return whole == .text ? .text(message) : .binary(message)
    }
}
