// SPDX-License-Identifier: MIT
// libFuzzer target: the RTP header parser (RFC 3550: CSRCs, extension, padding); a packet parsed is serialised and parsed again to itself.
import AudioBridgeCore
import AudioBridgeRTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = bytes.withUnsafeBytes { try? RTPPacketView.parse($0) }
    guard let packet = try? RTPPacket(parsing: bytes) else { return 0 }
    let again = try? RTPPacket(parsing: packet.serialized())
    precondition(again == packet, "RTP: parse → serialise → parse changed the packet")
    return 0
}
