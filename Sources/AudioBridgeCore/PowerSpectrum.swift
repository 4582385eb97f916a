// SPDX-License-Identifier: MIT
// The power spectrum of a Hann-windowed block of 256 PCM16 samples (32 ms at 8 kHz): 129 bins, 31.25 Hz
// apart. A real FFT done as a 128-point complex FFT of the even/odd samples plus the usual split
// step. The detector runs two of these a frame (caller and reference), so it is written for
// speed (a third of the instructions of a plain radix-2 loop: 6,400 a spectrum): the window and bit
// reversal are folded into the first two stages, done as one radix-4 pass without
// multiplications; the other five stages and the split work on four values at once (SIMD4), with
// each stage's twiddles in a contiguous table. The tables are shared by every instance (made once
// per process). The transform's working space (1 KiB) is on the stack: with a thousand calls on a
// core, buffers of each call's own would be cold at every hop, and the stack's are not. So
// `compute` is realtime-safe (no allocation, no locks, no calls out) and, in its static form,
// writes straight into the caller's memory (the detector's reference history).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class PowerSpectrum {
    public static let size = 256
    public static let bins = size / 2 + 1
    private static let half = size / 2

    private struct Tables: @unchecked Sendable {
        // SAFETY: written once, in `make`, before the value is published; read-only after.
        let window: UnsafeMutablePointer<Float>
        /// cos/sin of 2πk/256 for k < 128 (the split step).
        let cosine: UnsafeMutablePointer<Float>
        let sine: UnsafeMutablePointer<Float>
        /// For complex input k (bit-reversed order): the block index of its real part (its
        /// imaginary part is the next sample) and the window at both.
        let source: UnsafeMutablePointer<Int>
        let evenWindow: UnsafeMutablePointer<Float>
        let oddWindow: UnsafeMutablePointer<Float>
        /// The twiddles e^{-2πi j/(2·span)} of the stages with span 4…64, j < span, stage after
        /// stage (at offset span − 4): cos and sin.
        let stageCosine: UnsafeMutablePointer<Float>
        let stageSine: UnsafeMutablePointer<Float>

        static func make() -> Tables {
            let tables = Tables(window: .allocate(capacity: size), cosine: .allocate(capacity: half), sine: .allocate(capacity: half),
                                source: .allocate(capacity: half), evenWindow: .allocate(capacity: half), oddWindow: .allocate(capacity: half),
                                stageCosine: .allocate(capacity: half - 4), stageSine: .allocate(capacity: half - 4))
            for n in 0..<size { tables.window[n] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(size))) }
            for k in 0..<half {
                tables.cosine[k] = Float(cos(2 * Double.pi * Double(k) / Double(size)))
                tables.sine[k] = Float(sin(2 * Double.pi * Double(k) / Double(size)))
                var reversed = 0
                for bit in 0..<7 where k & (1 << bit) != 0 { reversed |= 1 << (6 - bit) }
                tables.source[k] = 2 * reversed
                tables.evenWindow[k] = tables.window[2 * reversed]
                tables.oddWindow[k] = tables.window[2 * reversed + 1]
            }
            var span = 4
            while span < half {
                for j in 0..<span {
                    tables.stageCosine[span - 4 + j] = Float(cos(Double.pi * Double(j) / Double(span)))
                    tables.stageSine[span - 4 + j] = Float(sin(Double.pi * Double(j) / Double(span)))
                }
                span *= 2
            }
            return tables
        }
    }

    /// Made on first use, kept for the process's life.
    private static let tables = Tables.make()
    /// The result of the last `compute`: |X[k]|² for k = 0…128.
    public let power: UnsafeMutablePointer<Float>

    public init() {
        _ = Self.tables.window  // made now, not on the media thread
        power = .allocate(capacity: Self.bins)
        power.initialize(repeating: 0, count: Self.bins)
    }

    deinit { power.deallocate() }

    /// What `compute` touches of this instance (the shared tables stay cached, the working space
    /// is on the stack).
    package var hotMemory: HotMemory {
        var memory = HotMemory()
        memory.add(self)
        memory.add(power, bytes: Self.bins * MemoryLayout<Float>.stride)
        return memory
    }

    /// The window's autocorrelation at `lag`, normalised to 1 at lag 0: what windowing alone
    /// takes off a periodic signal's autocorrelation there.
    public static func windowAutocorrelation(lag: Int) -> Float {
        let window = tables.window
        var atLag: Float = 0, atZero: Float = 0
        for n in 0..<Self.size {
            atZero += window[n] * window[n]
            if n + lag < Self.size { atLag += window[n] * window[n + lag] }
        }
        return atLag / atZero
    }

    /// Windows `block` (exactly 256 samples, oldest first) and fills `power`.
    public func compute(_ block: UnsafePointer<Int16>) { Self.compute(block, into: power) }

    /// Windows `block` (exactly 256 samples, oldest first) and writes its power spectrum to
    /// `power` (`bins` values).
    public static func compute(_ block: UnsafePointer<Int16>, into power: UnsafeMutablePointer<Float>) {
        // Digital silence (a muted line, a PBX sending zeros between words) has no power in any
        // bin: the same result as the transform, without it. The scan stops at the first sound.
        var silent = true
        for i in 0..<size where block[i] != 0 {
            silent = false
            break
        }
        if silent {
            power.update(repeating: 0, count: bins)
            return
        }
        // Two 512-byte spaces: each well within what Swift keeps on the stack (1 KiB).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: half) { real in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: half) { imaginary in
                let transform = Transform(tables: tables, real: real.baseAddress!, imaginary: imaginary.baseAddress!)
                transform.firstTwoStages(block)
                transform.laterStages()
                transform.split(into: power)
            }
        }
    }

    /// The 128-point transform over its working space.
    private struct Transform {
        let tables: Tables
        let real: UnsafeMutablePointer<Float>
        let imaginary: UnsafeMutablePointer<Float>

        /// Windowed even samples into the real part, odd into the imaginary part, in bit-reversed
        /// order, through the spans 1 and 2 of the radix-2 transform at once: their twiddles are 1
        /// and −i, so a group of four needs additions only.
        func firstTwoStages(_ block: UnsafePointer<Int16>) {
            let source = tables.source, evenWindow = tables.evenWindow, oddWindow = tables.oddWindow
            var k = 0
            while k < PowerSpectrum.half {
                let r0 = Float(block[source[k]]) * evenWindow[k], i0 = Float(block[source[k] + 1]) * oddWindow[k]
                let r1 = Float(block[source[k + 1]]) * evenWindow[k + 1], i1 = Float(block[source[k + 1] + 1]) * oddWindow[k + 1]
                let r2 = Float(block[source[k + 2]]) * evenWindow[k + 2], i2 = Float(block[source[k + 2] + 1]) * oddWindow[k + 2]
                let r3 = Float(block[source[k + 3]]) * evenWindow[k + 3], i3 = Float(block[source[k + 3] + 1]) * oddWindow[k + 3]
                // Span 1: (0,1) and (2,3). Span 2: (0,2) with twiddle 1, (1,3) with −i.
                let ar0 = r0 + r1, ai0 = i0 + i1, ar1 = r0 - r1, ai1 = i0 - i1
                let ar2 = r2 + r3, ai2 = i2 + i3, ar3 = r2 - r3, ai3 = i2 - i3
                real[k] = ar0 + ar2
                imaginary[k] = ai0 + ai2
                real[k + 2] = ar0 - ar2
                imaginary[k + 2] = ai0 - ai2
                // (ar3 + i·ai3)·(−i) = ai3 − i·ar3
                real[k + 1] = ar1 + ai3
                imaginary[k + 1] = ai1 - ar3
                real[k + 3] = ar1 - ai3
                imaginary[k + 3] = ai1 + ar3
                k += 4
            }
        }

        /// The radix-2 stages with span 4…64, four butterflies at a time; the twiddle for span s at
        /// j is e^{-2πi j/(2s)}.
        func laterStages() {
            var span = 4
            while span < PowerSpectrum.half {
                let cosine = tables.stageCosine + (span - 4), sine = tables.stageSine + (span - 4)
                var start = 0
                while start < PowerSpectrum.half {
                    var j = 0
                    while j < span {
                        let a = start + j, b = a + span
                        let c = Self.load(cosine + j), s = Self.load(sine + j)
                        let br = Self.load(real + b), bi = Self.load(imaginary + b)
                        let tr = br * c + bi * s
                        let ti = bi * c - br * s
                        let ar = Self.load(real + a), ai = Self.load(imaginary + a)
                        Self.store(ar - tr, at: real + b)
                        Self.store(ai - ti, at: imaginary + b)
                        Self.store(ar + tr, at: real + a)
                        Self.store(ai + ti, at: imaginary + a)
                        j += 4
                    }
                    start += 2 * span
                }
                span *= 2
            }
        }

        /// From the 128-point transform Z of the even/odd pairs to the power of the real transform:
        /// X[k] = (Z[k] + Z*[N/2−k])/2 − i/2 · e^{-2πik/N} (Z[k] − Z*[N/2−k]), four bins at a time
        /// (k = 1…124; the mirror bins loaded as four and reversed), the last three one by one.
        func split(into power: UnsafeMutablePointer<Float>) {
            let cosineTable = tables.cosine, sineTable = tables.sine
            power[0] = (real[0] + imaginary[0]) * (real[0] + imaginary[0])
            power[PowerSpectrum.half] = (real[0] - imaginary[0]) * (real[0] - imaginary[0])
            var k = 1
            while k + 3 < PowerSpectrum.half {
                let mirror = PowerSpectrum.half - k - 3  // the four mirror bins, lowest first
                let mr = Self.reversed(Self.load(real + mirror)), mi = Self.reversed(Self.load(imaginary + mirror))
                let kr = Self.load(real + k), ki = Self.load(imaginary + k)
                let evenReal = 0.5 * (kr + mr), evenImaginary = 0.5 * (ki - mi)
                let oddReal = 0.5 * (ki + mi), oddImaginary = -0.5 * (kr - mr)
                let c = Self.load(cosineTable + k), s = Self.load(sineTable + k)
                let xr = evenReal + oddReal * c + oddImaginary * s
                let xi = evenImaginary + oddImaginary * c - oddReal * s
                Self.store(xr * xr + xi * xi, at: power + k)
                k += 4
            }
            while k < PowerSpectrum.half {
                let mirror = PowerSpectrum.half - k
                let evenReal = 0.5 * (real[k] + real[mirror]), evenImaginary = 0.5 * (imaginary[k] - imaginary[mirror])
                let oddReal = 0.5 * (imaginary[k] + imaginary[mirror]), oddImaginary = -0.5 * (real[k] - real[mirror])
                let c = cosineTable[k], s = sineTable[k]
                let xr = evenReal + oddReal * c + oddImaginary * s
                let xi = evenImaginary + oddImaginary * c - oddReal * s
                power[k] = xr * xr + xi * xi
                k += 1
            }
        }

        @inline(__always) private static func load(_ pointer: UnsafePointer<Float>) -> SIMD4<Float> {
            UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Float>.self)
        }

        @inline(__always) private static func load(_ pointer: UnsafeMutablePointer<Float>) -> SIMD4<Float> {
            UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Float>.self)
        }

        @inline(__always) private static func store(_ value: SIMD4<Float>, at pointer: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD4<Float>.self)
        }

        @inline(__always) private static func reversed(_ value: SIMD4<Float>) -> SIMD4<Float> {
            SIMD4(value[3], value[2], value[1], value[0])
        }
    }
}
