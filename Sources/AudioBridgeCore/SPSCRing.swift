// SPDX-License-Identifier: MIT
// A wait-free single-producer single-consumer ring, the only way the media thread and the I/O
// side exchange audio and events (DESIGN.md §2). The shape follows rtrb: creation hands out a
// producer end and a consumer end as separate non-copyable values, so "one writer, one reader"
// holds by construction.
//
// Realtime contract: one allocation at creation and none after; every call returns at once;
// a full ring rejects (or shortens) a write and never overwrites; an empty ring rejects a read.
//
// Positions are free-running counters (64-bit: they cannot wrap in the life of a process), the
// slot index is `position % capacity`, so "full" and "empty" differ without wasting a slot and
// any capacity works: a 20 s playout queue holds exactly 20 s (a power of two would round
// 160,000 samples up to 262,144 and double the memory per call). The modulo is taken once per
// bulk call, not per sample. Each end
// publishes its own position with a releasing store and reads the other's with an acquiring load:
// the producer's slot writes happen-before the consumer's reads of them, and the consumer's reads
// happen-before the producer reuses those slots. Each end also caches the other's last-seen
// position and reloads it only when the cache says there is not enough room or data.
import Synchronization

public enum SPSCRing<Element: BitwiseCopyable> {
    /// The largest capacity a ring may have (2^32 elements).
    public static var maximumCapacity: Int { 1 << 32 }

    /// Allocates a ring holding exactly `capacity` elements and returns its two ends; take them
    /// apart with `let producer = ends.producer`. Throws `.invalidArgument` unless
    /// 1 ≤ capacity ≤ `maximumCapacity`. Control thread only: this is the one allocation the
    /// ring makes.
    public static func make(capacity: Int) throws(AudioBridgeError) -> Ends {
        guard capacity >= 1, capacity <= maximumCapacity else { throw .invalidArgument }
        let storage = Storage(capacity: capacity)
        return Ends(producer: Producer(storage), consumer: Consumer(storage))
    }

    /// The bytes a ring of `capacity` elements allocates for its slots.
    public static func slotBytes(capacity: Int) -> Int { capacity * MemoryLayout<Element>.stride }

    /// A new ring's two ends (a tuple cannot hold non-copyable values).
    @frozen
    public struct Ends: ~Copyable {
        public var producer: Producer
        public var consumer: Consumer
    }

    @usableFromInline
    final class Storage: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): slots are touched only by the end that owns them at that
        // moment, as handed over by the acquire/release pairs on the two positions.
        @usableFromInline let capacity: Int
        @usableFromInline let slots: UnsafeMutablePointer<Element>
        /// Advanced by the consumer only.
        @usableFromInline let readPosition = Atomic<Int>(0)
        // Keeps the two positions on different cache lines (128 bytes: adjacent-line prefetch),
        // so the producer's and consumer's stores do not invalidate each other's line.
        private let separator: InlineArray<15, Int> = .init(repeating: 0)
        /// Advanced by the producer only.
        @usableFromInline let writePosition = Atomic<Int>(0)

        init(capacity: Int) {
            self.capacity = capacity
            slots = .allocate(capacity: capacity)
            // Touch every page now so the first pass over the ring takes no page faults.
            UnsafeMutableRawPointer(slots).initializeMemory(as: UInt8.self, repeating: 0, count: capacity * MemoryLayout<Element>.stride)
        }

        deinit { slots.deallocate() }

        /// The two contiguous pieces of `count` slots starting at `position`.
        @inlinable
        func regions(at position: Int, count: Int) -> (UnsafeMutableBufferPointer<Element>, UnsafeMutableBufferPointer<Element>) {
            let start = position % capacity
            let firstCount = min(count, capacity - start)
            return (UnsafeMutableBufferPointer(start: slots + start, count: firstCount),
                    UnsafeMutableBufferPointer(start: slots, count: count - firstCount))
        }
    }

    /// The writing end. Owned by exactly one thread at a time; may be sent to another.
    public struct Producer: ~Copyable, @unchecked Sendable {
        @usableFromInline let storage: Storage
        @usableFromInline var position: Int = 0
        @usableFromInline var cachedReadPosition: Int = 0

        init(_ storage: Storage) { self.storage = storage }

        /// The number of elements the ring holds when full.
        @inlinable public var capacity: Int { storage.capacity }

        /// The ring's positions (not its slots), for the owner's `HotMemory`.
        package var hotMemory: HotMemory {
            var memory = HotMemory()
            memory.add(storage)
            return memory
        }

        /// How many elements can be written now.
        @inlinable
        public mutating func availableToWrite() -> Int {
            cachedReadPosition = storage.readPosition.load(ordering: .acquiring)
            return storage.capacity - (position &- cachedReadPosition)
        }

        /// At least `count` free slots, reloading the consumer's position only when needed.
        @inlinable
        mutating func free(atLeast count: Int) -> Int {
            let free = storage.capacity - (position &- cachedReadPosition)
            return free >= count ? free : availableToWrite()
        }

        /// Appends one element; false (and nothing written) when the ring is full.
        @inlinable
        public mutating func push(_ element: Element) -> Bool {
            guard free(atLeast: 1) >= 1 else { return false }
            storage.slots[position % storage.capacity] = element
            position &+= 1
            storage.writePosition.store(position, ordering: .releasing)
            return true
        }

        /// Appends as many elements of `source` as fit and returns how many that was.
        @inlinable
        public mutating func write(_ source: UnsafeBufferPointer<Element>) -> Int {
            let count = min(source.count, free(atLeast: source.count))
            guard count > 0, let base = source.baseAddress else { return 0 }
            let (first, second) = storage.regions(at: position, count: count)
            first.baseAddress!.update(from: base, count: first.count)
            if second.count > 0 { second.baseAddress!.update(from: base + first.count, count: second.count) }
            position &+= count
            storage.writePosition.store(position, ordering: .releasing)
            return count
        }

        /// Zero-copy writing: up to `maximum` free slots as two contiguous regions (the second is
        /// empty unless the free space wraps around). Fill a prefix of them, then `commitWrite`.
        /// Nothing becomes visible to the consumer before the commit.
        @inlinable
        public mutating func writableRegions(maximum: Int) -> (UnsafeMutableBufferPointer<Element>, UnsafeMutableBufferPointer<Element>) {
            storage.regions(at: position, count: max(0, min(maximum, free(atLeast: maximum))))
        }

        /// Publishes the first `count` elements written into `writableRegions` (clamped to the
        /// free space, so a wrong count cannot corrupt the ring). Returns the count published.
        @discardableResult
        @inlinable
        public mutating func commitWrite(_ count: Int) -> Int {
            let published = max(0, min(count, free(atLeast: count)))
            position &+= published
            storage.writePosition.store(position, ordering: .releasing)
            return published
        }
    }

    /// The reading end. Owned by exactly one thread at a time; may be sent to another.
    public struct Consumer: ~Copyable, @unchecked Sendable {
        @usableFromInline let storage: Storage
        @usableFromInline var position: Int = 0
        @usableFromInline var cachedWritePosition: Int = 0

        init(_ storage: Storage) { self.storage = storage }

        /// The number of elements the ring holds when full.
        @inlinable public var capacity: Int { storage.capacity }

        /// The ring's positions (not its slots), for the owner's `HotMemory`.
        package var hotMemory: HotMemory {
            var memory = HotMemory()
            memory.add(storage)
            return memory
        }

        /// How many elements can be read now.
        @inlinable
        public mutating func availableToRead() -> Int {
            cachedWritePosition = storage.writePosition.load(ordering: .acquiring)
            return cachedWritePosition &- position
        }

        /// At least `count` readable elements, reloading the producer's position only when needed.
        @inlinable
        mutating func readable(atLeast count: Int) -> Int {
            let readable = cachedWritePosition &- position
            return readable >= count ? readable : availableToRead()
        }

        /// Removes and returns the oldest element; nil when the ring is empty.
        @inlinable
        public mutating func pop() -> Element? {
            guard readable(atLeast: 1) >= 1 else { return nil }
            let element = storage.slots[position % storage.capacity]
            position &+= 1
            storage.readPosition.store(position, ordering: .releasing)
            return element
        }

        /// Moves as many elements as are readable and fit into `destination`; returns the count.
        @inlinable
        public mutating func read(into destination: UnsafeMutableBufferPointer<Element>) -> Int {
            let count = min(destination.count, readable(atLeast: destination.count))
            guard count > 0, let base = destination.baseAddress else { return 0 }
            let (first, second) = storage.regions(at: position, count: count)
            base.update(from: first.baseAddress!, count: first.count)
            if second.count > 0 { (base + first.count).update(from: second.baseAddress!, count: second.count) }
            position &+= count
            storage.readPosition.store(position, ordering: .releasing)
            return count
        }

        /// Zero-copy reading: up to `maximum` readable elements as two contiguous regions. Read
        /// them, then `release` what was used; the producer cannot reuse the slots before that.
        @inlinable
        public mutating func readableRegions(maximum: Int) -> (UnsafeBufferPointer<Element>, UnsafeBufferPointer<Element>) {
            let (first, second) = storage.regions(at: position, count: max(0, min(maximum, readable(atLeast: maximum))))
            return (UnsafeBufferPointer(first), UnsafeBufferPointer(second))
        }

        /// Frees the first `count` elements seen through `readableRegions` (clamped to what is
        /// readable). Returns the count freed.
        @discardableResult
        @inlinable
        public mutating func release(_ count: Int) -> Int {
            let freed = max(0, min(count, readable(atLeast: count)))
            position &+= freed
            storage.readPosition.store(position, ordering: .releasing)
            return freed
        }

        /// Drops everything readable now in one step (a barge-in flushing playout) and returns
        /// how many elements were dropped. Elements the producer publishes afterwards stay.
        @discardableResult
        @inlinable
        public mutating func discardAll() -> Int {
            let dropped = availableToRead()
            position = cachedWritePosition
            storage.readPosition.store(position, ordering: .releasing)
            return dropped
        }
    }
}
