// SPDX-License-Identifier: MIT
// The memory a call touches every frame, listed once when the call starts, so that its turn
// can ask for all of it at once before it needs it.
//
// Why: with a thousand calls on a core, a call's state is cold when its 20 ms turn comes (the
// other calls' turns have pushed it out of the core's caches), and a profile at 1,000 calls put
// much of the per-frame time on loads that miss: the detector's fields, the session's ends, the
// pipeline's objects, each found through the one before. Fetched one miss at a time, the core
// waits out each in turn. Asked for together ahead of use (during the previous call's work, or
// a `recv` system call), they arrive together.
//
// The list is stored inline (a fixed number of entries, no array): reading it must not itself
// be a miss on a separate buffer, and an owner that is fetched ahead brings its list with it.
//
// Realtime contract: `add` is for call setup; `prefetch` allocates nothing, takes no lock, and
// only hints: a stale or freed address costs nothing, since a prefetch never faults.
import CCacheHints

package struct HotMemory: BitwiseCopyable {
    package static let lineBytes = 64
    /// The most entries a list holds; what does not fit is left out (it is only a hint).
    package static let capacity = 32
    /// Each entry is a first line number (address / 64) shifted up by `countBits`, and a line
    /// count in the bits below: a region longer than `maximumLines` takes several entries.
    private static let countBits = 6
    private static let maximumLines = UInt64((1 << countBits) - 1)
    private var entries: InlineArray<32, UInt64> = .init(repeating: 0)
    package private(set) var count = 0

    package init() {}

    /// Every line of a class instance, as `malloc` sized it: only for heap instances (every
    /// object a call creates).
    package mutating func add(_ object: AnyObject) {
        let address = Unmanaged.passUnretained(object).toOpaque()
        add(UnsafeRawPointer(address), bytes: malloc_usable_size(address))
    }

    package mutating func add(_ pointer: UnsafeRawPointer?, bytes: Int) {
        guard let pointer, bytes > 0 else { return }
        let address = UInt64(UInt(bitPattern: pointer))
        var line = address / UInt64(Self.lineBytes)
        let end = (address + UInt64(bytes) + UInt64(Self.lineBytes) - 1) / UInt64(Self.lineBytes)
        while line < end, count < Self.capacity {
            let lines = min(end - line, Self.maximumLines)
            entries[count] = line << Self.countBits | lines
            count += 1
            line += lines
        }
    }

    package mutating func add(_ other: HotMemory) {
        for index in 0..<other.count where count < Self.capacity {
            entries[count] = other.entries[index]
            count += 1
        }
    }

    package var lineCount: Int {
        var total = 0
        for index in 0..<count { total += Int(entries[index] & Self.maximumLines) }
        return total
    }

    /// The lines of a class instance (`malloc`'s size of it).
    package static func lines(of object: AnyObject) -> Int {
        (malloc_usable_size(Unmanaged.passUnretained(object).toOpaque()) + lineBytes - 1) / lineBytes
    }

    /// Asks the caches for the first `lines` lines of `object`: for an object a loop visits
    /// later, whose inline list it then reads without waiting. Media thread.
    package static func prefetch(_ object: Unmanaged<some AnyObject>, lines: Int) {
        let start = UnsafeRawPointer(object.toOpaque())
        for line in 0..<lines { ab_prefetch_line(start + line * lineBytes) }
    }

    /// Asks the caches for every line. Media thread.
    package func prefetch() {
        for index in 0..<count {
            let entry = entries[index]
            var address = UInt(entry >> Self.countBits) &* UInt(Self.lineBytes)
            for _ in 0..<(entry & Self.maximumLines) {
                ab_prefetch_line(UnsafeRawPointer(bitPattern: address))
                address &+= UInt(Self.lineBytes)
            }
        }
    }
}
