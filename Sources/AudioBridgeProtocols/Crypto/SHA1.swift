// SPDX-License-Identifier: MIT
// SHA-1 and HMAC-SHA1 (RFC 2104) for the one place a telephony protocol still needs them:
// Twilio's X-Twilio-Signature. From the system's libcrypto, which SRTP links already; not for
// anything new. Tested against the FIPS 180 and RFC 2202 vectors.
import COpenSSLCrypto

public enum SHA1 {
    public static let digestBytes = 20

    public static func hash(_ message: some Collection<UInt8>) -> [UInt8] {
        let bytes = Array(message)
        var digest = [UInt8](repeating: 0, count: digestBytes)
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = COpenSSLCrypto.SHA1(input.baseAddress, input.count, output.baseAddress)
            }
        }
        return digest
    }

    /// HMAC-SHA1(key, message).
    public static func hmac(key: some Collection<UInt8>, message: some Collection<UInt8>) -> [UInt8] {
        let keyBytes = Array(key), messageBytes = Array(message)
        var digest = [UInt8](repeating: 0, count: digestBytes)
        var length: UInt32 = 0
        keyBytes.withUnsafeBufferPointer { keyBuffer in
            messageBytes.withUnsafeBufferPointer { messageBuffer in
                digest.withUnsafeMutableBufferPointer { output in
                    // A zero-length key still needs a non-null pointer.
                    var empty: UInt8 = 0
                    let keyPointer = UnsafeRawPointer(keyBuffer.baseAddress) ?? withUnsafePointer(to: &empty) { UnsafeRawPointer($0) }
                    _ = HMAC(EVP_sha1(), keyPointer, Int32(keyBuffer.count), messageBuffer.baseAddress, messageBuffer.count, output.baseAddress, &length)
                }
            }
        }
        precondition(length == UInt32(digestBytes), "HMAC-SHA1 wrote \(length) bytes")
        return digest
    }
}
