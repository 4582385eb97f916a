// SPDX-License-Identifier: MIT
// The C ABI: G.711 buffer conversions. Realtime-safe.
import AudioBridgeCore
import CAudioBridgeABI

/// Wraps a host buffer of `count` elements; nil when the pointer is NULL with a non-zero count
/// or the count does not fit a Swift Int.
@inline(__always)
func hostBuffer<T>(_ pointer: UnsafePointer<T>?, _ count: Int) -> UnsafeBufferPointer<T>? {
    guard count >= 0, pointer != nil || count == 0 else { return nil }
    return UnsafeBufferPointer(start: count == 0 ? nil : pointer, count: count)
}

@inline(__always)
func hostBuffer<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> UnsafeMutableBufferPointer<T>? {
    guard count >= 0, pointer != nil || count == 0 else { return nil }
    return UnsafeMutableBufferPointer(start: count == 0 ? nil : pointer, count: count)
}

/// Runs one buffer conversion after validating both host buffers.
@inline(__always)
func convert<In, Out>(
    _ input: UnsafePointer<In>?, _ count: Int, _ output: UnsafeMutablePointer<Out>?,
    _ conversion: (UnsafeBufferPointer<In>, UnsafeMutableBufferPointer<Out>) -> Int
) -> Int32 {
    guard let source = hostBuffer(input, count), let destination = hostBuffer(output, count) else {
        return AudioBridgeError.invalidArgument.code
    }
    _ = conversion(source, destination)
    return AudioBridgeStatus.ok
}

// `size_t` arrives as Int: a count above Int.max shows up negative and is rejected.

@_cdecl("ab_ulaw_encode")
public func ab_ulaw_encode(_ input: UnsafePointer<Int16>?, _ count: Int, _ output: UnsafeMutablePointer<UInt8>?) -> Int32 {
    convert(input, count, output, ULaw.encode)
}

@_cdecl("ab_ulaw_decode")
public func ab_ulaw_decode(_ input: UnsafePointer<UInt8>?, _ count: Int, _ output: UnsafeMutablePointer<Int16>?) -> Int32 {
    convert(input, count, output, ULaw.decode)
}

@_cdecl("ab_alaw_encode")
public func ab_alaw_encode(_ input: UnsafePointer<Int16>?, _ count: Int, _ output: UnsafeMutablePointer<UInt8>?) -> Int32 {
    convert(input, count, output, ALaw.encode)
}

@_cdecl("ab_alaw_decode")
public func ab_alaw_decode(_ input: UnsafePointer<UInt8>?, _ count: Int, _ output: UnsafeMutablePointer<Int16>?) -> Int32 {
    convert(input, count, output, ALaw.decode)
}

@_cdecl("ab_ulaw_to_alaw")
public func ab_ulaw_to_alaw(_ input: UnsafePointer<UInt8>?, _ count: Int, _ output: UnsafeMutablePointer<UInt8>?) -> Int32 {
    convert(input, count, output, ULaw.transcodeToALaw)
}

@_cdecl("ab_alaw_to_ulaw")
public func ab_alaw_to_ulaw(_ input: UnsafePointer<UInt8>?, _ count: Int, _ output: UnsafeMutablePointer<UInt8>?) -> Int32 {
    convert(input, count, output, ALaw.transcodeToULaw)
}
