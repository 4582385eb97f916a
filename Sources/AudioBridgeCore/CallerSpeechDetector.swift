// SPDX-License-Identifier: MIT
// The caller-speech detector behind barge-in: does the caller talk now, or is it noise, music,
// a click, a cough, a keypad tone, or the agent's own voice coming back as echo?
//
// Design (causal, deterministic, one 20 ms hop per call; 32 ms Hann window, so it looks at the
// last 12 ms of the previous hop too):
//
//   spectrum     power spectrum of the caller (PowerSpectrum), 250–3500 Hz, in 16 bands
//   noise        a floor per band (minimum statistics): twice the lowest smoothed band power,
//                the expected echo taken out, over the last 1.2–1.6 s (four blocks of 400 ms),
//                so it follows drops at once and rises once louder audio has lasted that long;
//                capped at a quiet line's level for the first 400 ms
//   echo         the playout reference (what the caller heard, sample-aligned) gets the same
//                spectrum, kept for the last 800 ms. The echo's delay is found and followed
//                (EchoDelayEstimator: up to 800 ms, the whole round trip to the phone and back);
//                the echo expected in each bin is the loudest reference around that delay
//                (−20…+40 ms: the echo path smears it) — before the delay is known, the loudest
//                of the whole 800 ms — times the echo coupling. The coupling is learnt per
//                call: the median of caller/reference level while the agent talks and the
//                caller does not, starting from a strong −6 dB
//   evidence     band SNR against noise + expected echo, averaged in dB ("segmental SNR");
//                periodicity of the caller after noise and echo are subtracted (normalised
//                autocorrelation at pitch lags 70–400 Hz, from the 100–2000 Hz spectrum);
//                tonality (share of the energy in the two strongest spectral peaks: keypad
//                tones, dial tones and pure notes are not speech)
//   decision     a hop is speech-like when its SNR clears the threshold (higher while the agent
//                talks), it is louder than the background's loud moments (the running 80th
//                percentile of the level of hops that are not speech, plus a margin: voices and
//                music in the room keep the noise floor low but reach that level, the caller
//                goes past it) and it is not tonal; speech starts when, within the minimum speech
//                time, most hops are speech-like and some are voiced (a cough or a knock is
//                loud but not periodic; a click is too short); it ends after the hangover
//   confirming   what commits a barge-in (BargeInArbiter): a voiced speech hop clearly above
//                the background's loud moments (`confirmationLevelMarginDecibels`) and, once
//                the caller's own speech level is known (the running 80th percentile of their
//                speech hops while the agent is silent), within `foregroundMarginDecibels` of
//                it: voices and music in the room, quieter than the caller, pause the agent at
//                most
//
// Realtime-safe: every buffer is allocated at creation; `process` does arithmetic only.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class CallerSpeechDetector {
    public struct Settings: Equatable, Sendable {
        /// Speech must be present this long (most of it speech-like, some voiced) to start;
        /// at most 1,280 ms.
        public var minimumSpeechMilliseconds = 100
        /// Speech ends after this long without a speech-like hop; at most 1,260 ms. (A barge-in
        /// needs speech to start afresh after it.)
        public var hangoverMilliseconds = 200
        /// The caller's turn ends after this long without speech: the session's speechStopped,
        /// which agents take as "your turn" (longer than the hangover: people pause mid-sentence).
        public var endOfTurnMilliseconds = 600
        /// A hop is speech-like when its mean band SNR over noise and expected echo is above this.
        public var thresholdDecibels: Float = 5
        /// In a noisy call the threshold is at least this far above the SNR the background
        /// reaches (its running 30th percentile).
        public var backgroundMarginDecibels: Float = 4
        /// Added to the threshold while the agent is talking (a stricter barge-in).
        public var agentTalkingExtraDecibels: Float = 2
        /// Quieter hops are never speech (dBFS of the 250–3500 Hz band).
        public var minimumLevelDbfs: Float = -55
        /// Expected echo is scaled up by this much before comparing (covers the coupling's spread).
        public var echoMarginDecibels: Float = 6
        /// Normalised autocorrelation a voiced hop reaches.
        public var voicingThreshold: Float = 0.45
        /// Share of the band's energy in its two strongest peaks above which a hop is a tone.
        public var tonalityThreshold: Float = 0.7
        /// A speech-like hop is this much louder than the background's loud moments (the 80th
        /// percentile of the level of hops that are not speech).
        public var backgroundLevelMarginDecibels: Float = 2
        /// A hop confirms a barge-in only this much louder than the background's loud moments.
        public var confirmationLevelMarginDecibels: Float = 5
        /// Once the caller's speech level is known, a hop confirms a barge-in only within this
        /// many dB of it (background voices and music are quieter than the caller).
        public var foregroundMarginDecibels: Float = 10

        public init() {}
    }

    public static let hopSamples = 160
    private static let lowBin = 8, highBin = 112  // 250 … 3500 Hz
    private static let bandCount = 16
    private static let referenceHops = EchoDelayEstimator.maximumDelayHops  // 800 ms of reference history
    /// Hops the recent-reference checks look at before the echo's delay is known (160 ms).
    private static let recentHops = 8
    private static let pitchBins = 65  // 0 … 2000 Hz
    private static let paddedPitchBins = 72  // nine SIMD8 lanes; the padding stays zero
    private static let lags: [Int] = Array(stride(from: 20, through: 114, by: 2))  // 400 … 70 Hz

    public let settings: Settings
    // The published state below is written by `process` only, on the thread that runs the
    // detector, and read between hops: no access can overlap another, so Swift's dynamic
    // exclusivity checks (a runtime call per access of a public class property, a measurable
    // share of a loaded server's CPU) are turned off for it. That reaches this module's accesses
    // only: the per-hop path in another module reads through a getter (`lastHopEvidence`).
    @exclusivity(unchecked) public private(set) var isSpeaking = false
    /// Diagnostics of the last hop (for tests and the `vad` tool).
    @exclusivity(unchecked) public private(set) var lastSNR: Float = 0
    @exclusivity(unchecked) public private(set) var lastPeriodicity: Float = 0
    @exclusivity(unchecked) public private(set) var lastTonality: Float = 0
    @exclusivity(unchecked) public private(set) var agentTalking = false
    /// Whether the last hop is evidence of the caller's own speech (what confirms a barge-in).
    @exclusivity(unchecked) public private(set) var lastHopConfirming = false
    /// The learnt echo coupling, dB (caller level relative to the reference).
    @exclusivity(unchecked) public private(set) var echoCouplingDecibels: Float = -6
    /// The echo's delay in hops, once found.
    public var echoDelayHops: Int? { delayEstimator.delayHops }
    /// The caller's speech level (dBFS, the running 80th percentile of their speech hops while
    /// the agent is silent), once learnt.
    public var callerLevelDbfs: Float? { callerLevelHops >= Self.callerLevelWarmUp ? callerLevel : nil }
    /// Whether the last hop was speech-like (loud enough over noise and echo, not a tone), and
    /// voiced as well.
    @exclusivity(unchecked) public private(set) var lastHopSpeechLike = false
    @exclusivity(unchecked) public private(set) var lastHopVoiced = false
    /// The last hop's level, dBFS of the 250–3500 Hz band.
    @exclusivity(unchecked) public private(set) var lastLevelDbfs: Float = -100
    /// `lastHopSpeechLike` and `lastHopConfirming` in one call, for the per-hop path in another
    /// module: there each stored property read directly still gets a dynamic exclusivity check
    /// (`@exclusivity(unchecked)` covers this module's accesses only); through this getter, none.
    public var lastHopEvidence: (speechLike: Bool, confirming: Bool) { (lastHopSpeechLike, lastHopConfirming) }

    private let callerSpectrum = PowerSpectrum()
    /// The last 256 samples of the caller and of the reference, oldest first.
    private let callerBlock: UnsafeMutablePointer<Int16>
    private let referenceBlock: UnsafeMutablePointer<Int16>
    /// Noise floor per band, and the band power smoothed over hops it is tracked on.
    private var bandNoise: InlineArray<16, Float> = .init(repeating: 0)
    private var bandSmoothed: InlineArray<16, Float> = .init(repeating: 0)
    private var bandPower: InlineArray<16, Float> = .init(repeating: 0)
    private var bandEcho: InlineArray<16, Float> = .init(repeating: 0)
    /// The minimum of each band's smoothed power in each of the last four 0.4 s blocks.
    private var blockMinima: InlineArray<64, Float> = .init(repeating: 0)
    private var minimumBlock = 0
    /// Reference power per bin for the last `referenceHops` hops (ring, `referenceIndex` newest).
    private let referenceHistory: UnsafeMutablePointer<Float>
    /// The per-bin maximum of the reference in blocks of `blockHops` hops (ring of `blocks`,
    /// the current one filling): before the delay is known, the expected echo is the maximum of
    /// these, the last 0.8–0.96 s, at a sixth of the cost of the 40 rows.
    private let blockMaxima: UnsafeMutablePointer<Float>
    private static let blockHops = 8
    private static let blocks = referenceHops / blockHops + 1
    private var referenceHopCount = 0
    private var referenceIndex = 0
    private var referenceLevels: InlineArray<40, Float> = .init(repeating: 0)
    private var referenceBands: InlineArray<16, Float> = .init(repeating: 0)
    private var referencePlayed = false
    /// Hops in a row in which the agent played nothing. Once the silence has filled the whole
    /// reference window (the 256-sample block in 2 hops, then every ring: the 40 rows and
    /// levels, and the block maxima, which take up to `blocks + 1` blocks to turn over), every
    /// stored value is zero and a silent hop would compute zeros again: it only moves the
    /// positions on (most of a call's hops, when the agent is quiet).
    private var silentReferenceHops = 0
    private static let settledSilentHops = 2 + max(referenceHops, (blocks + 1) * blockHops)
    /// Updated and read every hop by this detector's own methods only, which call nothing out
    /// while they hold it: the dynamic exclusivity check Swift adds (a runtime call per access)
    /// could never fire.
    @exclusivity(unchecked) private var delayEstimator = EchoDelayEstimator()
    private var callerLevel: Float = -100
    private var callerLevelHops = 0
    private static let callerLevelWarmUp = 15
    /// The first bin of each band (log-spaced), and one past the last band's last bin: in the
    /// object itself, whose lines every hop reads anyway.
    private let bandEdges: InlineArray<17, UInt8>
    /// cos(2π·bin·lag/256) for every pitch lag and bin, and 1/(the window's autocorrelation) per
    /// lag: the same for every detector, so made once per process (12 KB) rather than per call.
    private static let cosineTable: [Float] = lags.flatMap { lag in
        (0..<paddedPitchBins).map { bin in bin < pitchBins ? Float(cos(2 * Double.pi * Double(bin * lag) / Double(PowerSpectrum.size))) : 0 }
    }
    private static let windowCorrection: [Float] = lags.map { 1 / PowerSpectrum.windowAutocorrelation(lag: $0) }

    /// The running 30th percentile of the SNR (dB).
    private var backgroundSNR: Float = 1
    /// The running 90th percentile of the SNR of hops that are not speech (dB), fed a few hops
    /// late: the hops that led up to an onset were speech, though not yet called so.
    private var backgroundPeakSNR: Float = 2
    private var recentSNR: InlineArray<65, Float> = .init(repeating: 0)
    /// The running 80th percentile of the level (dBFS) of hops that are not speech, fed late
    /// like `backgroundPeakSNR`; nil before the first such hop.
    private var backgroundLevel: Float?
    private var recentLevels: InlineArray<65, Float> = .init(repeating: -100)
    private var hopsWithoutSpeech = 0
    private var hops = 0
    private let onsetWindow: Int
    private let onsetSpeechLike: Int
    private let onsetVoiced: Int
    private let hangoverHops: Int
    private var recentSpeechLike: UInt64 = 0  // bit i: hop i back was speech-like
    private var recentVoiced: UInt64 = 0
    private let minimumLevel: Float
    private let echoMargin: Float
    private static let fullScale: Float = 32768 * 32768
    /// One band's share of −40 dBFS over the whole band, in spectrum units.
    private static let quietLineBandPower = fullScale * Float(PowerSpectrum.size * PowerSpectrum.size) / 8 * power(decibels: -43) / Float(bandCount)

    public init(settings: Settings = Settings()) {
        self.settings = settings
        callerBlock = .allocate(capacity: PowerSpectrum.size)
        callerBlock.initialize(repeating: 0, count: PowerSpectrum.size)
        referenceBlock = .allocate(capacity: PowerSpectrum.size)
        referenceBlock.initialize(repeating: 0, count: PowerSpectrum.size)
        referenceHistory = .allocate(capacity: PowerSpectrum.bins * Self.referenceHops)
        referenceHistory.initialize(repeating: 0, count: PowerSpectrum.bins * Self.referenceHops)
        blockMaxima = .allocate(capacity: PowerSpectrum.bins * Self.blocks)
        blockMaxima.initialize(repeating: 0, count: PowerSpectrum.bins * Self.blocks)
        var bandEdges = InlineArray<17, UInt8>(repeating: 0)
        for band in 0..<Self.bandCount {
            // Log-spaced between the band's low and high bins.
            let ratio = Double(Self.highBin) / Double(Self.lowBin)
            bandEdges[band] = UInt8((Double(Self.lowBin) * pow(ratio, Double(band) / Double(Self.bandCount))).rounded())
        }
        bandEdges[Self.bandCount] = UInt8(Self.highBin + 1)
        self.bandEdges = bandEdges
        _ = (Self.cosineTable.count, Self.windowCorrection.count)  // made now, not on the media thread
        let hop = Self.hopSamples * 1000 / 8000
        onsetWindow = max(1, min(64, (settings.minimumSpeechMilliseconds + hop - 1) / hop))
        onsetSpeechLike = max(1, (onsetWindow * 3 + 3) / 4)
        onsetVoiced = max(1, onsetWindow / 2)
        hangoverHops = max(1, min(63, (settings.hangoverMilliseconds + hop - 1) / hop))
        minimumLevel = Self.fullScale * Self.power(decibels: settings.minimumLevelDbfs)
        echoMargin = Self.power(decibels: settings.echoMarginDecibels)
    }

    /// What every hop touches: the detector, its caller block and spectrum. (The reference
    /// side's buffers only matter while the agent talks, and then its frames are being read
    /// anyway. A hop's scratch, the expected echo and the cleaned spectrum, is on the stack.)
    package var hotMemory: HotMemory {
        var memory = callerSpectrum.hotMemory
        memory.add(self)
        memory.add(callerBlock, bytes: PowerSpectrum.size * MemoryLayout<Int16>.stride)
        return memory
    }

    /// Back to the state of a new call (nothing learnt). Realtime-safe.
    public func reset() {
        isSpeaking = false
        agentTalking = false
        lastHopConfirming = false
        lastSNR = 0
        lastPeriodicity = 0
        lastTonality = 0
        echoCouplingDecibels = -6
        lastLevelDbfs = -100
        referenceBands = .init(repeating: 0)
        referencePlayed = false
        delayEstimator.reset()
        callerLevel = -100
        callerLevelHops = 0
        recentSNR = .init(repeating: 0)
        backgroundLevel = nil
        recentLevels = .init(repeating: -100)
        hopsWithoutSpeech = 0
        callerBlock.update(repeating: 0, count: PowerSpectrum.size)
        referenceBlock.update(repeating: 0, count: PowerSpectrum.size)
        referenceHistory.update(repeating: 0, count: PowerSpectrum.bins * Self.referenceHops)
        blockMaxima.update(repeating: 0, count: PowerSpectrum.bins * Self.blocks)
        referenceHopCount = 0
        referenceIndex = 0
        silentReferenceHops = 0
        referenceLevels = .init(repeating: 0)
        bandNoise = .init(repeating: 0)
        bandSmoothed = .init(repeating: 0)
        minimumBlock = 0
        backgroundSNR = 1
        backgroundPeakSNR = 2
        hops = 0
        recentSpeechLike = 0
        recentVoiced = 0
    }

    deinit {
        callerBlock.deallocate()
        referenceBlock.deallocate()
        referenceHistory.deallocate()
        blockMaxima.deallocate()
    }

    static func power(decibels: Float) -> Float { Float(exp(Double(decibels) * 0.2302585092994046)) }
    static func decibels(_ power: Float) -> Float { 10 * log10f(max(power, 1e-10)) }

    /// One 20 ms hop: `caller` holds 160 samples; `reference` the 160 samples the caller heard
    /// from the agent at the same time (nil when nothing played). Returns the speech state.
    @discardableResult
    public func process(caller: UnsafeBufferPointer<Int16>, reference: UnsafeBufferPointer<Int16>?) -> Bool {
        // The echo expected in each bin this hop: scratch, on the stack (hot in the cache, where
        // a buffer of the detector's own would be cold at a thousand calls).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: PowerSpectrum.bins) { expectedEcho in
            process(caller: caller, reference: reference, expectedEcho: expectedEcho.baseAddress!)
        }
    }

    private func process(caller: UnsafeBufferPointer<Int16>, reference: UnsafeBufferPointer<Int16>?, expectedEcho: UnsafeMutablePointer<Float>) -> Bool {
        Self.shift(callerBlock, in: caller)
        callerSpectrum.compute(callerBlock)
        let power = callerSpectrum.power
        updateReference(reference, expectedEcho: expectedEcho)

        // Evidence: band SNR against noise + expected echo.
        var bandSNR: InlineArray<16, Float> = .init(repeating: 0)
        var level: Float = 0
        for band in 0..<Self.bandCount {
            var signal: Float = 0, echo: Float = 0
            for bin in Int(bandEdges[band])..<Int(bandEdges[band + 1]) {
                signal += power[bin]
                echo += expectedEcho[bin]
            }
            bandPower[band] = signal
            bandEcho[band] = echo
            level += signal
            bandSNR[band] = min(30, max(0, Self.decibels(signal / max(bandNoise[band] + echo * echoMargin, 1e-3))))
        }
        let snr = Self.meanOfUpperHalf(bandSNR)
        // The window's energy: a full-scale sine gives 256²/8 per bin pair; dBFS relative to that.
        let levelDbfs = Self.decibels(level / (Self.fullScale * Float(PowerSpectrum.size * PowerSpectrum.size) / 8)) + 3
        let tonality = tonalShare(total: level)
        let periodicity = voicing(expectedEcho: expectedEcho)
        lastSNR = snr
        lastPeriodicity = periodicity
        lastTonality = tonality

        // In a call whose background keeps the SNR up (babble, music), the threshold rises with
        // it: a margin above the SNR's running 30th percentile over all hops (callers talk
        // less than 70 % of the time, so that percentile is the background's).
        // And it stays above the background's peaks: the running 90th percentile of the SNR in
        // hops that are not speech.
        // Rings one longer than the longest onset window (64 hops), so the hop that far back is
        // still there.
        recentSNR[hops % 65] = snr
        recentLevels[hops % 65] = levelDbfs
        if hops >= 2 {
            backgroundSNR += 0.1 * (snr < backgroundSNR ? -0.7 : 0.3)
            // The hop one onset window back, if no speech has been heard since.
            if hopsWithoutSpeech > onsetWindow, hops >= onsetWindow {
                let old = recentSNR[(hops - onsetWindow) % 65]
                backgroundPeakSNR += 0.1 * (old < backgroundPeakSNR ? -0.1 : 0.9)
                let oldLevel = recentLevels[(hops - onsetWindow) % 65]
                if let level = backgroundLevel {
                    backgroundLevel = level + (oldLevel > level ? 0.2 : -0.05)
                } else {
                    backgroundLevel = oldLevel
                }
            }
        }
        let adaptive = max(settings.thresholdDecibels, backgroundSNR + settings.backgroundMarginDecibels, backgroundPeakSNR)
        let threshold = adaptive + (agentTalking ? settings.agentTalkingExtraDecibels : 0)
        let loudEnough = levelDbfs > settings.minimumLevelDbfs
            && levelDbfs > (backgroundLevel ?? -.greatestFiniteMagnitude) + settings.backgroundLevelMarginDecibels
        let speechLike = hops >= 2 && loudEnough && snr > threshold && tonality < settings.tonalityThreshold
        let voiced = speechLike && periodicity > settings.voicingThreshold
        lastLevelDbfs = levelDbfs
        lastHopSpeechLike = speechLike
        lastHopVoiced = voiced
        recentSpeechLike = recentSpeechLike << 1 | (speechLike ? 1 : 0)
        recentVoiced = recentVoiced << 1 | (voiced ? 1 : 0)

        if isSpeaking {
            if recentSpeechLike & ((1 << hangoverHops) - 1) == 0 { isSpeaking = false }
        } else {
            let window: UInt64 = onsetWindow == 64 ? .max : (1 << onsetWindow) - 1
            if speechLike, (recentSpeechLike & window).nonzeroBitCount >= onsetSpeechLike, (recentVoiced & window).nonzeroBitCount >= onsetVoiced {
                isSpeaking = true
            }
        }
        hopsWithoutSpeech = isSpeaking ? 0 : hopsWithoutSpeech + 1
        lastHopConfirming = voiced && isForeground(levelDbfs)
            && levelDbfs > (backgroundLevel ?? -.greatestFiniteMagnitude) + settings.confirmationLevelMarginDecibels
        learnCallerLevel(levelDbfs)
        delayEstimator.update(callerBands: bandPower, referenceBands: referenceBands, referencePlayed: referencePlayed,
                              callerTalking: isSpeaking || speechLike)
        updateNoise()
        learnEchoCoupling(callerLevel: level)
        hops += 1
        return isSpeaking
    }

    /// The mean of the larger half of the band SNRs: speech fills some bands, not all (its
    /// spectrum falls with frequency; noise often does not), so the best half says more.
    private static func meanOfUpperHalf(_ values: InlineArray<16, Float>) -> Float {
        var sorted = values
        for i in 1..<16 {  // insertion sort, descending: 16 values
            let value = sorted[i]
            var j = i - 1
            while j >= 0 && sorted[j] < value { sorted[j + 1] = sorted[j]; j -= 1 }
            sorted[j + 1] = value
        }
        var sum: Float = 0
        for i in 0..<8 { sum += sorted[i] }
        return sum / 8
    }

    /// Moves the block 160 samples on and appends the new hop (missing samples count as silence).
    private static func shift(_ block: UnsafeMutablePointer<Int16>, in samples: UnsafeBufferPointer<Int16>?) {
        let keep = PowerSpectrum.size - hopSamples
        block.update(from: block + hopSamples, count: keep)
        let newest = block + keep
        let given = min(samples?.count ?? 0, hopSamples)
        if let source = samples?.baseAddress { newest.update(from: source, count: given) }
        (newest + given).update(repeating: 0, count: hopSamples - given)
    }

    /// target[i] = max(target[i], source[i]) for every bin. (Written as the compare-and-select
    /// x86's maxps is, so the loop vectorises; SIMD's pointwiseMax did not, at 5× the cost.)
    private static func raiseToMaximum(_ target: UnsafeMutablePointer<Float>, of source: UnsafePointer<Float>) {
        for bin in 0..<PowerSpectrum.bins {
            let candidate = source[bin], current = target[bin]
            target[bin] = candidate > current ? candidate : current
        }
    }

    /// Takes the hop's reference into the history and fills `expectedEcho` (`bins` values).
    private func updateReference(_ reference: UnsafeBufferPointer<Int16>?, expectedEcho: UnsafeMutablePointer<Float>) {
        referenceIndex = (referenceIndex + 1) % Self.referenceHops
        expectedEcho.update(repeating: 0, count: PowerSpectrum.bins)
        var played = false
        if let reference { for sample in reference where sample != 0 { played = true; break } }
        silentReferenceHops = played ? 0 : silentReferenceHops + 1
        if silentReferenceHops > Self.settledSilentHops {
            referenceHopCount += 1
            return
        }
        let row = referenceHistory + referenceIndex * PowerSpectrum.bins
        var energy: Float = 0
        if played || referenceLevels[(referenceIndex + Self.referenceHops - 1) % Self.referenceHops] > 0 {
            Self.shift(referenceBlock, in: reference)
            PowerSpectrum.compute(referenceBlock, into: row)
            for bin in Self.lowBin...Self.highBin { energy += row[bin] }
        } else {
            Self.shift(referenceBlock, in: nil)
            row.update(repeating: 0, count: PowerSpectrum.bins)
        }
        referenceLevels[referenceIndex] = energy
        referencePlayed = energy > 0
        let block = blockMaxima + (referenceHopCount / Self.blockHops % Self.blocks) * PowerSpectrum.bins
        if referenceHopCount % Self.blockHops == 0 {
            block.update(from: row, count: PowerSpectrum.bins)
        } else {
            Self.raiseToMaximum(block, of: row)
        }
        referenceHopCount += 1
        for band in 0..<Self.bandCount {
            var sum: Float = 0
            for bin in Int(bandEdges[band])..<Int(bandEdges[band + 1]) { sum += row[bin] }
            referenceBands[band] = sum
        }
        // The hops whose reference can be in the caller channel now: around the echo's delay
        // once it is known, else all of the last 800 ms (for the expected echo, the blocks: up
        // to 960 ms).
        let (first, last) = echoWindow
        var loudest: Float = 0
        for back in first...last { loudest = max(loudest, referenceLevels[(referenceIndex - back + Self.referenceHops) % Self.referenceHops]) }
        agentTalking = loudest > 0
        // Row by row (contiguous, so the maxima vectorise).
        guard agentTalking else { return }
        if delayEstimator.delayHops == nil {
            for block in 0..<Self.blocks { Self.raiseToMaximum(expectedEcho, of: blockMaxima + block * PowerSpectrum.bins) }
        } else {
            for back in first...last {
                let hop = (referenceIndex - back + Self.referenceHops) % Self.referenceHops
                guard referenceLevels[hop] > 0 else { continue }
                Self.raiseToMaximum(expectedEcho, of: referenceHistory + hop * PowerSpectrum.bins)
            }
        }
        let coupling = Self.power(decibels: echoCouplingDecibels)
        for bin in 0..<PowerSpectrum.bins { expectedEcho[bin] *= coupling }
    }

    /// Hops back (first…last) whose reference may be heard as echo now.
    private var echoWindow: (Int, Int) {
        guard let delay = delayEstimator.delayHops else { return (0, Self.referenceHops - 1) }
        return (max(0, delay - 1), min(Self.referenceHops - 1, delay + 2))
    }

    /// Whether a hop at this level can be the caller's own voice: within the margin of their
    /// speech level once that is known (until then, any level can).
    private func isForeground(_ levelDbfs: Float) -> Bool {
        guard let callerLevel = callerLevelDbfs else { return true }
        return levelDbfs >= callerLevel - settings.foregroundMarginDecibels
    }

    /// The caller's speech level: the running 80th percentile of the level of speech hops
    /// heard while the agent is silent (no echo to mistake for the caller).
    private func learnCallerLevel(_ levelDbfs: Float) {
        guard isSpeaking, !agentTalking, levelDbfs > settings.minimumLevelDbfs else { return }
        if callerLevelHops == 0 {
            callerLevel = levelDbfs
        } else {
            // Five times faster over the first half second of speech, so it is soon near.
            let step: Float = callerLevelHops < 25 ? 2 : 0.4
            callerLevel += levelDbfs > callerLevel ? step : -step / 4
        }
        callerLevelHops += 1
    }

    /// The caller/reference level ratio while the agent talks and the caller does not, tracked
    /// as a running median (±0.5 dB a hop), once the agent has talked for the whole 160 ms window
    /// (before that its echo may not be back yet). A line with little echo leaves the cautious
    /// −6 dB start in a second or two of agent speech; until then only a caller clearly louder
    /// than the agent barges in. (A faster or lower estimate let real line echo through.)
    private func learnEchoCoupling(callerLevel: Float) {
        guard agentTalking, !isSpeaking else { return }
        let (first, last) = echoWindow
        let needed = delayEstimator.delayHops == nil ? Self.recentHops - 1 : last
        var loudest: Float = 0
        for back in 0...max(last, needed) {
            let level = referenceLevels[(referenceIndex - back + Self.referenceHops) % Self.referenceHops]
            // Only once the agent has talked for the whole window: its echo is surely back.
            if back <= needed { guard level > 0 else { return } }
            if back >= first && back <= last { loudest = max(loudest, level) }
        }
        guard loudest > minimumLevel * Float(PowerSpectrum.size * PowerSpectrum.size) / 8 else { return }
        let ratio = Self.decibels(callerLevel / loudest)
        echoCouplingDecibels = min(0, max(-60, echoCouplingDecibels + (ratio > echoCouplingDecibels ? 0.5 : -0.5)))
    }

    /// Noise floor per band by minimum statistics: the smallest band power (smoothed over
    /// hops) of the last 1.6 s, in four 0.4 s blocks, raised 3 dB for the minimum's bias. Speech
    /// always has quieter moments within 1.6 s, so it cannot lift the floor; babble or music that
    /// never pauses becomes the floor within 1.6 s. For the call's first 0.4 s the floor is at
    /// most a quiet line's (−40 dBFS over the band), so a caller who talks from the first hop
    /// is heard; a call that starts in louder noise has learnt it 0.4 s in.
    private func updateNoise() {
        let blockHops = 20
        let startsBlock = hops % blockHops == 0
        if startsBlock { minimumBlock = (minimumBlock + 1) % 4 }
        if hops == 0 { blockMinima = .init(repeating: .greatestFiniteMagnitude) }
        for band in 0..<Self.bandCount {
            let heard = max(0, bandPower[band] - bandEcho[band])  // echo is not noise
            bandSmoothed[band] = hops == 0 ? heard : 0.6 * bandSmoothed[band] + 0.4 * heard
            let slot = minimumBlock * Self.bandCount + band
            blockMinima[slot] = startsBlock ? bandSmoothed[band] : min(blockMinima[slot], bandSmoothed[band])
            var floor = blockMinima[band]
            for block in 1..<4 { floor = min(floor, blockMinima[block * Self.bandCount + band]) }
            if hops < blockHops { floor = min(floor, Self.quietLineBandPower) }
            bandNoise[band] = max(floor * 2, 1e-2)
        }
    }

    /// The share of the band's energy in the strongest peak of each keypad-tone group (697–941
    /// and 1209–1633 Hz, each peak with its neighbours): near 1 for a DTMF digit, well below for
    /// speech, whose harmonics spread over the band.
    private func tonalShare(total: Float) -> Float {
        guard total > 0 else { return 0 }
        let power = callerSpectrum.power
        func strongestPeak(_ bins: ClosedRange<Int>) -> Float {
            var best: Float = 0
            for bin in bins { best = max(best, power[bin - 1] + power[bin] + power[bin + 1]) }
            return best
        }
        return (strongestPeak(21...31) + strongestPeak(38...53)) / total
    }

    /// Normalised autocorrelation peak at pitch lags, of the 100–2000 Hz spectrum with the
    /// expected echo taken off (the agent's own voice does not count as a voiced caller).
    /// Noise lowers it, as it should: a voice deep in noise is less evidently a voice.
    private func voicing(expectedEcho: UnsafePointer<Float>) -> Float {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: Self.paddedPitchBins) { cleaned in
            voicing(expectedEcho: expectedEcho, cleaned: cleaned.baseAddress!)
        }
    }

    /// The same, with scratch for the cleaned spectrum (`paddedPitchBins` values).
    private func voicing(expectedEcho: UnsafePointer<Float>, cleaned: UnsafeMutablePointer<Float>) -> Float {
        let power = callerSpectrum.power
        var zero: Float = 0
        for bin in 0..<Self.pitchBins {
            let value = bin < 3 ? 0 : max(0, power[bin] - expectedEcho[bin] * echoMargin)
            cleaned[bin] = value
            zero += value
        }
        (cleaned + Self.pitchBins).update(repeating: 0, count: Self.paddedPitchBins - Self.pitchBins)  // the padding
        guard zero > 0 else { return 0 }
        var best: Float = 0
        Self.cosineTable.withUnsafeBufferPointer { table in
            Self.windowCorrection.withUnsafeBufferPointer { correction in
                for index in 0..<Self.lags.count {
                    // Eight bins at a time (the hot loop: 48 lags × 72 bins per hop).
                    let row = UnsafeRawPointer(table.baseAddress! + index * Self.paddedPitchBins)
                    let values = UnsafeRawPointer(cleaned)
                    var sum = SIMD8<Float>()
                    for chunk in 0..<(Self.paddedPitchBins / 8) {
                        let offset = chunk * MemoryLayout<SIMD8<Float>>.size
                        sum += values.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * row.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                    }
                    best = max(best, sum.sum() * correction[index])
                }
            }
        }
        return min(1, best / zero)
    }
}
