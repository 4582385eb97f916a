// SPDX-License-Identifier: MIT
// The header's rule for structs that grow (include/audiobridge.h, "How structs grow"), in one
// place: structs the host fills in are read at any size this library has known; structs the
// library fills in are written up to the size the host passed.
import AudioBridgeCore
import CAudioBridgeABI

/// A host-filled struct that starts with `struct_size` and `abi_version`, as this version's
/// struct: an older, smaller one is copied over `defaults`, so the fields it lacks keep their
/// default values. Any other size, or another ABI, is `.abiMismatch` (and logged with the sizes
/// this library takes). Control thread.
func readVersioned<T>(_ pointer: UnsafePointer<T>, as name: StaticString, acceptedSizes: [Int], defaults: T) throws(AudioBridgeError) -> T {
    // The two leading fields are read as raw bytes: an older struct may be smaller than T.
    let raw = UnsafeRawPointer(pointer)
    let size = Int(raw.load(as: UInt32.self))
    let abi = raw.load(fromByteOffset: 4, as: UInt32.self)
    guard abi == UInt32(AB_ABI_VERSION), acceptedSizes.contains(size), size <= MemoryLayout<T>.size else {
        LibraryLog.emit(.error, "\(name): struct_size \(size), abi_version \(abi); this library takes abi_version \(AB_ABI_VERSION) with struct_size \(acceptedSizes.map(String.init).joined(separator: ", ")) (set both with the *_config_init function)")
        throw .abiMismatch
    }
    var full = defaults
    withUnsafeMutableBytes(of: &full) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: size)) }
    return full
}

/// Writes a library-filled struct whose first field is `struct_size`, set by the host: any
/// size of at least `firstVersionSize` is taken, the bytes that fit are written and
/// `struct_size` becomes the count written. Realtime-safe (no allocation, no logging).
@inline(__always)
func writeGrowable<T>(_ value: T, to destination: UnsafeMutablePointer<T>, firstVersionSize: Int) -> Int32 {
    // Read through raw bytes: the host's struct may be smaller or larger than ours.
    let raw = UnsafeMutableRawPointer(destination)
    let size = Int(raw.load(as: UInt32.self))
    guard size >= firstVersionSize else { return AudioBridgeError.abiMismatch.code }
    let written = min(size, MemoryLayout<T>.size)
    var copy = value
    withUnsafeBytes(of: &copy) { raw.copyMemory(from: $0.baseAddress!, byteCount: written) }
    raw.storeBytes(of: UInt32(written), as: UInt32.self)
    return AudioBridgeStatus.ok
}
