// SPDX-License-Identifier: MIT
// A streaming mono PCM16 resampler over SpeexDSP (`speex_resampler_*`). Filter state carries
// across calls, so a stream cut into 20 ms chunks comes out sample-for-sample the same as the
// stream resampled in one piece: no clicks at frame edges.
//
// Everything that can fail is checked at creation (rate, quality, memory). `process` never
// allocates, locks or traps; the rate and quality are fixed for the object's life, because
// SpeexDSP's set_rate/set_quality may realloc (build a new resampler off the media thread instead).
import CSpeexDSP

public final class Resampler {
    /// The rates AudioBridge resamples between: every rate Asterisk's signed-linear formats use
    /// (slin through slin192, which AudioSocket, chan_websocket and RTP may carry), which covers
    /// telephony (8 kHz), wideband (16 kHz), the realtime models' rate (24 kHz) and studio (48 kHz).
    public static let supportedRates: [Int] = [8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000, 192000]
    /// SpeexDSP's quality range; 0 is fastest, 10 best.
    public static let qualityRange: ClosedRange<Int> = 0...10
    /// The default quality: the cheapest that keeps a 300–3400 Hz signal ≥ 40 dB SNR through
    /// 8k→24k→8k (63 dB; quality 3 cuts the band edge and gets 25 dB). G.711's own quantisation
    /// noise (37 dB SNR on the same signal) dominates far above that. README lists SNR, delay
    /// and cost per quality.
    public static let defaultQuality = 4

    public let inputRate: Int
    public let outputRate: Int
    public let quality: Int
    private let state: OpaquePointer

    /// Creates a resampler from `inputRate` to `outputRate` (each one of `supportedRates`) at
    /// `quality` (0...10). Allocates; call it off the media thread.
    public init(inputRate: Int, outputRate: Int, quality: Int = Resampler.defaultQuality) throws(AudioBridgeError) {
        guard Resampler.supportedRates.contains(inputRate), Resampler.supportedRates.contains(outputRate) else {
            throw .unsupportedSampleRate
        }
        guard Resampler.qualityRange.contains(quality) else { throw .unsupportedQuality }
        var error: Int32 = 0
        guard let state = speex_resampler_init(1, UInt32(inputRate), UInt32(outputRate), Int32(quality), &error),
              error == Int32(RESAMPLER_ERR_SUCCESS)
        else { throw .outOfMemory }
        self.state = state
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.quality = quality
    }

    deinit { speex_resampler_destroy(state) }

    /// Resamples as much of `input` as fits in `output`. Returns how many input samples were
    /// consumed and how many output samples were written; unconsumed input is the caller's to
    /// pass again. Realtime-safe.
    public func process(_ input: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>) -> (consumed: Int, produced: Int) {
        // SpeexDSP reads a NULL input as zeros: never hand it one.
        guard let inputBase = input.baseAddress, let outputBase = output.baseAddress else { return (0, 0) }
        var consumed = UInt32(clamping: input.count)
        var produced = UInt32(clamping: output.count)
        let status = speex_resampler_process_int(state, 0, inputBase, &consumed, outputBase, &produced)
        // With a valid state and non-NULL buffers SpeexDSP has no failure path; be safe anyway.
        guard status == Int32(RESAMPLER_ERR_SUCCESS) else { return (0, 0) }
        return (Int(consumed), Int(produced))
    }

    /// The delay the filter adds, in input samples.
    public var inputLatency: Int { Int(speex_resampler_get_input_latency(state)) }

    /// The delay the filter adds, in output samples.
    public var outputLatency: Int { Int(speex_resampler_get_output_latency(state)) }

    /// The largest output a call with `inputCount` samples can produce (rounded up, plus one
    /// for the filter's fractional phase): size output buffers with it.
    public func maximumOutputCount(forInputCount inputCount: Int) -> Int {
        let (scaled, overflow) = max(inputCount, 0).multipliedReportingOverflow(by: outputRate)
        return overflow ? Int.max : (scaled + inputRate - 1) / inputRate + 1
    }

    /// Clears the filter history so the object can serve an unrelated stream (a new call).
    /// Realtime-safe.
    public func reset() { speex_resampler_reset_mem(state) }
}
