// SPDX-License-Identifier: MIT
// The AudioSocket server's listening socket and its accept thread. Accepting is rare (once a
// call) and may block, so one thread of its own waits in `accept` and hands each connection,
// non-blocking and with TCP_NODELAY, to the next event loop's poller, round robin as NIO's
// ServerBootstrap does. `stop` shuts the socket down, which wakes the blocked `accept`.
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

final class AudioSocketListener: Sendable {
    private let socket: Int32
    let address: SocketAddress
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let stopping = NIOLockedValueBox(false)
    private let sendBuffer: Int32

    /// Binds `host:port` (port 0: any free port) and listens; each accepted socket gets a
    /// `sendBuffer` of SO_SNDBUF.
    init(host: String, port: Int, sendBuffer: Int, backlog: Int32 = 1024) throws {
        self.sendBuffer = Int32(clamping: sendBuffer)
        let requested = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let family = requested.protocol.rawValue
        let socket = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var one: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = requested.withSockAddr { address, length in Glibc.bind(socket, address, socklen_t(length)) }
        guard bound == 0, Glibc.listen(socket, backlog) == 0 else {
            let error = IOError(errnoCode: errno, reason: "bind \(requested)")
            Glibc.close(socket)
            throw error
        }
        self.socket = socket
        address = try Self.localAddress(of: socket, host: host)
    }

    private static func localAddress(of socket: Int32, host: String) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        guard result == 0 else { throw IOError(errnoCode: errno, reason: "getsockname") }
        switch Int32(storage.ss_family) {
        case AF_INET6:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in6.self), host: host) }
        default:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in.self), host: host) }
        }
    }

    /// Accepts until `stop`, handing each connection to `accepted` (on the accept thread).
    func start(logger: Logger, accepted: @escaping @Sendable (Int32) -> Void) {
        thread.start()
        thread.submit { [socket, stopping, sendBuffer] _ in
            while true {
                let connection = Glibc.accept(socket, nil, nil)
                if connection >= 0 {
                    // (accept4, which sets both at once, is not in Swift's Glibc module.)
                    _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                    var one: Int32 = 1
                    setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    var size = sendBuffer
                    setsockopt(connection, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                    accepted(connection)
                    continue
                }
                let error = errno
                if stopping.withLockedValue({ $0 }) { return }
                switch error {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: wait for calls to end rather than spin.
                    logger.error("cannot accept a connection: \(SocketFailure(call: "accept", error))")
                    usleep(100_000)
                default:
                    logger.error("stopped accepting connections: \(SocketFailure(call: "accept", error))")
                    return
                }
            }
        }
    }

    /// Stops accepting and closes the listening socket.
    func stop() async {
        stopping.withLockedValue { $0 = true }
        // Wakes the thread blocked in accept (it returns EINVAL), which then sees `stopping`.
        Glibc.shutdown(socket, Int32(SHUT_RDWR))
        try? await thread.shutdownGracefully()
        Glibc.close(socket)
    }
}
