// SPDX-License-Identifier: MIT
import AllocationCounter
import AudioBridgeCore
import AudioBridgeTestSupport
import Foundation
import Testing

/// The realtime contract, counted for real: the steady-state frame path makes no heap call and
/// takes no mutex. The counter (Tests/AllocationCounter) interposes libc for the whole test
/// process and counts only the calling thread.
@Suite(.serialized)
struct AllocationTests {
    static let steadyStateFrames = 100_000

    /// A 20 ms μ-law frame of a changing signal (so the codecs see real values).
    static func callerFrames() -> [[UInt8]] {
        (0..<50).map { f in (0..<160).map { n in ULaw.encode(Int16(9000 * sin(Double(f * 160 + n) * 0.07))) } }
    }

    @Test func counterIsInterposedAndSeesAnAddedAllocation() throws {
        #expect(ab_counting_is_interposed() == 1)
        var pipeline = try FullDuplexFramePipeline()
        let counts = Self.run(&pipeline, frames: 1000) { _ in
            // One deliberate allocation per frame: the counter must see every one of them.
            let extra = [Int16](repeating: 1, count: 4)
            withExtendedLifetime(extra) {}
        }
        #expect(counts.allocations >= 1000)
        #expect(counts.frees >= 1000)
    }

    @Test func counterSeesMutexLocks() {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        defer { lock.deallocate() }
        pthread_mutex_init(lock, nil)
        ab_counting_start()
        for _ in 0..<10 { pthread_mutex_lock(lock); pthread_mutex_unlock(lock) }
        let counts = ab_counting_stop()
        pthread_mutex_destroy(lock)
        #expect(counts.mutex_locks == 10)
    }

    @Test func fullDuplexFramePathMakesNoHeapCallsAndTakesNoLocks() throws {
        var pipeline = try FullDuplexFramePipeline()
        _ = Self.run(&pipeline, frames: 100) { _ in }  // warm-up, off the clock
        let counts = Self.run(&pipeline, frames: Self.steadyStateFrames) { _ in }
        #expect(counts.allocations == 0)
        #expect(counts.frees == 0)
        #expect(counts.mutex_locks == 0)
    }

    /// Runs `frames` full-duplex frames with counting on, calling `perFrame` inside each.
    static func run(_ pipeline: inout FullDuplexFramePipeline, frames: Int, perFrame: (Int) -> Void) -> ab_allocation_counts {
        let input = callerFrames()
        let heard = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 160)
        defer { heard.deallocate() }
        var produced = 0
        // Keep `input` alive past the stop: an optimised build may otherwise free it right after
        // its last use, inside the counted region.
        let counts = withExtendedLifetime(input) {
            ab_counting_start()
            for frame in 0..<frames {
                produced &+= input[frame % input.count].withUnsafeBufferPointer { pipeline.processFrame(caller: $0, heard: heard) }
                perFrame(frame)
            }
            return ab_counting_stop()
        }
        #expect(produced >= (frames - 2) * 160, "the pipeline really ran")
        return counts
    }
}
