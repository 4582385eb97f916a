// SPDX-License-Identifier: MIT
// The foundation's full-duplex frame path without a session around it, used by the
// allocation test and the benchmarks (the C reference in Benchmarks/ does the same steps):
//
//   uplink:   160 μ-law bytes ─decode─► 8 kHz ─resample─► 24 kHz ─► uplink ring ─► "agent"
//   downlink: "agent" ─► downlink ring ─► 24 kHz ─resample─► 8 kHz ─encode─► 160 μ-law bytes
//
// The "agent" loops the uplink straight back into the downlink. All buffers are allocated in
// `init`; `processFrame` must allocate, lock and log nothing.
import AudioBridgeCore

public struct FullDuplexFramePipeline: ~Copyable {
    public static let frameSamples = 160        // 20 ms at 8 kHz
    public static let wideFrameSamples = 480    // 20 ms at 24 kHz

    private let upsampler: Resampler
    private let downsampler: Resampler
    private var uplinkProducer: SPSCRing<Int16>.Producer
    private var uplinkConsumer: SPSCRing<Int16>.Consumer
    private var downlinkProducer: SPSCRing<Int16>.Producer
    private var downlinkConsumer: SPSCRing<Int16>.Consumer
    private let narrow: UnsafeMutableBufferPointer<Int16>
    private let wide: UnsafeMutableBufferPointer<Int16>
    private let agent: UnsafeMutableBufferPointer<Int16>

    public init(quality: Int = Resampler.defaultQuality) throws(AudioBridgeError) {
        // Everything that can throw first: a non-copyable value cannot be half-initialised.
        let upsampler = try Resampler(inputRate: 8000, outputRate: 24000, quality: quality)
        let downsampler = try Resampler(inputRate: 24000, outputRate: 8000, quality: quality)
        let uplink = try SPSCRing<Int16>.make(capacity: 8 * Self.wideFrameSamples)
        let downlink = try SPSCRing<Int16>.make(capacity: 8 * Self.wideFrameSamples)
        self.upsampler = upsampler
        self.downsampler = downsampler
        uplinkProducer = uplink.producer
        uplinkConsumer = uplink.consumer
        downlinkProducer = downlink.producer
        downlinkConsumer = downlink.consumer
        narrow = .allocate(capacity: Self.frameSamples)
        wide = .allocate(capacity: upsampler.maximumOutputCount(forInputCount: Self.frameSamples))
        agent = .allocate(capacity: Self.wideFrameSamples)
        G711.warmUp()
    }

    deinit {
        narrow.deallocate()
        wide.deallocate()
        agent.deallocate()
    }

    /// Runs one 20 ms frame both ways: `caller` (160 μ-law bytes) goes up, and the frame the
    /// caller hears is written to `heard` (160 μ-law bytes). Returns the bytes written to `heard`.
    @discardableResult
    public mutating func processFrame(caller: UnsafeBufferPointer<UInt8>, heard: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let decoded = ULaw.decode(caller, into: narrow)
        let (_, upsampled) = upsampler.process(UnsafeBufferPointer(rebasing: narrow[..<decoded]), into: wide)
        _ = uplinkProducer.write(UnsafeBufferPointer(rebasing: wide[..<upsampled]))

        let fromCaller = uplinkConsumer.read(into: agent)
        _ = downlinkProducer.write(UnsafeBufferPointer(rebasing: agent[..<fromCaller]))

        let toCaller = downlinkConsumer.read(into: wide)
        let (_, downsampled) = downsampler.process(UnsafeBufferPointer(rebasing: wide[..<toCaller]), into: narrow)
        return ULaw.encode(UnsafeBufferPointer(rebasing: narrow[..<downsampled]), into: heard)
    }
}
