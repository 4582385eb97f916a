// SPDX-License-Identifier: MIT
// One AudioSocket TCP connection on its loop's poller: reads go through the pure decoder
// (AudioSocketDecoder) into the call, frames go out with one `send` each. The UUID message
// starts the call; the peer closing, a protocol error, silence beyond the idle limit or a peer
// that stops reading ends it, each with a logged reason. What the socket does not take at once
// waits in a small bounded backlog, sent when epoll says the socket has room; while it holds
// more than `highWater`, the connection is not writable and the pipeline keeps the agent's
// audio queued (a frame is never half sent: AudioSocket has no resynchronisation). Everything
// runs on the poller's event loop.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import CEpoll
import Glibc
import Logging
import NIOCore

final class AudioSocketConnection {
    let socket: Int32
    private unowned let poller: AudioSocketPoller
    private let server: AudioSocketServer?
    /// Used by `readable` only, which holds no access to it while handling a message: no dynamic
    /// exclusivity check (a runtime call per access, every read).
    @exclusivity(unchecked) private var decoder: AudioSocketDecoder
    private(set) var side: AudioSocketSide? {
        didSet { unretainedSide = side.map { Unmanaged.passUnretained($0) } }
    }
    private var call: CallPipeline? {
        didSet {
            unretainedCall = call.map { Unmanaged.passUnretained($0) }
            callLines = call.map { HotMemory.lines(of: $0) } ?? 0
        }
    }
    /// The call pipeline object's size in cache lines (its prefetch lists are inside it).
    private var callLines = 0
    /// `side` and `call`, used on the per-frame path without reference counting (the two
    /// properties above hold them, and nothing a frame does ends the call at once: a hang-up
    /// closes after the tick): a read of an optional property of self, or a pattern that binds
    /// one, is compiled as a retain and a release, every frame.
    private var unretainedSide: Unmanaged<AudioSocketSide>?
    private var unretainedCall: Unmanaged<CallPipeline>?
    /// When the peer last sent anything (the poll's time).
    private(set) var lastRead: NIODeadline
    /// Completed when the socket is closed and the call ended.
    let closed: EventLoopPromise<Void>
    private(set) var isClosed = false
    /// A close asked for from inside a tick (a failed send, our hang-up) happens after it.
    private var closing = false

    /// Bytes the socket did not take yet; allocated the first time it is needed.
    private var backlog: UnsafeMutableRawBufferPointer?
    private var backlogStart = 0
    private var backlogEnd = 0
    /// Above this many waiting bytes (25 frames of 8 kHz, half a second) no frame is sent.
    static let highWater = 8_192
    /// The backlog's room: the high-water mark plus the largest frame (20 ms at 192 kHz).
    static let backlogCapacity = highWater + AudioSocketEncoder.headerBytes + 7_680

    private var metrics: TransportMetrics? { server?.services.metrics[.audioSocket] }
    private var logger: Logger? { server?.logger }

    init(socket: Int32, poller: AudioSocketPoller, server: AudioSocketServer?, maximumPayload: Int, now: NIODeadline) {
        self.socket = socket
        self.poller = poller
        self.server = server
        decoder = AudioSocketDecoder(maximumPayload: server?.configuration.maximumPayload ?? maximumPayload)
        lastRead = now
        closed = poller.eventLoop.makePromise()
    }

    deinit { backlog?.deallocate() }

    // MARK: Reading

    /// Asks the caches for the call's pipeline object, whose list of the call's memory `readable`
    /// reads first: the poller does this one ready socket ahead.
    func prefetchCall() {
        if let unretainedCall { HotMemory.prefetch(unretainedCall, lines: callLines) }
    }

    /// The socket has bytes (or was closed): read them once and act on every whole message.
    func readable(into buffer: UnsafeMutableRawBufferPointer) {
        guard !isClosed else { return }
        // The call's state (its session, detector, adapter) is fetched during the system call.
        unretainedCall?._withUnsafeGuaranteedRef { $0.callerFrameMemory.prefetch() }
        let count = Glibc.recv(socket, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 {
            lastRead = poller.now
            var bytes = UnsafeRawBufferPointer(rebasing: buffer[..<count])
            do {
                // Nothing more once the connection is closing (a refused call's audio is not an error).
                // A call's whole audio messages go from the read buffer straight to the call while
                // the decoder holds nothing (the usual case): copying each frame into the decoder's
                // own buffer first was a cold write per frame. The rest goes through the decoder.
                if decoder.bufferedByteCount == 0 {
                    while !closing, unretainedCall != nil, let (rate, payload) = decoder.audioMessage(at: bytes) {
                        try receive(audio: payload, sampleRate: rate)
                        bytes = UnsafeRawBufferPointer(rebasing: bytes[(AudioSocketEncoder.headerBytes + payload.count)...])
                    }
                }
                if !bytes.isEmpty, !closing {
                    decoder.append(bytes)
                    while !closing, let message = try decoder.next() { try handle(message) }
                }
            } catch {
                metrics?.add(.protocolErrors)
                logger?.warning("closing connection: \(error)", metadata: callMetadata)
                close()
            }
        } else if count == 0 {
            logger?.info("the peer closed the connection", metadata: callMetadata)
            close()
        } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
            // Mostly a peer resetting the connection at hang-up: worth a note, not a warning.
            logger?.info("connection error: \(SocketFailure(call: "recv", errno))", metadata: callMetadata)
            close()
        }
    }

    private func handle(_ message: AudioSocketMessage) throws {
        switch message {
        case .uuid(let uuid):
            guard call == nil else { throw ProtocolViolation.secondUUID }
            try start(uuid: uuid)
        case .audio(let rate, let payload):
            try payload.withUnsafeBytes { try receive(audio: $0, sampleRate: rate) }
        case .dtmf(let digit):
            guard let call else { throw ProtocolViolation.notStartedWithUUID }
            call.pressed(digit: digit)
        case .hangup where call == nil, .error where call == nil:
            throw ProtocolViolation.notStartedWithUUID
        case .hangup:
            logger?.info("caller hung up", metadata: callMetadata)
            close()
        case .error(let code):
            logger?.warning("peer reported an error", metadata: ["code": "\(code.map(String.init) ?? "-")"])
            close()
        }
    }

    /// A call's audio, to its side. The call and side go without reference counting (see
    /// `unretainedCall`).
    private func receive(audio bytes: UnsafeRawBufferPointer, sampleRate rate: Int) throws {
        guard let call = unretainedCall, let side = unretainedSide else { throw ProtocolViolation.notStartedWithUUID }
        try side._withUnsafeGuaranteedRef { side in
            try call._withUnsafeGuaranteedRef { try side.receive(audio: bytes, sampleRate: rate, into: $0) }
        }
    }

    private func start(uuid: AudioSocketUUID) throws {
        guard let server else { throw ProtocolViolation.notStartedWithUUID }
        if let refusal = server.services.admission.admit() {
            // AudioSocket's refusal: a hang-up message, then the socket closes.
            metrics?.count(refusal)
            logger?.notice("call refused: \(refusal == .atLimit ? "at --max-calls" : "draining")", metadata: ["call": "\(uuid)"])
            hangUp()
            return
        }
        let configuration = server.configuration
        let side = AudioSocketSide(uuid: uuid, connection: self, frameBytes: configuration.call.session.frameBytes,
                                   quality: configuration.call.session.resamplerQuality)
        let observer = server.eventObserver.map { observe in { (event: SessionEvent) in observe(uuid, event) } }
        call = try CallPipeline(side: { _ in side }, callID: "\(uuid)", session: configuration.call.session, settings: configuration.call,
                                metadata: [("callId", "\(uuid)")], services: server.services, transport: .audioSocket, pacer: poller.pacer,
                                eventLoop: poller.eventLoop, logger: server.logger, observer: observer)
        self.side = side
    }

    /// For tests that build the side and call themselves.
    func attach(side: AudioSocketSide, call: CallPipeline) {
        self.side = side
        self.call = call
    }

    private var callMetadata: Logger.Metadata { ["call": "\(side.map { "\($0.uuid)" } ?? "-")"] }

    // MARK: Writing

    /// False while the peer has not taken what was sent before (more than `highWater` waits).
    var isWritable: Bool { !closing && backlogEnd - backlogStart < Self.highWater }

    /// Sends `bytes` whole: what the socket does not take now waits in the backlog. A peer so
    /// far behind that even the backlog is full has stopped reading: the connection closes.
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard !closing, !isClosed else { return }
        var sent = 0
        if backlogEnd == backlogStart {
            sent = Glibc.send(socket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if sent == bytes.count { return }
            if sent < 0 {
                guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                    logger?.info("connection error: \(SocketFailure(call: "send", errno))", metadata: callMetadata)
                    closeAfterTick()
                    return
                }
                sent = 0
            }
        }
        keep(UnsafeRawBufferPointer(rebasing: bytes[sent...]))
    }

    private func keep(_ rest: UnsafeRawBufferPointer) {
        let backlog = self.backlog ?? .allocate(byteCount: Self.backlogCapacity, alignment: 16)
        self.backlog = backlog
        if backlogEnd == backlogStart {
            // Empty: ask epoll to say when the socket has room again.
            backlogStart = 0
            backlogEnd = 0
            poller.watch(self, for: UInt32(EPOLLIN.rawValue | EPOLLOUT.rawValue), adding: false)
        } else if backlogEnd + rest.count > backlog.count {
            // Move what waits to the front before giving up on room.
            let waiting = backlogEnd - backlogStart
            backlog.baseAddress!.copyMemory(from: backlog.baseAddress! + backlogStart, byteCount: waiting)
            backlogStart = 0
            backlogEnd = waiting
        }
        guard backlogEnd + rest.count <= backlog.count else {
            metrics?.add(.protocolErrors)
            logger?.warning("closing connection: the peer stopped reading (\(backlogEnd - backlogStart) bytes waiting)", metadata: callMetadata)
            closeAfterTick()
            return
        }
        UnsafeMutableRawBufferPointer(rebasing: backlog[backlogEnd...]).copyMemory(from: rest)
        backlogEnd += rest.count
    }

    /// The socket has room again: send what waits.
    func writable() {
        guard let backlog, backlogEnd > backlogStart, !isClosed else { return }
        let sent = Glibc.send(socket, backlog.baseAddress! + backlogStart, backlogEnd - backlogStart, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        if sent > 0 { backlogStart += sent }
        if sent < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
            logger?.info("connection error: \(SocketFailure(call: "send", errno))", metadata: callMetadata)
            close()
            return
        }
        if backlogStart == backlogEnd {
            backlogStart = 0
            backlogEnd = 0
            poller.watch(self, for: UInt32(EPOLLIN.rawValue), adding: false)
            if closing { close() }
        }
    }

    // MARK: Ending

    /// AudioSocket's hang-up (kind 0x00), then the socket closes once it has been sent.
    func hangUp() {
        guard !closing, !isClosed else { return }
        let hangup: (UInt8, UInt8, UInt8) = (0x00, 0x00, 0x00)
        withUnsafeBytes(of: hangup) { write($0) }
        closeAfterTick()
    }

    func closeIdle() {
        metrics?.add(.protocolErrors)
        logger?.warning("closing idle connection", metadata: callMetadata)
        close()
    }

    /// Closes after the current event-loop task: a send fails or a hang-up is asked for in the
    /// middle of the pacer's tick, which must not see the call end under it. What is still in
    /// the backlog (a hang-up message) gets until then to go out.
    private func closeAfterTick() {
        guard !closing else { return }
        closing = true
        poller.eventLoop.assumeIsolated().execute { [self] in
            writable()
            close()
        }
    }

    /// Closes the socket and ends the call (idempotent).
    func close() {
        guard !isClosed else { return }
        isClosed = true
        closing = true
        poller.remove(self)
        Glibc.close(socket)
        side?.connectionClosed()
        call?.end(reason: "connection closed")
        call = nil
        side = nil
        closed.succeed()
    }
}

/// A failed socket call as a log line says it: "recv: Connection reset by peer (errno 104)".
struct SocketFailure: CustomStringConvertible {
    let call: String
    let code: Int32
    init(call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }
    var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}

enum ProtocolViolation: Error {
    case notStartedWithUUID
    case secondUUID
    case sampleRateChanged(from: Int, to: Int)
}
