// SPDX-License-Identifier: MIT
// SIGINT and SIGTERM for `serve`: the first starts a drain, a second one during the drain ends
// it at once. The signals are counted by a dispatch source (never in a signal handler); the
// server's main task looks at the count ten times a second.
import Dispatch
import Foundation
import Synchronization

final class TerminationSignals: Sendable {
    enum DrainOutcome { case finished, signal, timeUp }

    private let received = Atomic<Int>(0)
    nonisolated(unsafe) private var sources: [DispatchSourceSignal] = []

    init() {
        var sources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in received.wrappingAdd(1, ordering: .relaxed) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Returns at the first signal.
    func next() async {
        while received.load(ordering: .relaxed) == 0 { try? await Task.sleep(for: .milliseconds(100)) }
    }

    /// Waits until `done()` is true, another signal comes, or `seconds` pass.
    func drain(seconds: Int, until done: () -> Bool) async -> DrainOutcome {
        let first = received.load(ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            if done() { return .finished }
            if received.load(ordering: .relaxed) > first { return .signal }
            if ContinuousClock.now >= deadline { return .timeUp }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
