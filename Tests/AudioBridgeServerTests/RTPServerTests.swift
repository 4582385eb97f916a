// SPDX-License-Identifier: MIT
// `serve --rtp` on loopback with a UDP peer of our own: the call starts with the first RTP packet
// (not with garbage), RTP goes back to where the media came from, garbage is counted and
// survived, the call ends after the idle time and the next packet starts a new one; symmetric
// RTP follows only a packet that authenticated.
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

    /// A socket on loopback that this peer records for.
    func bound(group: any EventLoopGroup) async throws -> Channel {
        try await DatagramBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(self) }
        }.bind(host: "127.0.0.1", port: 0).get()
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
        let channel = try await peer.bound(group: group)
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

    /// Symmetric RTP with SRTP: a forged packet (parses as RTP, fails authentication) from another
    /// address comes first and starts the call, but our packets go only to the source of the
    /// first packet that authenticated; the forger gets nothing.
    @Test func symmetricRTPLatchesOnlyOnAPacketItTakes() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let key = try #require(SRTPMasterKey(keyAndSalt: (0..<30).map { UInt8($0 &* 7) }))
        var configuration = RTPServerConfiguration()
        configuration.port = 0
        configuration.srtpSendKey = key
        configuration.srtpReceiveKey = key
        configuration.call.session.agentFormat = .pcm16(sampleRate: 8000)
        let server = try RTPServer(configuration: configuration, group: group)
        let address = try await server.start()
        func socket(_ peer: UDPPeer) async throws -> Channel { try await peer.bound(group: group) }
        let forger = UDPPeer(), phone = UDPPeer()
        let forgerChannel = try await socket(forger), phoneChannel = try await socket(phone)
        func send(_ bytes: [UInt8], from channel: Channel) {
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        }
        let protector = try #require(SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: key))
        func packet(_ n: Int, authentic: Bool) -> [UInt8] {
            var bytes = [UInt8](repeating: 0xFF, count: 12 + 160 + 10)
            bytes.withUnsafeMutableBytes { _ = RTPHeader(payloadType: 0, sequenceNumber: UInt16(n), timestamp: UInt32(n * 160), ssrc: 0x5A).write(to: $0) }
            if authentic { _ = bytes.withUnsafeMutableBytes { protector.protect($0, length: 172) } }
            return bytes
        }

        send(packet(0, authentic: false), from: forgerChannel)
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.snapshot.totalCalls == 1, "an RTP header starts the call")
        #expect(forger.received.isEmpty, "nothing is sent before a packet authenticated")
        try await pace(50) { n in
            send(packet(n + 1, authentic: true), from: phoneChannel)
            if n % 10 == 0 { send(packet(1_000 + n, authentic: false), from: forgerChannel) }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(forger.received.isEmpty, "the forger got \(forger.received.count) packets")
        #expect(phone.received.count >= 40, "the phone got \(phone.received.count) packets")
        #expect(server.snapshot.protocolErrors == 6, "the forged packets were counted")
        try await forgerChannel.close()
        try await phoneChannel.close()
        await server.shutdown()
        try await group.shutdownGracefully()
    }
}
