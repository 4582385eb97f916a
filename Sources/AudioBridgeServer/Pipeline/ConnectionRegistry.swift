// SPDX-License-Identifier: MIT
// A server's open connections, so that shutdown can end each in its protocol's way. Touched at
// connect and disconnect only (a lock there is fine), never per frame.
import NIOConcurrencyHelpers
import NIOCore

final class ConnectionRegistry: Sendable {
    private let open = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])

    func add(_ channel: Channel) { open.withLockedValue { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: Channel) { open.withLockedValue { $0[ObjectIdentifier(channel)] = nil } }
    var all: [Channel] { open.withLockedValue { Array($0.values) } }
    var count: Int { open.withLockedValue { $0.count } }
}
