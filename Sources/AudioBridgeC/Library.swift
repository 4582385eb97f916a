// SPDX-License-Identifier: MIT
// The C ABI (include/audiobridge.h): library-level calls. Every function in this target is a
// thin `@_cdecl` shim that validates what the host passed and maps onto the Swift API; nothing
// behind it may trap on host input, because a Swift trap kills the host process.
import AudioBridgeCore
import CAudioBridgeABI

@_cdecl("ab_version")
public func ab_version() -> UInt32 { AudioBridgeVersion.packed }

@_cdecl("ab_version_string")
public func ab_version_string() -> UnsafePointer<CChar> { cString(AudioBridgeVersion.string) }

@_cdecl("ab_abi_version")
public func ab_abi_version() -> Int32 { AudioBridgeVersion.abi }

@_cdecl("ab_strerror")
public func ab_strerror(_ status: Int32) -> UnsafePointer<CChar> { cString(AudioBridgeStatus.message(for: status)) }

/// A string literal's static storage, which the compiler emits NUL-terminated.
func cString(_ string: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(string.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The C status of a media-thread call's result.
@inline(__always)
func status(_ result: Result<Void, AudioBridgeError>) -> Int32 {
    switch result {
    case .success: AudioBridgeStatus.ok
    case .failure(let error): error.code
    }
}

/// The C status of a Swift call that throws (typed: no allocation; control-thread calls).
@inline(__always)
func status(_ body: () throws(AudioBridgeError) -> Void) -> Int32 {
    do throws(AudioBridgeError) {
        try body()
        return AudioBridgeStatus.ok
    } catch {
        return error.code
    }
}
