// SPDX-License-Identifier: MIT
// The C ABI: ab_engine.
import AudioBridgeCore
import AudioBridgeTransports
import CAudioBridgeABI

/// What an ab_engine* points at.
final class EngineHandle {
    let engine: Engine
    init(_ engine: Engine) { self.engine = engine }
}

@_cdecl("ab_engine_config_init")
public func abEngineConfigInit(_ config: UnsafeMutablePointer<ab_engine_config>?) -> Int32 {
    guard let config else { return AudioBridgeError.invalidArgument.code }
    config.pointee = ab_engine_config(struct_size: UInt32(MemoryLayout<ab_engine_config>.size), abi_version: UInt32(AB_ABI_VERSION), tick_ms: 5, own_thread: 1)
    return AudioBridgeStatus.ok
}

@_cdecl("ab_engine_create")
public func abEngineCreate(_ config: UnsafePointer<ab_engine_config>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return AudioBridgeError.invalidArgument.code }
    out.pointee = nil
    var settings = ab_engine_config()
    _ = abEngineConfigInit(&settings)
    if let config {
        do throws(AudioBridgeError) {
            settings = try readVersioned(config, as: "ab_engine_config", acceptedSizes: [MemoryLayout<ab_engine_config>.size], defaults: settings)
        } catch {
            return error.code
        }
    }
    let result = status { () throws(AudioBridgeError) in
        let engine = try Engine(tickMilliseconds: Int(settings.tick_ms), ownThread: settings.own_thread != 0)
        out.pointee = OpaquePointer(Unmanaged.passRetained(EngineHandle(engine)).toOpaque())
    }
    if result == AudioBridgeStatus.ok {
        LibraryLog.emit(.info, "engine created: \(settings.own_thread != 0 ? "its own I/O thread" : "serviced by the host"), \(settings.tick_ms) ms tick")
    } else {
        LibraryLog.emit(.error, "ab_engine_create: \(AudioBridgeStatus.message(for: result)) (tick_ms \(settings.tick_ms) must be 1–100)")
    }
    return result
}

@_cdecl("ab_engine_service")
public func abEngineService(_ handle: OpaquePointer?) -> Int32 {
    guard let handle else { return AudioBridgeError.invalidArgument.code }
    Unmanaged<EngineHandle>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef { $0.engine.serviceOnce() }
    return AudioBridgeStatus.ok
}

@_cdecl("ab_engine_destroy")
public func abEngineDestroy(_ handle: OpaquePointer?) {
    guard let handle else { return }
    let engine = Unmanaged<EngineHandle>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
    engine.engine.shutdown()
    LibraryLog.emit(.info, "engine destroyed")
}
