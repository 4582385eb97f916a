// SPDX-License-Identifier: MIT
// The library's diagnostics for a C host (ab_set_log_handler): one process-wide receiver, called
// synchronously on the thread whose call produced the message. Only calls that are not
// realtime-safe log (create, attach, detach, destroy, a refused config and why); the media
// thread's functions never do, so they never take the lock below.
import AudioBridgeCore
import CAudioBridgeABI
import Synchronization

enum LogLevel: Int32 {
    case error = 0, warning, info, debug
}

enum LibraryLog {
    /// Unchecked: `user` is the host's pointer, passed back as is; the header tells the host
    /// its function may run on several threads at once.
    private struct Receiver: @unchecked Sendable {
        var function: ab_log_fn?
        var user: UnsafeMutableRawPointer?
        var maxLevel: Int32
    }

    private static let receiver = Mutex(Receiver(function: nil, user: nil, maxLevel: -1))

    static func set(_ function: ab_log_fn?, user: UnsafeMutableRawPointer?, maxLevel: Int32) {
        receiver.withLock { $0 = Receiver(function: function, user: user, maxLevel: function == nil ? -1 : maxLevel) }
    }

    /// Passes `message` to the host's receiver if it takes `level`. The text is built only then.
    static func emit(_ level: LogLevel, _ message: @autoclosure () -> String) {
        // Copied out so the host's function runs outside the lock (it may log, or set a new
        // receiver, itself).
        let current = receiver.withLock { $0 }
        guard let function = current.function, level.rawValue <= current.maxLevel else { return }
        message().withCString { function(current.user, level.rawValue, $0) }
    }
}

@_cdecl("ab_set_log_handler")
public func abSetLogHandler(_ function: ab_log_fn?, _ user: UnsafeMutableRawPointer?, _ maxLevel: Int32) -> Int32 {
    guard LogLevel(rawValue: maxLevel) != nil else { return AudioBridgeError.invalidArgument.code }
    LibraryLog.set(function, user: user, maxLevel: maxLevel)
    return AudioBridgeStatus.ok
}

/// Logs why a call failed and gives its status: the error paths of control-thread calls.
func failure(_ error: AudioBridgeError, _ message: @autoclosure () -> String) -> Int32 {
    LibraryLog.emit(.error, message())
    return error.code
}
