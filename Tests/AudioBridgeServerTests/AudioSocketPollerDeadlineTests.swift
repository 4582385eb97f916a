// SPDX-License-Identifier: MIT
// The poller's reading stops when the next slot is due, and what it left is read by the next
// polls: nothing unread is lost, and every socket gets its turn.
import Glibc
import NIOCore
import NIOEmbedded
import Testing

@testable import AudioBridgeServer

@Suite struct AudioSocketPollerDeadlineTests {
    /// Peers' ends of socket pairs whose other ends the poller reads; each peer has sent two
    /// bytes (half a header, which the decoder keeps waiting for the rest: no call is needed).
    struct Rig {
        let channel = EmbeddedChannel()
        let poller: AudioSocketPoller
        var peers: [Int32] = []
        var connections: [AudioSocketConnection] = []

        init(sockets: Int) throws {
            poller = try AudioSocketPoller(eventLoop: channel.embeddedEventLoop, pacer: CallPacer(eventLoop: channel.embeddedEventLoop))
            for _ in 0..<sockets {
                var pair: [Int32] = [0, 0]
                #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair) == 0)
                connections.append(try #require(poller.adopt(pair[0])))
                peers.append(pair[1])
                let halfHeader: [UInt8] = [0x10, 0x01]
                #expect(send(pair[1], halfHeader, 2, 0) == 2)
            }
        }

        /// How many of the poller's sockets still have bytes waiting.
        var unread: Int {
            connections.filter { connection in
                var waiting: Int32 = 0
                return ioctl(connection.socket, UInt(FIONREAD), &waiting) == 0 && waiting > 0
            }.count
        }

        func close() {
            for connection in connections { connection.close() }
            for peer in peers { Glibc.close(peer) }
        }
    }

    @Test func aPollPastItsDeadlineReadsOneBatchAndLeavesTheRestReady() throws {
        let sockets = 100
        let rig = try Rig(sockets: sockets)
        defer { rig.close() }
        #expect(rig.unread == sockets)
        let batch = AudioSocketPoller.socketsPerClockRead
        var polls = 0
        while rig.unread > 0 {
            rig.poller.poll(until: .uptimeNanoseconds(0))  // long past
            polls += 1
            #expect(rig.unread == max(0, sockets - polls * batch), "poll \(polls) read one batch of \(batch) more")
            guard polls <= sockets else { break }
        }
        #expect(polls == (sockets + batch - 1) / batch)
        #expect(rig.poller.deferredPolls == polls - 1, "every poll but the last left sockets to read")
        #expect(rig.connections.allSatisfy { !$0.isClosed }, "half a header is no error")
    }

    @Test func aPollWithTimeReadsEverySocket() throws {
        let rig = try Rig(sockets: 100)
        defer { rig.close() }
        rig.poller.poll(until: .now() + .seconds(60))
        #expect(rig.unread == 0)
        #expect(rig.poller.deferredPolls == 0)
    }
}
