// SPDX-License-Identifier: MIT

/// The library version and ABI version; include/audiobridge.h repeats them as macros
/// (AB_VERSION_*, AB_ABI_VERSION) and the C test checks that the two agree.
public enum AudioBridgeVersion {
    public static let major: UInt32 = 0
    public static let minor: UInt32 = 1
    public static let patch: UInt32 = 0
    public static let string: StaticString = "0.1.0"
    /// Changes only on an incompatible ABI change (and with it the SONAME).
    public static let abi: Int32 = 1
    public static var packed: UInt32 { major << 16 | minor << 8 | patch }
}
