// SPDX-License-Identifier: MIT
// Gives the allocator's free memory back to the system after calls end. glibc keeps what freed
// calls used in its arenas: a churn of 100,000 calls held 467–497 MB resident between batches
// with every session, call and agent freed (live objects 0, scripts/soak.sh), and 5,000 calls
// left a server at 287 MB with no call running until `malloc_trim(0)` (called by hand) brought
// it to 29 MB. Without this the server's RSS stays at its high-water mark. The trim runs
// on a task of its own (never on an event loop), at most once per interval, and only when a call
// has ended since the last one. While it runs it holds each arena's lock in turn, so an event
// loop that allocates then waits for that arena (the media path itself does not allocate).
#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers

public final class MemoryTrimmer: Sendable {
    private let interval: Duration
    private let endedCalls: @Sendable () -> Int
    private let trim: @Sendable () -> Void
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// `endedCalls` counts the calls ended so far (CallAdmission.endedCalls); `trim` returns the
    /// free memory (malloc_trim(0); tests pass their own).
    public init(interval: Duration, endedCalls: @escaping @Sendable () -> Int, trim: @escaping @Sendable () -> Void = MemoryTrimmer.returnFreeMemory) {
        self.interval = interval
        self.endedCalls = endedCalls
        self.trim = trim
    }

    /// glibc's malloc_trim(0), looked up at run time (Swift's Glibc module leaves malloc.h out);
    /// nothing where there is none.
    public static let returnFreeMemory: @Sendable () -> Void = {
        #if canImport(Glibc)
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }

    public func start() {
        let (interval, endedCalls, trim) = (interval, endedCalls, trim)
        task.withLockedValue { task in
            task?.cancel()
            task = Task.detached {
                var trimmedAt = endedCalls()
                while true {
                    do { try await Task.sleep(for: interval) } catch { return }  // stopped
                    let ended = endedCalls()
                    if ended != trimmedAt {
                        trim()
                        trimmedAt = ended
                    }
                }
            }
        }
    }

    public func stop() {
        task.withLockedValue { task in
            task?.cancel()
            task = nil
        }
    }
}
