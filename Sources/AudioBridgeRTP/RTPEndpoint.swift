// SPDX-License-Identifier: MIT
// A session's phone side as an RTP endpoint (Asterisk External Media, FreeSWITCH, SIP trunks):
// received packets go through SRTP, the payload-type switch and the jitter buffer; every frame
// period `tick` plays one frame into the session and returns the packet to send back. Sockets
// stay outside: the server's UDP shell and C hosts feed packets in and send what comes out.
//
// Both calls belong to the media thread (never concurrently) and are realtime-safe: parsing,
// SRTP and the jitter buffer work in buffers allocated here at creation.
import AudioBridgeCore
import AudioBridgeSession

public struct RTPEndpointConfiguration: Sendable {
    /// The audio payload type: 0 (PCMU) for a μ-law session, 8 (PCMA) for A-law; for a slin16
    /// session (L16 big-endian at 8 kHz) 10 or 11, Asterisk's static types for 8 kHz slin, or
    /// the dynamic type (96–127) negotiated for "L16/8000".
    public var payloadType: UInt8 = 0
    /// RFC 4733 telephone-event payload type (Asterisk and most SDP use 101); nil: none.
    public var telephoneEventPayloadType: UInt8? = 101
    /// Our SSRC; nil: random.
    public var ssrc: UInt32?
    public var jitterBuffer = JitterBufferSettings()
    public var srtpProfile: SRTPProfile = .aes128CmHmacSha1_80
    /// SRTP master keys: ours protects what we send, the peer's checks what we receive. Both
    /// or neither.
    public var srtpSendKey: SRTPMasterKey?
    public var srtpReceiveKey: SRTPMasterKey?

    public init() {}

    /// The payload type a codec gets when nothing was negotiated. For 8 kHz L16 no static
    /// type exists in RFC 3551; 10 is the first of the two Asterisk's RTP engine maps to 8 kHz
    /// slin (main/rtp_engine.c, and the one it sends), where its 118 would be 16 kHz.
    public static func payloadType(for codec: PhoneCodec) -> UInt8 {
        switch codec {
        case .ulaw: 0
        case .alaw: 8
        case .slin16: slinPayloadType
        }
    }

    public static let slinPayloadType: UInt8 = 10

    /// Whether `payloadType` can carry `codec`.
    public static func accepts(_ payloadType: UInt8, for codec: PhoneCodec) -> Bool {
        switch (codec, payloadType) {
        case (.ulaw, 0), (.alaw, 8), (.slin16, 10), (.slin16, 11), (.slin16, 96...127): true
        default: false
        }
    }
}

public struct RTPEndpointStatistics: Equatable, Sendable {
    /// Packets taken (audio, telephone-events, comfort noise); refused ones are counted below.
    public var packetsReceived: UInt64 = 0
    public var packetsSent: UInt64 = 0
    /// RFC 3550 A.3 cumulative loss (may go negative with duplicates) and the highest
    /// extended sequence number; interarrival jitter (A.8) in milliseconds.
    public var cumulativeLost: Int32 = 0
    public var expected: UInt64 = 0
    public var extendedHighestSequence: UInt32 = 0
    public var jitterMilliseconds: Double = 0
    /// Not RTP at all, or an RTP packet whose payload does not fit the codec.
    public var malformed: UInt64 = 0
    /// SRTP packets refused: bad authentication tag, replayed.
    public var srtpAuthenticationFailures: UInt64 = 0
    public var srtpReplays: UInt64 = 0
    /// Packets of a payload type we did not agree on (counted and dropped).
    public var unknownPayloadType: UInt64 = 0
    /// Comfort-noise packets (PT 13): not audio; the gap is concealed or silent.
    public var comfortNoise: UInt64 = 0
    public var digitsReceived: UInt64 = 0
    public var digitsSent: UInt64 = 0
    public var sourceChanges: UInt64 = 0
    /// RTCP packets on the RTP port (rtcp-mux): counted, not parsed.
    public var rtcpPackets: UInt64 = 0
    /// RFC 3550's fraction lost (× 256) over the last complete report interval.
    public var fractionLost: UInt8 = 0
    public var jitterBuffer = JitterBufferStatistics()

    /// Packets taken off the wire and not played: malformed, unauthenticated or replayed SRTP,
    /// or of a payload type we did not agree on.
    public var refused: UInt64 { malformed + srtpAuthenticationFailures + srtpReplays + unknownPayloadType }

    public init() {}
}

public final class RTPEndpoint {
    public let configuration: RTPEndpointConfiguration
    public let ssrc: UInt32
    /// Largest datagram handled (Ethernet MTU with room to spare).
    public static let maximumPacket = 1500
    /// The most samples one received packet may carry: a G.711 payload filling the largest
    /// datagram (186 ms; ffmpeg fills packets up to its MTU by default).
    public static let maximumPacketSamples = JitterBuffer.maximumPacketSamples
    /// How often the fraction lost is taken, on the tick clock: 5 s, RFC 3550's minimum
    /// receiver-report interval.
    static let reportIntervalMicroseconds: UInt64 = 5_000_000

    private let session: Session
    /// The session's law, fixed when it was made.
    private let codec: PhoneCodec
    /// The law on the wire and its payload type: the session's, until a SIP re-INVITE changes
    /// it mid-call (`changeWireCodec`); then each packet is transcoded code for code. Packets of
    /// the law before the change are still taken, as that law: the peer's last packets in it
    /// cross our answer on the way.
    private var wireCodec: PhoneCodec
    private var wirePayloadType: UInt8
    private var previousWire: (codec: PhoneCodec, payloadType: UInt8)?
    private let frameSamples: Int
    private let jitterBuffer: JitterBuffer
    private let sender: SRTPContext?
    private let receiver: SRTPContext?
    private var receiverStatistics = RTPReceiverStatistics()
    private var events = TelephoneEventReceiver()
    private var digitSender = TelephoneEventSender()
    private var pendingDigit: (event: UInt8, duration: UInt32)?
    private var counters = RTPEndpointStatistics()
    private var remoteSSRC: UInt32?
    private var reportIntervalStart: UInt64?

    // What we send.
    private var sequenceNumber: UInt16
    private var timestamp: UInt32
    private var first = true

    // Buffers, allocated once.
    private let packet: UnsafeMutableRawBufferPointer
    private let pcm: UnsafeMutableBufferPointer<Int16>
    private let frame: UnsafeMutableRawBufferPointer

    /// Fails with `.unsupportedCodec` when the payload type does not suit the session's codec,
    /// `.invalidArgument` for bad jitter-buffer bounds or half an SRTP key pair.
    public init(session: Session, configuration: RTPEndpointConfiguration) throws(AudioBridgeError) {
        let codec = session.configuration.phoneCodec
        guard RTPEndpointConfiguration.accepts(configuration.payloadType, for: codec) else { throw .unsupportedCodec }
        if let eventType = configuration.telephoneEventPayloadType, eventType < 96 || eventType > 127 || eventType == configuration.payloadType { throw .invalidArgument }
        guard (configuration.srtpSendKey == nil) == (configuration.srtpReceiveKey == nil) else { throw .invalidArgument }
        var jitterSettings = configuration.jitterBuffer
        jitterSettings.frameSamples = session.configuration.frameSamples
        self.configuration = configuration
        self.session = session
        self.codec = codec
        wireCodec = codec
        wirePayloadType = configuration.payloadType
        frameSamples = session.configuration.frameSamples
        jitterBuffer = try JitterBuffer(settings: jitterSettings)
        if let sendKey = configuration.srtpSendKey, let receiveKey = configuration.srtpReceiveKey {
            guard let sender = SRTPContext(profile: configuration.srtpProfile, masterKey: sendKey, maximumPacketLength: Self.maximumPacket),
                  let receiver = SRTPContext(profile: configuration.srtpProfile, masterKey: receiveKey, maximumPacketLength: Self.maximumPacket) else { throw .internalFailure }
            self.sender = sender
            self.receiver = receiver
        } else {
            sender = nil
            receiver = nil
        }
        var random = SystemRandomNumberGenerator()
        ssrc = configuration.ssrc ?? UInt32.random(in: 1...UInt32.max, using: &random)
        sequenceNumber = UInt16.random(in: 0...UInt16.max, using: &random)
        timestamp = UInt32.random(in: 0...UInt32.max, using: &random)
        packet = .allocate(byteCount: Self.maximumPacket + 16, alignment: 16)
        packet.initializeMemory(as: UInt8.self, repeating: 0)
        pcm = .allocate(capacity: max(Self.maximumPacketSamples, frameSamples))
        pcm.initialize(repeating: 0)
        frame = .allocate(byteCount: session.media.frameBytes, alignment: 16)
        frame.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        packet.deallocate()
        pcm.deallocate()
        frame.deallocate()
    }

    // MARK: Receiving

    public enum ReceiveResult: Equatable, Sendable {
        case audio, telephoneEvent, comfortNoise
        /// RTCP multiplexed on the RTP port: counted, not used.
        case rtcp
        /// Not taken; counted. The call goes on.
        case dropped(AudioBridgeError)
    }

    /// Takes one received datagram. `arrivalMicroseconds` is the time it arrived on the clock
    /// `tick` is given. Never throws: every refusal is a result and a counter. Realtime-safe.
    @discardableResult
    public func receive(_ datagram: UnsafeRawBufferPointer, arrivalMicroseconds: UInt64) -> ReceiveResult {
        guard datagram.count <= Self.maximumPacket, let source = datagram.baseAddress else {
            counters.malformed &+= 1
            return .dropped(.protocolViolation)
        }
        // RFC 5761 §4: with rtcp-mux, a second byte of 192–223 is RTCP's packet type (SRTCP
        // leaves it in clear). Told apart before SRTP, whose RTP transform it would fail.
        if datagram.count >= 8, datagram[0] >> 6 == 2, (192...223).contains(datagram[1]) {
            counters.rtcpPackets &+= 1
            return .rtcp
        }
        packet.copyMemory(from: UnsafeRawBufferPointer(start: source, count: datagram.count))
        var length = datagram.count
        if let receiver {
            switch receiver.unprotect(packet, length: length) {
            case .success(let plainLength): length = plainLength
            case .failure(.authenticationFailed): counters.srtpAuthenticationFailures &+= 1; return .dropped(.protocolViolation)
            case .failure(.replayed): counters.srtpReplays &+= 1; return .dropped(.protocolViolation)
            case .failure: counters.malformed &+= 1; return .dropped(.protocolViolation)
            }
        }
        let bytes = UnsafeRawBufferPointer(rebasing: packet[0..<length])
        guard case .success(let view) = RTPPacketView.read(bytes) else { counters.malformed &+= 1; return .dropped(.protocolViolation) }
        let header = view.header
        let arrival = Int64(arrivalMicroseconds / 125)  // 8 kHz samples
        let payload = UnsafeRawBufferPointer(rebasing: bytes[view.payloadRange])

        if header.payloadType == configuration.telephoneEventPayloadType {
            guard let event = TelephoneEvent.parse(payload) else { counters.malformed &+= 1; return .dropped(.protocolViolation) }
            count(header, arrival: arrival)
            switch events.receive(event, ssrc: header.ssrc, timestamp: header.timestamp, arrivalTime: arrival) {
            case .began(let e), .beganAndEnded(let e, _):
                if let digit = TelephoneEvent.digit(forEvent: e) {
                    counters.digitsReceived &+= 1
                    _ = session.media.callerPressed(digit: digit)
                }
            case .ended, nil: break
            }
            counters.packetsReceived &+= 1
            return .telephoneEvent
        }
        if header.payloadType == 13 {
            count(header, arrival: arrival)
            counters.comfortNoise &+= 1
            counters.packetsReceived &+= 1
            return .comfortNoise
        }
        let payloadCodec: PhoneCodec
        if header.payloadType == wirePayloadType {
            payloadCodec = wireCodec
        } else if let previousWire, header.payloadType == previousWire.payloadType {
            payloadCodec = previousWire.codec
        } else {
            counters.unknownPayloadType &+= 1
            return .dropped(.unsupportedCodec)
        }
        let samples = codec == .slin16 ? payload.count / 2 : payload.count
        guard samples > 0, samples <= Self.maximumPacketSamples, codec != .slin16 || payload.count % 2 == 0 else {
            counters.malformed &+= 1
            return .dropped(.protocolViolation)
        }
        count(header, arrival: arrival)
        switch payloadCodec {
        case .ulaw: for i in 0..<samples { pcm[i] = ULaw.decode(payload[i]) }
        case .alaw: for i in 0..<samples { pcm[i] = ALaw.decode(payload[i]) }
        case .slin16: for i in 0..<samples { pcm[i] = Int16(bitPattern: UInt16(payload[2 * i]) << 8 | UInt16(payload[2 * i + 1])) }
        }
        jitterBuffer.insert(UnsafeBufferPointer(rebasing: pcm[0..<samples]), timestamp: header.timestamp, sequenceNumber: header.sequenceNumber, ssrc: header.ssrc, arrival: arrival)
        counters.packetsReceived &+= 1
        return .audio
    }

    /// RFC 3550 receiver figures for a packet taken; a new SSRC starts them afresh.
    private func count(_ header: RTPHeader, arrival: Int64) {
        if remoteSSRC != header.ssrc {
            if remoteSSRC != nil { counters.sourceChanges &+= 1 }
            remoteSSRC = header.ssrc
            receiverStatistics = RTPReceiverStatistics()
        }
        receiverStatistics.update(sequenceNumber: header.sequenceNumber, timestamp: header.timestamp, arrival: arrival)
    }

    // MARK: Each frame

    /// One frame period: the next caller frame from the jitter buffer goes into the session,
    /// and the frame the caller should hear comes back as a packet in `out` (SRTP-protected
    /// when configured); gives its length. Call every `frame_ms` on the media thread. Fails
    /// with `.bufferTooSmall` if `out` cannot hold a packet. Realtime-safe; a result, not a
    /// throw, as every media-thread call.
    public func tick(nowMicroseconds: UInt64, into out: UnsafeMutableRawBufferPointer) -> Result<Int, AudioBridgeError> {
        let tagRoom = sender?.profile.tagLength ?? 0
        let payloadBytes = frameSamples * codec.bytesPerSample
        guard out.count >= RTPHeader.fixedLength + max(payloadBytes, TelephoneEvent.payloadLength) + tagRoom else { return .failure(.bufferTooSmall) }
        let now = Int64(nowMicroseconds / 125)
        takeLossReport(nowMicroseconds: nowMicroseconds)

        // Caller → session.
        let callerFrame = UnsafeMutableBufferPointer(rebasing: pcm[0..<frameSamples])
        jitterBuffer.read(into: callerFrame, now: now)
        let codes = frame.bindMemory(to: UInt8.self)
        switch codec {
        case .ulaw: _ = ULaw.encode(UnsafeBufferPointer(callerFrame), into: codes)
        case .alaw: _ = ALaw.encode(UnsafeBufferPointer(callerFrame), into: codes)
        case .slin16: frame.copyMemory(from: UnsafeRawBufferPointer(callerFrame))
        }
        // The frame is ours and of the session's size: neither call can fail.
        _ = session.media.writeCaller(UnsafeRawBufferPointer(frame))

        // Session → caller. The frame is always read (it keeps playout moving); while a digit
        // is being sent its packets go instead of audio, as RFC 4733 senders do.
        _ = session.media.readCaller(into: frame)
        if !digitSender.isActive, let digit = pendingDigit {
            digitSender.start(event: digit.event, timestamp: timestamp, duration: digit.duration, step: UInt32(frameSamples))
            pendingDigit = nil
            counters.digitsSent &+= 1
        }
        var length: Int
        if let event = digitSender.next() {
            RTPHeader(marker: event.marker, payloadType: configuration.telephoneEventPayloadType ?? 101, sequenceNumber: sequenceNumber, timestamp: event.timestamp, ssrc: ssrc).write(to: out)
            event.event.write(to: UnsafeMutableRawBufferPointer(rebasing: out[RTPHeader.fixedLength...]))
            length = RTPHeader.fixedLength + TelephoneEvent.payloadLength
        } else {
            RTPHeader(marker: first, payloadType: wirePayloadType, sequenceNumber: sequenceNumber, timestamp: timestamp, ssrc: ssrc).write(to: out)
            let payload = UnsafeMutableRawBufferPointer(rebasing: out[RTPHeader.fixedLength..<(RTPHeader.fixedLength + payloadBytes)])
            if codec == .slin16 {
                let samples = frame.bindMemory(to: Int16.self)
                for i in 0..<frameSamples {
                    let value = UInt16(bitPattern: samples[i])
                    payload[2 * i] = UInt8(value >> 8)
                    payload[2 * i + 1] = UInt8(value & 0xFF)
                }
            } else if wireCodec == codec {
                payload.copyMemory(from: UnsafeRawBufferPointer(rebasing: frame[0..<payloadBytes]))
            } else {
                let codes = UnsafeBufferPointer(rebasing: frame.bindMemory(to: UInt8.self)[0..<payloadBytes])
                let wire = payload.bindMemory(to: UInt8.self)
                if wireCodec == .alaw { ULaw.transcodeToALaw(codes, into: wire) } else { ALaw.transcodeToULaw(codes, into: wire) }
            }
            length = RTPHeader.fixedLength + payloadBytes
            first = false
        }
        sequenceNumber &+= 1
        timestamp &+= UInt32(frameSamples)
        if let sender {
            guard case .success(let protectedLength) = sender.protect(out, length: length) else { return .failure(.internalFailure) }
            length = protectedLength
        }
        counters.packetsSent &+= 1
        return .success(length)
    }

    /// Every report interval, the fraction lost over it (reading the statistics changes nothing).
    private func takeLossReport(nowMicroseconds: UInt64) {
        guard let start = reportIntervalStart else { reportIntervalStart = nowMicroseconds; return }
        guard nowMicroseconds &- start >= Self.reportIntervalMicroseconds else { return }
        counters.fractionLost = receiverStatistics.fractionLostSinceLastReport()
        reportIntervalStart = nowMicroseconds
    }

    /// What the last `tick` exchanged, valid until the next `receive` or `tick`: the caller's
    /// frame it fed the session (linear PCM16) and the session frame the caller hears (phone
    /// codec; a digit's packets went instead while one was being sent). For recorders.
    public var lastTick: (caller: UnsafeBufferPointer<Int16>, heard: UnsafeRawBufferPointer) {
        (UnsafeBufferPointer(rebasing: pcm[0..<frameSamples]), UnsafeRawBufferPointer(rebasing: frame[0..<(frameSamples * codec.bytesPerSample)]))
    }

    /// A SIP re-INVITE changed the call's G.711 law: packets are sent in `newCodec`, at its static
    /// payload type (0 or 8), from now on, and taken in it or in the law before; the session
    /// keeps its own law. `.unsupportedCodec` unless both laws are G.711. On the media thread,
    /// between ticks.
    public func changeWireCodec(to newCodec: PhoneCodec) -> Result<Void, AudioBridgeError> {
        guard codec != .slin16, newCodec != .slin16 else { return .failure(.unsupportedCodec) }
        guard newCodec != wireCodec else { return .success(()) }
        previousWire = (wireCodec, wirePayloadType)
        wireCodec = newCodec
        wirePayloadType = RTPEndpointConfiguration.payloadType(for: newCodec)
        return .success(())
    }

    /// Whether `sendDigit` can work: a telephone-event payload type is configured.
    public var sendsTelephoneEvents: Bool { configuration.telephoneEventPayloadType != nil }

    /// Sends a DTMF digit to the phone as RFC 4733 events (replacing audio for its duration,
    /// then three end packets). Throws `.invalidArgument` for anything but '0'–'9', '*', '#',
    /// 'A'–'D', `.invalidState` with no telephone-event type configured. Media thread;
    /// realtime-safe.
    public func sendDigit(_ digit: UInt8, durationMilliseconds: Int = 100) -> Result<Void, AudioBridgeError> {
        guard configuration.telephoneEventPayloadType != nil else { return .failure(.invalidState) }
        guard let event = TelephoneEvent.event(forDigit: digit), durationMilliseconds > 0 else { return .failure(.invalidArgument) }
        pendingDigit = (event, UInt32(min(durationMilliseconds, 8000) * 8))
        return .success(())
    }

    /// The counters, the RTP receiver figures and the jitter buffer's. Media thread.
    public var statistics: RTPEndpointStatistics {
        var s = counters
        s.cumulativeLost = receiverStatistics.cumulativeLost
        s.expected = receiverStatistics.expected
        s.extendedHighestSequence = receiverStatistics.extendedHighestSequence
        s.jitterMilliseconds = Double(receiverStatistics.jitter) / 8
        s.jitterBuffer = jitterBuffer.statistics
        return s
    }

}
