// SPDX-License-Identifier: MIT
// The engine's one error vocabulary. Each case maps 1:1 onto a negative C status code
// (`AB_E_*` in include/audiobridge.h); codes are append-only, never renumbered.

/// An error from AudioBridge. `code` is the C ABI status code; `message` the `ab_strerror` text.
public enum AudioBridgeError: Int32, Error, Sendable, CaseIterable {
    case invalidArgument = -1
    case unsupportedSampleRate = -2
    case unsupportedQuality = -3
    case outOfMemory = -4
    case bufferTooSmall = -5
    case internalFailure = -6
    case wrongFrameSize = -7
    case unsupportedCodec = -8
    case invalidFrameDuration = -9
    case abiMismatch = -10
    case invalidState = -11
    case wouldBlock = -12
    case protocolViolation = -13

    /// The C status code (`AB_E_*`), always negative.
    public var code: Int32 { rawValue }

    /// A static, NUL-terminated English description; the same text `ab_strerror` returns.
    public var message: StaticString {
        switch self {
        case .invalidArgument: "invalid argument (NULL pointer, size out of range or bad value)"
        case .unsupportedSampleRate: "unsupported sample rate"
        case .unsupportedQuality: "unsupported resampler quality (use 0 to 10)"
        case .outOfMemory: "out of memory"
        case .bufferTooSmall: "output buffer too small"
        case .internalFailure: "internal failure in a library AudioBridge uses"
        case .wrongFrameSize: "wrong frame size for the session's codec and frame duration"
        case .unsupportedCodec: "unsupported codec or audio format"
        case .invalidFrameDuration: "unsupported frame duration (use 10, 20 or 30 ms)"
        case .abiMismatch: "struct size or ABI version does not match this library"
        case .invalidState: "not allowed in the object's current state"
        case .wouldBlock: "no room now; retry later (back-pressure)"
        case .protocolViolation: "a peer broke its protocol (malformed message or audio)"
        }
    }
}

/// Status codes as the C ABI spells them. `ok` is 0; every error is an `AudioBridgeError`.
public enum AudioBridgeStatus {
    public static let ok: Int32 = 0

    /// The description of any status code, including 0 and codes this version does not know.
    public static func message(for code: Int32) -> StaticString {
        if code == ok { return "ok" }
        return AudioBridgeError(rawValue: code)?.message ?? "unknown status code"
    }
}
