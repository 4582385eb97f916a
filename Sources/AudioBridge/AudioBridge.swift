// SPDX-License-Identifier: MIT
// The `AudioBridge` library for Swift users: the core, sessions, transports and RTP in one import,
// plus async conveniences for the I/O side. The media path stays synchronous and realtime-safe:
// nothing here is for the media thread.
@_exported import AudioBridgeCore
@_exported import AudioBridgeSession
@_exported import AudioBridgeTransports
@_exported import AudioBridgeRTP

extension Session {
    /// The session's host events as an async sequence, polled every `interval` on a task of
    /// its own. Take it once: it is the session's one event consumer. Ends when the consuming
    /// task is cancelled.
    public func eventStream(pollingEvery interval: Duration = .milliseconds(10)) -> AsyncStream<SessionEvent> {
        AsyncStream { continuation in
            let poller = Task { [self] in
                while !Task.isCancelled {
                    while let event = pollEvent() { continuation.yield(event) }
                    try? await Task.sleep(for: interval)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in poller.cancel() }
        }
    }
}
