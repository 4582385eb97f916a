// SPDX-License-Identifier: MIT
// `serve --rtp` on loopback with a UDP peer of our own: the call starts with the first RTP packet
// (not with garbage), RTP goes back to where the media came from, garbage is counted and
// survived, the call ends after the idle time and the next packet starts a new one.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeRTP
import AudioBridgeServer
import AudioBridgeSession
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// A UDP socket that records every datagram it gets.
final class UDPPeer: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let datagrams = NIOLockedValueBox<[[UInt8]]>([])
    var received: [[UInt8]] { datagrams.withLockedValue { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        datagrams.withLockedValue { $0.append(Array(envelope.data.readableBytesView)) }
    }
}

@Suite(.serialized)
struct RTPServerTests {
    @Test func aCallStartsWithItsFirstPacketAndEndsWhenThePacketsStop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = RTPServerConfiguration()
        configuration.port = 0
        configuration.idleTimeoutSeconds = 2
        configuration.call.session.agentFormat = .pcm16(sampleRate: 8000)
        let server = try RTPServer(configuration: configuration, group: group)
        let address = try await server.start()
        let peer = UDPPeer()
        let channel = try await DatagramBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(peer) }
        }.bind(host: "127.0.0.1", port: 0).get()
        let speech = talk(seconds: 1).map { ULaw.encode($0) }

        func send(_ bytes: [UInt8]) {
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        }
        func packet(_ n: Int, ssrc: UInt32) -> [UInt8] {
            var header = [UInt8](repeating: 0, count: 12)
            header.withUnsafeMutableBytes { _ = RTPHeader(payloadType: 0, sequenceNumber: UInt16(n), timestamp: UInt32(n * 160), ssrc: ssrc).write(to: $0) }
            return header + (n < 50 ? Array(speech[n * 160..<(n + 1) * 160]) : [UInt8](repeating: 0xFF, count: 160))
        }

        send([0x13, 0x37, 0x00])
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.snapshot.totalCalls == 0 && server.snapshot.protocolErrors == 1, "garbage starts no call")
        try await pace(100) { n in
            send(packet(n, ssrc: 0xA1))
            if n == 60 { send([0x13, 0x37, 0x00]) }  // not RTP
        }
        let during = server.snapshot
        #expect(during.totalCalls == 1 && during.activeCalls == 1)
        #expect(during.framesIn >= 95 && during.protocolErrors == 2)
        // Symmetric RTP: our packets came back to the socket the media came from, PCMU, 20 ms each.
        let back = peer.received
        #expect(back.count >= 90, "packets back: \(back.count)")
        #expect(back.allSatisfy { $0.count == 172 && $0[0] == 0x80 && $0[1] & 0x7F == 0 })

        try await Task.sleep(for: .milliseconds(3000))
        #expect(server.snapshot.activeCalls == 0, "the call ended two seconds after its last packet")
        #expect(server.statistics.packetsReceived == 100)

        try await pace(10) { n in send(packet(n, ssrc: 0xB2)) }
        #expect(server.snapshot.totalCalls == 2, "the next packet started a new call")
        try await channel.close()
        await server.shutdown()
        #expect(server.snapshot.activeCalls == 0)
        try await group.shutdownGracefully()
    }
}
