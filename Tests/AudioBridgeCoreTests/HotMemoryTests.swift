// SPDX-License-Identifier: MIT
import AllocationCounter
@testable import AudioBridgeCore
import Testing

@Suite struct HotMemoryTests {
    /// A region is every 64-byte line it overlaps, however it is aligned.
    @Test(arguments: [(0, 1, 1), (0, 64, 1), (0, 65, 2), (63, 1, 1), (63, 2, 2), (60, 8, 2), (1, 128, 3), (32, 256, 5)])
    func aRegionCoversEveryLineItOverlaps(offset: Int, bytes: Int, lines: Int) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 64)
        defer { buffer.deallocate() }
        var memory = HotMemory()
        memory.add(UnsafeRawPointer(buffer + offset), bytes: bytes)
        #expect(memory.lineCount == lines)
    }

    @Test func nothingIsAddedForAnEmptyOrMissingRegion() {
        var memory = HotMemory()
        memory.add(nil, bytes: 128)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { buffer.deallocate() }
        memory.add(UnsafeRawPointer(buffer), bytes: 0)
        #expect(memory.lineCount == 0)
    }

    /// A region longer than one entry holds (63 lines) takes several; a full list takes no
    /// more, and what it holds stays whole.
    @Test func longRegionsSplitAndAFullListStops() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1000, alignment: 64)
        defer { buffer.deallocate() }
        var memory = HotMemory()
        memory.add(UnsafeRawPointer(buffer), bytes: 64 * 200)
        #expect(memory.count == 4)  // 63 + 63 + 63 + 11
        #expect(memory.lineCount == 200)
        for index in 0..<40 { memory.add(UnsafeRawPointer(buffer + 64 * 300 + 64 * index), bytes: 1) }
        #expect(memory.count == HotMemory.capacity)
        #expect(memory.lineCount == 200 + HotMemory.capacity - 4)
        var other = HotMemory()
        other.add(memory)
        other.add(memory)
        #expect(other.count == HotMemory.capacity)
        #expect(other.lineCount == memory.lineCount)
    }

    final class Wide {
        var values: InlineArray<100, Int> = .init(repeating: 0)
    }

    /// An object counts whole: its header and every stored property.
    @Test func anObjectCoversAllItsStoredProperties() {
        var memory = HotMemory()
        memory.add(Wide())
        #expect(memory.lineCount >= (16 + 800 + 63) / 64)
        #expect(memory.lineCount <= (16 + 800 + 63) / 64 + 2)
        #expect(HotMemory.lines(of: Wide()) >= (16 + 800 + 63) / 64)
    }

    /// The detector's list holds the detector object whole, its caller block (256 samples, 8
    /// lines) and its spectrum (the object and 129 values, 9 lines).
    @Test func theDetectorListsItsBuffers() {
        let detector = CallerSpeechDetector()
        #expect(detector.hotMemory.lineCount >= HotMemory.lines(of: detector) + 8 + 9 + 1)
        #expect(detector.hotMemory.count == 4)
    }
}

/// Prefetching is on the media path: no allocation, no lock, and freed memory is harmless.
/// (Release build only, with the other allocation suites: a debug build's unspecialised
/// InlineArray code allocates.)
@Suite struct HotMemoryAllocationTests {
    @Test func prefetchingAllocatesNothingAndTakesNoLock() {
        var memory = CallerSpeechDetector().hotMemory  // the detector itself is freed here
        memory.add(PowerSpectrum().hotMemory)
        let holder = PowerSpectrum()
        memory.prefetch()
        HotMemory.prefetch(Unmanaged.passUnretained(holder), lines: 4)
        ab_counting_start()
        for _ in 0..<1000 {
            memory.prefetch()
            HotMemory.prefetch(Unmanaged.passUnretained(holder), lines: 4)
        }
        let counts = ab_counting_stop()
        #expect(counts.allocations == 0)
        #expect(counts.mutex_locks == 0)
    }
}
