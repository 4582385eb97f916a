// SPDX-License-Identifier: MIT
// The C ABI: ab_resampler, an opaque handle to a retained `Resampler`.
import AudioBridgeCore
import CAudioBridgeABI

/// Borrows the Resampler behind a handle for the duration of `body`, without retain/release.
@inline(__always)
func withResampler(_ handle: OpaquePointer?, _ body: (Resampler) -> Int32) -> Int32 {
    guard let handle else { return AudioBridgeError.invalidArgument.code }
    return Unmanaged<Resampler>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef(body)
}

@_cdecl("ab_resampler_create")
public func ab_resampler_create(_ inputRate: UInt32, _ outputRate: UInt32, _ quality: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return AudioBridgeError.invalidArgument.code }
    out.pointee = nil
    return status { () throws(AudioBridgeError) in
        let resampler = try Resampler(inputRate: Int(inputRate), outputRate: Int(outputRate), quality: Int(quality))
        out.pointee = OpaquePointer(Unmanaged.passRetained(resampler).toOpaque())
    }
}

@_cdecl("ab_resampler_process")
public func ab_resampler_process(
    _ handle: OpaquePointer?, _ input: UnsafePointer<Int16>?, _ inputCount: UnsafeMutablePointer<Int>?,
    _ output: UnsafeMutablePointer<Int16>?, _ outputCount: UnsafeMutablePointer<Int>?
) -> Int32 {
    withResampler(handle) { resampler in
        guard let inputCount, let outputCount,
              let source = hostBuffer(input, inputCount.pointee),
              let destination = hostBuffer(output, outputCount.pointee)
        else { return AudioBridgeError.invalidArgument.code }
        let (consumed, produced) = resampler.process(source, into: destination)
        inputCount.pointee = consumed
        outputCount.pointee = produced
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_resampler_max_output")
public func ab_resampler_max_output(_ handle: OpaquePointer?, _ inputCount: Int, _ outputCount: UnsafeMutablePointer<Int>?) -> Int32 {
    withResampler(handle) { resampler in
        // size_t above Int.max arrives negative; such a count would be clamped to 4 Gi by process.
        guard let outputCount, inputCount >= 0 else { return AudioBridgeError.invalidArgument.code }
        outputCount.pointee = resampler.maximumOutputCount(forInputCount: inputCount)
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_resampler_latency")
public func ab_resampler_latency(_ handle: OpaquePointer?, _ inputLatency: UnsafeMutablePointer<UInt32>?, _ outputLatency: UnsafeMutablePointer<UInt32>?) -> Int32 {
    withResampler(handle) { resampler in
        inputLatency?.pointee = UInt32(clamping: resampler.inputLatency)
        outputLatency?.pointee = UInt32(clamping: resampler.outputLatency)
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_resampler_reset")
public func ab_resampler_reset(_ handle: OpaquePointer?) -> Int32 {
    withResampler(handle) { resampler in
        resampler.reset()
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_resampler_destroy")
public func ab_resampler_destroy(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<Resampler>.fromOpaque(UnsafeRawPointer(handle)).release()
}
