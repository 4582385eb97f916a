// SPDX-License-Identifier: MIT
// The power spectrum of a Hann-windowed 256-sample block (32 ms at 8 kHz): 129 bins, 31.25 Hz
// apart. A real FFT done as a 128-point complex radix-2 FFT of the even/odd samples plus the
// usual split step. The window and twiddle tables are shared by every instance (made once per
// process); each instance's buffers are made at creation, so `compute` is realtime-safe (no
// allocation, no locks, no calls out).
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
        /// cos/sin of 2πk/256 for k < 128 (the split step and, at even k, the 128-point FFT).
        let cosine: UnsafeMutablePointer<Float>
        let sine: UnsafeMutablePointer<Float>
        let bitReversed: UnsafeMutablePointer<Int>

        static func make() -> Tables {
            let tables = Tables(window: .allocate(capacity: size), cosine: .allocate(capacity: half), sine: .allocate(capacity: half),
                                bitReversed: .allocate(capacity: half))
            for n in 0..<size { tables.window[n] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(size))) }
            for k in 0..<half {
                tables.cosine[k] = Float(cos(2 * Double.pi * Double(k) / Double(size)))
                tables.sine[k] = Float(sin(2 * Double.pi * Double(k) / Double(size)))
                var reversed = 0
                for bit in 0..<7 where k & (1 << bit) != 0 { reversed |= 1 << (6 - bit) }
                tables.bitReversed[k] = reversed
            }
            return tables
        }
    }

    /// Made on first use, kept for the process's life.
    private static let tables = Tables.make()
    private let window: UnsafeMutablePointer<Float>
    private let cosine: UnsafeMutablePointer<Float>
    private let sine: UnsafeMutablePointer<Float>
    private let bitReversed: UnsafeMutablePointer<Int>
    private let real: UnsafeMutablePointer<Float>
    private let imaginary: UnsafeMutablePointer<Float>
    /// The result of the last `compute`: |X[k]|² for k = 0…128.
    public let power: UnsafeMutablePointer<Float>

    public init() {
        let tables = Self.tables
        window = tables.window
        cosine = tables.cosine
        sine = tables.sine
        bitReversed = tables.bitReversed
        real = .allocate(capacity: Self.half)
        imaginary = .allocate(capacity: Self.half)
        power = .allocate(capacity: Self.bins)
        power.initialize(repeating: 0, count: Self.bins)
        real.initialize(repeating: 0, count: Self.half)
        imaginary.initialize(repeating: 0, count: Self.half)
    }

    deinit {
        real.deallocate()
        imaginary.deallocate()
        power.deallocate()
    }

    /// The window's autocorrelation at `lag`, normalised to 1 at lag 0: what windowing alone
    /// takes off a periodic signal's autocorrelation there.
    public func windowAutocorrelation(lag: Int) -> Float {
        var atLag: Float = 0, atZero: Float = 0
        for n in 0..<Self.size {
            atZero += window[n] * window[n]
            if n + lag < Self.size { atLag += window[n] * window[n + lag] }
        }
        return atLag / atZero
    }

    /// Windows `block` (exactly 256 samples, oldest first) and fills `power`.
    public func compute(_ block: UnsafePointer<Float>) {
        // Digital silence (a muted line, a PBX sending zeros between words) has no power in any
        // bin: the same result as the transform, without it. The scan stops at the first sound.
        var silent = true
        for i in 0..<Self.size where block[i] != 0 {
            silent = false
            break
        }
        if silent {
            power.update(repeating: 0, count: Self.bins)
            return
        }
        // Even samples into the real part, odd into the imaginary part, in bit-reversed order.
        for k in 0..<Self.half {
            let source = bitReversed[k]
            real[k] = block[2 * source] * window[2 * source]
            imaginary[k] = block[2 * source + 1] * window[2 * source + 1]
        }
        // 128-point radix-2 butterflies; the twiddle for span s at j is e^{-2πi j/(2s)}.
        var span = 1
        while span < Self.half {
            let stride = Self.half / span  // index step into the 256-point tables
            var start = 0
            while start < Self.half {
                for j in 0..<span {
                    let c = cosine[j * stride], s = sine[j * stride]
                    let a = start + j, b = a + span
                    let tr = real[b] * c + imaginary[b] * s
                    let ti = imaginary[b] * c - real[b] * s
                    real[b] = real[a] - tr
                    imaginary[b] = imaginary[a] - ti
                    real[a] += tr
                    imaginary[a] += ti
                }
                start += 2 * span
            }
            span *= 2
        }
        // Split: X[k] = (Z[k] + Z*[N/2−k])/2 − i/2 · e^{-2πik/N} (Z[k] − Z*[N/2−k]).
        power[0] = (real[0] + imaginary[0]) * (real[0] + imaginary[0])
        power[Self.half] = (real[0] - imaginary[0]) * (real[0] - imaginary[0])
        for k in 1..<Self.half {
            let mirror = Self.half - k
            let evenReal = 0.5 * (real[k] + real[mirror]), evenImaginary = 0.5 * (imaginary[k] - imaginary[mirror])
            let oddReal = 0.5 * (imaginary[k] + imaginary[mirror]), oddImaginary = -0.5 * (real[k] - real[mirror])
            let c = cosine[k], s = sine[k]
            let xr = evenReal + oddReal * c + oddImaginary * s
            let xi = evenImaginary + oddImaginary * c - oddReal * s
            power[k] = xr * xr + xi * xi
        }
    }
}
