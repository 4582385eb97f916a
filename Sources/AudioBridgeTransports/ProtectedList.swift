// SPDX-License-Identifier: MIT
// A value behind a pthread mutex, for the engine's control and I/O threads only (never the
// media thread). A pthread mutex rather than Synchronization.Mutex: ThreadSanitizer understands
// it, so `make test-tsan` can check the engine's locking.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class ProtectedList<Element>: @unchecked Sendable {
    // SAFETY: `elements` is only touched inside withLock.
    private var elements: [Element] = []
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout [Element]) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&elements)
    }
}
