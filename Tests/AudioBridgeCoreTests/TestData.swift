// SPDX-License-Identifier: MIT
import Foundation

/// Files under Tests/, found from this source file's location so tests run from any directory.
enum TestData {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: testsDirectory.appendingPathComponent(relativePath)))
    }

    /// The G.711 reference vectors (ITU-T G.191), see Tests/Vectors/g711/README.md.
    static func g711EncodeVector(_ name: String) throws -> [UInt8] {
        let vector = try bytes("Vectors/g711/\(name)_encode.bin")
        precondition(vector.count == 65536, "\(name)_encode.bin must hold 65,536 codes")
        return vector
    }

    static func g711DecodeVector(_ name: String) throws -> [Int16] {
        let raw = try bytes("Vectors/g711/\(name)_decode.bin")
        precondition(raw.count == 512, "\(name)_decode.bin must hold 256 int16")
        return (0..<256).map { Int16(bitPattern: UInt16(raw[2 * $0]) | UInt16(raw[2 * $0 + 1]) << 8) }
    }
}
