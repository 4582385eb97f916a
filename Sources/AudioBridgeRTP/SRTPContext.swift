// SPDX-License-Identifier: MIT
// SRTP (RFC 3711) for one direction of one RTP stream, AES_CM_128_HMAC_SHA1_80/_32: protect
// encrypts the payload and appends the authentication tag; unprotect checks the replay window
// and the tag, then decrypts. The packet index is the 16-bit sequence number extended by a
// rollover counter, which the sender counts and the receiver estimates (§3.3.1), so streams keep
// working across sequence-number wrap-around. Both calls work in place in the caller's buffer and
// allocate nothing: they run per packet on the media thread.
//
// SDES gives each direction its own master key, so a call has two contexts: one that protects
// what we send (our key) and one that unprotects what we receive (the peer's key). The receiver
// keeps a replay window per SSRC for the last `receiveStreams` SSRCs that authenticated (libsrtp
// likewise keeps a stream per SSRC, learnt from its first packet), so a packet replayed from a
// stream the peer has since left is still refused; a new SSRC beyond that replaces the one
// heard from least recently.
//
// Both return a Result rather than throw, like RTPPacketView.read: refusing a forged or replayed
// packet is routine on the media thread and must not run a will-throw hook.
import COpenSSLCrypto

public enum SRTPError: Error, Equatable, Sendable {
    /// Not an RTP packet, or shorter than its header plus the tag.
    case malformed(RTPError?)
    /// The tag does not match: tampered, wrong key, or not SRTP at all.
    case authenticationFailed
    /// The packet index was seen already, or is too old for the replay window.
    case replayed
    /// Longer than the largest packet the context was created for, or no room for the tag.
    case tooLong
    /// libcrypto failed.
    case cryptoFailure
}

public final class SRTPContext {
    public let profile: SRTPProfile
    /// The largest packet (header + payload, before the tag) handled.
    public let maximumPacketLength: Int
    /// Packets the replay window holds: reordering deeper than this is refused.
    public static let replayWindow = 64

    private let cipher: AES128Blocks
    private let mac: HMACSHA1
    /// The session salt as the high and low halves of a 128-bit number (low 16 bits zero).
    private let saltHigh: UInt64
    private let saltLow: UInt64
    private let keystream: UnsafeMutableRawBufferPointer
    private let digest: UnsafeMutablePointer<UInt8>

    // Sender: the SSRC and highest index sent.
    private var sendSSRC: UInt32?
    private var sendIndex: UInt64 = 0

    /// SSRCs whose replay windows the receiver keeps.
    public static let receiveStreams = 8

    /// One received stream: highest authenticated index, replay bitmap (bit n: index
    /// highest − n seen), and when it was last heard from (a count of accepted packets).
    private struct ReceiveStream {
        var ssrc: UInt32 = 0
        var inUse = false
        var highestIndex: UInt64 = 0
        var replayBits: UInt64 = 0
        var lastHeard: UInt64 = 0
    }

    private let streams: UnsafeMutableBufferPointer<ReceiveStream>

    public private(set) var protectedPackets: UInt64 = 0
    public private(set) var unprotectedPackets: UInt64 = 0
    public private(set) var authenticationFailures: UInt64 = 0
    public private(set) var replays: UInt64 = 0
    public private(set) var malformedPackets: UInt64 = 0

    /// Nil if libcrypto cannot set the keys up.
    public init?(profile: SRTPProfile, masterKey: SRTPMasterKey, maximumPacketLength: Int = 1500) {
        guard let keys = SRTPSessionKeys(master: masterKey),
              let cipher = keys.encryptionKey.withUnsafeBytes({ AES128Blocks(key: $0) }) else { return nil }
        self.profile = profile
        self.maximumPacketLength = max(RTPHeader.fixedLength, maximumPacketLength)
        self.cipher = cipher
        mac = keys.authenticationKey.withUnsafeBytes { HMACSHA1(key: $0) }
        let salt = keys.salt + [0, 0]
        saltHigh = salt[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        saltLow = salt[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        keystream = .allocate(byteCount: (self.maximumPacketLength + 15) / 16 * 16, alignment: 16)
        keystream.initializeMemory(as: UInt8.self, repeating: 0)
        digest = .allocate(capacity: HMACSHA1.digestLength)
        digest.initialize(repeating: 0, count: HMACSHA1.digestLength)
        streams = .allocate(capacity: Self.receiveStreams)
        streams.initialize(repeating: ReceiveStream())
    }

    deinit {
        keystream.deallocate()
        digest.deallocate()
        streams.deallocate()
    }

    /// The slot of `ssrc`'s stream, or nil when it has none.
    private func stream(of ssrc: UInt32) -> Int? {
        for slot in 0..<streams.count where streams[slot].inUse && streams[slot].ssrc == ssrc { return slot }
        return nil
    }

    /// The slot a new stream takes: a free one, else the one heard from least recently.
    private func slotForNewStream() -> Int {
        var oldest = 0
        for slot in 0..<streams.count {
            if !streams[slot].inUse { return slot }
            if streams[slot].lastHeard < streams[oldest].lastHeard { oldest = slot }
        }
        return oldest
    }

    /// Encrypts the RTP packet in `buffer[0..<length]` and appends the tag; gives the new
    /// length (`length + profile.tagLength`). `buffer` must have room for the tag. Realtime-safe.
    public func protect(_ buffer: UnsafeMutableRawBufferPointer, length: Int) -> Result<Int, SRTPError> {
        guard length >= 0, length <= buffer.count else { return .failure(.malformed(nil)) }
        guard length <= maximumPacketLength, length + profile.tagLength <= buffer.count else { return .failure(.tooLong) }
        let packet = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
        let headerLength: Int, ssrc: UInt32, sequence: UInt16
        switch Self.header(of: packet) {
        case .success(let fields): (headerLength, ssrc, sequence) = fields
        case .failure(let error): malformedPackets &+= 1; return .failure(error)
        }
        // The sender counts its own wrap-arounds; a new SSRC starts again at rollover 0.
        let index: UInt64
        if sendSSRC != ssrc {
            sendSSRC = ssrc
            index = UInt64(sequence)
            sendIndex = index
        } else {
            index = Self.estimateIndex(sequence: sequence, highest: sendIndex)
            sendIndex = max(sendIndex, index)
        }
        guard crypt(UnsafeMutableRawBufferPointer(rebasing: packet[headerLength...]), ssrc: ssrc, index: index) else { return .failure(.cryptoFailure) }
        mac.authenticate(UnsafeRawBufferPointer(packet), suffix: UInt32(truncatingIfNeeded: index >> 16), into: digest)
        for i in 0..<profile.tagLength { buffer[length + i] = digest[i] }
        protectedPackets &+= 1
        return .success(length + profile.tagLength)
    }

    /// Checks and decrypts the SRTP packet in `buffer[0..<length]` in place; gives the RTP
    /// packet's length (the tag removed). Fails, and counts, on a replay, a bad tag or a
    /// malformed packet; the buffer is then unchanged. Realtime-safe.
    public func unprotect(_ buffer: UnsafeMutableRawBufferPointer, length: Int) -> Result<Int, SRTPError> {
        guard length >= 0, length <= buffer.count else { malformedPackets &+= 1; return .failure(.malformed(nil)) }
        let rtpLength = length - profile.tagLength
        guard rtpLength >= RTPHeader.fixedLength else { malformedPackets &+= 1; return .failure(.malformed(.tooShort(max(0, rtpLength)))) }
        guard rtpLength <= maximumPacketLength else { malformedPackets &+= 1; return .failure(.tooLong) }
        let packet = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<rtpLength])
        let headerLength: Int, ssrc: UInt32, sequence: UInt16
        switch Self.header(of: packet) {
        case .success(let fields): (headerLength, ssrc, sequence) = fields
        case .failure(let error): malformedPackets &+= 1; return .failure(error)
        }
        let known = stream(of: ssrc)
        let index: UInt64
        if let known {
            let highest = streams[known].highestIndex
            index = Self.estimateIndex(sequence: sequence, highest: highest)
            if index <= highest {
                let age = highest - index
                guard age < UInt64(Self.replayWindow), streams[known].replayBits & (1 << age) == 0 else { replays &+= 1; return .failure(.replayed) }
            }
        } else {
            index = UInt64(sequence)
        }
        mac.authenticate(UnsafeRawBufferPointer(packet), suffix: UInt32(truncatingIfNeeded: index >> 16), into: digest)
        var difference: UInt8 = 0
        for i in 0..<profile.tagLength { difference |= digest[i] ^ buffer[rtpLength + i] }
        guard difference == 0 else { authenticationFailures &+= 1; return .failure(.authenticationFailed) }
        guard crypt(UnsafeMutableRawBufferPointer(rebasing: packet[headerLength...]), ssrc: ssrc, index: index) else { return .failure(.cryptoFailure) }
        unprotectedPackets &+= 1
        if let known {
            let highest = streams[known].highestIndex
            if index > highest {
                let shift = index - highest
                streams[known].replayBits = shift >= 64 ? 1 : streams[known].replayBits << shift | 1
                streams[known].highestIndex = index
            } else {
                streams[known].replayBits |= 1 << (highest - index)
            }
            streams[known].lastHeard = unprotectedPackets
        } else {
            streams[slotForNewStream()] = ReceiveStream(ssrc: ssrc, inUse: true, highestIndex: index, replayBits: 1, lastHeard: unprotectedPackets)
        }
        return .success(rtpLength)
    }

    /// What both directions need from the RTP header: its length, the SSRC and the sequence number.
    private static func header(of packet: UnsafeMutableRawBufferPointer) -> Result<(length: Int, ssrc: UInt32, sequence: UInt16), SRTPError> {
        let bytes = UnsafeRawBufferPointer(packet)
        switch RTPPacketView.headerLength(bytes) {
        case .success(let length): return .success((length, loadBigEndian(UInt32.self, at: 8, in: bytes), loadBigEndian(UInt16.self, at: 2, in: bytes)))
        case .failure(let error): return .failure(.malformed(error))
        }
    }

    /// RFC 3711 §3.3.1: the index whose sequence number is `sequence` closest to `highest`.
    static func estimateIndex(sequence: UInt16, highest: UInt64) -> UInt64 {
        let rollover = highest >> 16
        let last = UInt16(truncatingIfNeeded: highest)
        var guess = rollover
        if last < 0x8000 {
            if Int(sequence) - Int(last) > 0x8000, rollover > 0 { guess = rollover - 1 }
        } else if Int(last) - 0x8000 > Int(sequence) {
            guess = rollover + 1
        }
        return guess << 16 | UInt64(sequence)
    }

    /// XORs the AES-CM keystream for (SSRC, index) over `payload`.
    private func crypt(_ payload: UnsafeMutableRawBufferPointer, ssrc: UInt32, index: UInt64) -> Bool {
        guard !payload.isEmpty else { return true }
        // IV = salt·2^16 XOR SSRC·2^64 XOR index·2^16.
        let ivHigh = saltHigh ^ UInt64(ssrc)
        let ivLow = saltLow ^ (index << 16)
        guard cipher.counterKeystream(iv: (ivHigh, ivLow), into: keystream, count: payload.count) else { return false }
        for i in 0..<payload.count { payload[i] ^= keystream[i] }
        return true
    }

    /// The AES-CM keystream for a session key and salt (RFC 3711 appendix B.2's test):
    /// `count` bytes for (SSRC, index). Allocates; for tests.
    public static func keystream(sessionKey: [UInt8], sessionSalt: [UInt8], ssrc: UInt32, index: UInt64, count: Int) -> [UInt8]? {
        guard sessionSalt.count == 14, let cipher = sessionKey.withUnsafeBytes({ AES128Blocks(key: $0) }) else { return nil }
        let salt = sessionSalt + [0, 0]
        let high = salt[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } ^ UInt64(ssrc)
        let low = salt[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } ^ (index << 16)
        var out = [UInt8](repeating: 0, count: (count + 15) / 16 * 16)
        guard out.withUnsafeMutableBytes({ cipher.counterKeystream(iv: (high, low), into: $0, count: count) }) else { return nil }
        return Array(out.prefix(count))
    }
}
