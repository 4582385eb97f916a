// SPDX-License-Identifier: MIT
import AudioBridgeCore
import Foundation
import Testing

/// Holds one end of a ring so a closure on another thread can own it.
final class RingEndBox<End: ~Copyable>: @unchecked Sendable {
    var end: End
    init(_ end: consuming End) { self.end = end }
}

/// `#expect` for conditions that call mutating methods of a non-copyable ring end, which the
/// macro cannot capture: the condition is evaluated first, then checked.
func check(_ condition: Bool, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(condition, comment, sourceLocation: sourceLocation)
}

/// Runs `body` on a new thread and returns a way to wait for it.
func startThread(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread { body(); done.signal() }
    thread.start()
    return done
}

struct SPSCRingTests {
    @Test func capacityIsExactAndOutOfRangeIsRejected() throws {
        for requested in [1, 2, 3, 5, 8, 9, 160_000] {
            var ring = try SPSCRing<Int16>.make(capacity: requested)
            let producerCapacity = ring.producer.capacity, consumerCapacity = ring.consumer.capacity
            #expect(producerCapacity == requested)
            #expect(consumerCapacity == requested)
            let fill = [Int16](repeating: 7, count: requested + 3)
            check(fill.withUnsafeBufferPointer { ring.producer.write($0) } == requested, "holds exactly its capacity")
        }
        for bad in [0, -5, SPSCRing<Int16>.maximumCapacity + 1] {
            #expect(throws: AudioBridgeError.invalidArgument) { _ = try SPSCRing<Int16>.make(capacity: bad) }
        }
    }

    @Test func capacityOneAlternatesBetweenFullAndEmpty() throws {
        let ring = try SPSCRing<Int>.make(capacity: 1)
        var producer = ring.producer, consumer = ring.consumer
        for i in 0..<5 {
            check(consumer.pop() == nil)
            check(producer.push(i))
            check(!producer.push(99))
            check(producer.availableToWrite() == 0)
            check(consumer.availableToRead() == 1)
            check(consumer.pop() == i)
        }
    }

    @Test func fullRingRejectsAndShortensWritesWithoutOverwriting() throws {
        let ring = try SPSCRing<Int16>.make(capacity: 8)
        var producer = ring.producer, consumer = ring.consumer
        let data: [Int16] = Array(1...12)
        check(data.withUnsafeBufferPointer { producer.write($0) } == 8)
        check(data.withUnsafeBufferPointer { producer.write($0) } == 0)
        var out = [Int16](repeating: 0, count: 12)
        check(out.withUnsafeMutableBufferPointer { consumer.read(into: $0) } == 8)
        #expect(Array(out.prefix(8)) == Array(1...8))
        check(out.withUnsafeMutableBufferPointer { consumer.read(into: $0) } == 0)
    }

    /// For every starting offset and every block size, a block written across the wrap point
    /// reads back intact, through the copying API and through the region API.
    @Test(arguments: [1, 2, 5, 8, 13, 16])
    func wrapAroundAtEveryOffset(capacity: Int) throws {
        for offset in 0..<capacity {
            for blockSize in 1...capacity {
                let ring = try SPSCRing<Int32>.make(capacity: capacity)
                var producer = ring.producer, consumer = ring.consumer
                for _ in 0..<offset { check(producer.push(-1)); check(consumer.pop() == -1) }

                let block = (0..<Int32(blockSize)).map { $0 &* 7 &+ Int32(offset) }
                check(block.withUnsafeBufferPointer { producer.write($0) } == blockSize)
                check(producer.availableToWrite() == capacity - blockSize)
                var out = [Int32](repeating: 0, count: blockSize)
                check(out.withUnsafeMutableBufferPointer { consumer.read(into: $0) } == blockSize)
                #expect(out == block)

                // The same block through the zero-copy regions.
                let (first, second) = producer.writableRegions(maximum: blockSize)
                #expect(first.count + second.count == blockSize)
                let start = (offset + blockSize) % capacity
                #expect(first.count == min(blockSize, capacity - start), "the first region ends at the wrap point")
                for i in 0..<first.count { first[i] = block[i] }
                for i in 0..<second.count { second[i] = block[first.count + i] }
                check(consumer.availableToRead() == 0, "nothing is visible before the commit")
                check(producer.commitWrite(blockSize) == blockSize)
                let (readFirst, readSecond) = consumer.readableRegions(maximum: capacity)
                #expect(Array(readFirst) + Array(readSecond) == block)
                check(consumer.release(blockSize) == blockSize)
                check(consumer.availableToRead() == 0)
            }
        }
    }

    @Test func regionsSplitExactlyAtTheWrapPoint() throws {
        let ring = try SPSCRing<Int16>.make(capacity: 8)
        var producer = ring.producer, consumer = ring.consumer
        for _ in 0..<6 { _ = producer.push(0); _ = consumer.pop() }
        let (first, second) = producer.writableRegions(maximum: 5)
        #expect(first.count == 2 && second.count == 3)
        check(producer.writableRegions(maximum: 100).0.count + producer.writableRegions(maximum: 100).1.count == 8)
    }

    @Test func partialCommitsPublishOnlyThePrefixAndOvercommitIsClamped() throws {
        let ring = try SPSCRing<Int16>.make(capacity: 8)
        var producer = ring.producer, consumer = ring.consumer
        let (first, _) = producer.writableRegions(maximum: 6)
        for i in 0..<6 { first[i] = Int16(i) }
        check(producer.commitWrite(4) == 4)
        check(consumer.availableToRead() == 4)
        check(producer.commitWrite(100) == 4, "only the free space can be committed")
        check(consumer.availableToRead() == 8)
        check(consumer.release(3) == 3)
        check(consumer.pop() == 3)
        check(consumer.release(-2) == 0)
        check(consumer.release(100) == 4)
        check(consumer.availableToRead() == 0)
    }

    @Test func discardAllDropsWhatIsReadableAndKeepsLaterWrites() throws {
        let ring = try SPSCRing<Int16>.make(capacity: 16)
        var producer = ring.producer, consumer = ring.consumer
        let data: [Int16] = Array(1...10)
        _ = data.withUnsafeBufferPointer { producer.write($0) }
        check(consumer.pop() == 1)
        check(consumer.discardAll() == 9)
        check(consumer.availableToRead() == 0)
        check(producer.availableToWrite() == 16)
        check(producer.push(42))
        check(consumer.pop() == 42)
        check(consumer.discardAll() == 0)
    }

    /// A fixed-size value event, as the event ring carries.
    struct TestEvent: BitwiseCopyable, Equatable {
        var kind: UInt8
        var item: UInt64
        var heardMilliseconds: Int32
        var timestamp: UInt64
    }

    @Test func eventsCrossThreadsWholeAndInOrder() throws {
        let ring = try SPSCRing<TestEvent>.make(capacity: 64)
        let producer = RingEndBox(ring.producer)
        let total: UInt64 = 200_000
        let done = startThread {
            var next: UInt64 = 0
            while next < total {
                let event = TestEvent(kind: UInt8(truncatingIfNeeded: next), item: next, heardMilliseconds: Int32(truncatingIfNeeded: next * 20), timestamp: ~next)
                if producer.end.push(event) { next += 1 }
            }
        }
        var consumer = ring.consumer
        var expected: UInt64 = 0
        var mismatches = 0
        while expected < total {
            guard let event = consumer.pop() else { continue }
            let want = TestEvent(kind: UInt8(truncatingIfNeeded: expected), item: expected, heardMilliseconds: Int32(truncatingIfNeeded: expected * 20), timestamp: ~expected)
            if event != want { mismatches += 1 }
            expected += 1
        }
        done.wait()
        #expect(mismatches == 0)
        check(consumer.pop() == nil)
    }

    /// Two real threads move ≥ 10 million sequence-numbered samples in chunks of varying size
    /// through a small ring; the consumer checks there is no loss, duplication or reordering.
    @Test func twoThreadsMoveTenMillionSamplesInSequence() throws {
        let total = 10_000_000
        let ring = try SPSCRing<Int32>.make(capacity: 1024)
        let producer = RingEndBox(ring.producer)
        let done = startThread {
            var chunk = [Int32](repeating: 0, count: 700)
            var next = 0, seed: UInt32 = 12345
            while next < total {
                seed = seed &* 1_103_515_245 &+ 12345
                let size = min(Int(seed >> 16) % 700 + 1, total - next)
                for i in 0..<size { chunk[i] = Int32(truncatingIfNeeded: next + i) }
                var sent = 0
                while sent < size {
                    sent += chunk.withUnsafeBufferPointer { producer.end.write(UnsafeBufferPointer(rebasing: $0[sent..<size])) }
                }
                next += size
            }
        }
        var consumer = ring.consumer
        var buffer = [Int32](repeating: 0, count: 500)
        var expected = 0, errors = 0, seed: UInt32 = 777
        while expected < total {
            seed = seed &* 1_103_515_245 &+ 12345
            let want = Int(seed >> 16) % 500 + 1
            let got = buffer.withUnsafeMutableBufferPointer { consumer.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<want])) }
            for i in 0..<got where buffer[i] != Int32(truncatingIfNeeded: expected + i) { errors += 1 }
            expected += got
        }
        done.wait()
        #expect(expected == total)
        #expect(errors == 0)
        check(consumer.availableToRead() == 0)
    }
}
