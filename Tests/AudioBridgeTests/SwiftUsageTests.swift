// SPDX-License-Identifier: MIT
// What the README shows a Swift server doing: a session, the echo agent on the engine's own I/O
// thread, a media loop, and events as an async stream.
import AudioBridge
import Foundation
import Testing

struct SwiftUsageTests {
    @Test func aSwiftServerRunsACallInAFewLines() async throws {
        // --- as in the README ---
        let engine = try Engine()                                   // owns the I/O thread
        let session = try Session(configuration: SessionConfiguration())  // μ-law 20 ms ↔ 24 kHz PCM16
        try engine.attach(EchoAgent(), to: session)
        let events = session.eventStream()
        // the media loop: every 20 ms, one caller frame in and one out
        // guard case .success = session.media.writeCaller(callerFrame),
        //       case .success(let bytes) = session.media.readCaller(into: heardFrame) else { return }
        // ---

        let media = Task.detached {
            var out = [UInt8](repeating: 0, count: 160)
            for frame in 0..<150 {
                let talking = frame >= 5 && frame < 55
                let caller = (0..<160).map { n in ULaw.encode(talking ? Int16(12000 * sin(Double(frame * 160 + n) * 2 * .pi * 300 / 8000)) : 0) }
                guard case .success = caller.withUnsafeBytes({ session.media.writeCaller($0) }),
                      case .success(let bytes) = out.withUnsafeMutableBytes({ session.media.readCaller(into: $0) }), bytes == 160 else {
                    Issue.record("a media call failed at frame \(frame)")
                    return
                }
                try await Task.sleep(for: .milliseconds(2))  // faster than real time; the engine keeps up
            }
        }
        var seen: [SessionEvent.Kind] = []
        for await event in events {
            seen.append(event.kind)
            if event.kind == .playoutStarted || seen.count > 20 { break }
        }
        try await media.value
        engine.shutdown()
        #expect(seen.prefix(4) == [.transportConnected, .speechStarted, .speechStopped, .playoutStarted])
    }
}
