// SPDX-License-Identifier: MIT
import AudioBridgeServer
import NIOConcurrencyHelpers
import Testing

struct MemoryTrimmerTests {
    /// The trim runs once after calls have ended, and not again until more end; never while none
    /// has ended.
    @Test func trimsOnlyAfterCallsEnd() async throws {
        let ended = NIOLockedValueBox(0), trims = NIOLockedValueBox(0)
        let trimmer = MemoryTrimmer(interval: .milliseconds(20), endedCalls: { ended.withLockedValue { $0 } }, trim: { trims.withLockedValue { $0 += 1 } })
        trimmer.start()
        try await Task.sleep(for: .milliseconds(200))
        #expect(trims.withLockedValue { $0 } == 0, "no call has ended")
        ended.withLockedValue { $0 += 3 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(trims.withLockedValue { $0 } == 1, "three calls ended: one trim")
        try await Task.sleep(for: .milliseconds(200))
        #expect(trims.withLockedValue { $0 } == 1, "nothing ended since")
        trimmer.stop()
        ended.withLockedValue { $0 += 1 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(trims.withLockedValue { $0 } == 1, "stopped")
    }

    /// glibc's malloc_trim is found and runs.
    @Test func theAllocatorsTrimIsCallable() {
        MemoryTrimmer.returnFreeMemory()
    }
}
