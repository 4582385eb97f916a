// SPDX-License-Identifier: MIT
import AudioBridgeCore
import Testing

/// Every linear input and every code, against the ITU-T G.191 vectors.
struct G711Tests {
    static let allSamples: [Int16] = (0...0xFFFF).map { Int16(bitPattern: UInt16($0)) }
    static let allCodes: [UInt8] = (0...255).map { UInt8($0) }

    @Test func ulawEncodesAll65536SamplesLikeTheVectors() throws {
        let expected = try TestData.g711EncodeVector("ulaw")
        #expect(Self.allSamples.map(ULaw.encode) == expected)
        #expect(encodeBuffer(ULaw.encode) == expected)
    }

    @Test func alawEncodesAll65536SamplesLikeTheVectors() throws {
        let expected = try TestData.g711EncodeVector("alaw")
        #expect(Self.allSamples.map(ALaw.encode) == expected)
        #expect(encodeBuffer(ALaw.encode) == expected)
    }

    @Test func ulawDecodesAll256CodesLikeTheVectors() throws {
        let expected = try TestData.g711DecodeVector("ulaw")
        #expect(Self.allCodes.map(ULaw.decode) == expected)
        #expect(decodeBuffer(ULaw.decode) == expected)
    }

    @Test func alawDecodesAll256CodesLikeTheVectors() throws {
        let expected = try TestData.g711DecodeVector("alaw")
        #expect(Self.allCodes.map(ALaw.decode) == expected)
        #expect(decodeBuffer(ALaw.decode) == expected)
    }

    @Test func transcodingEqualsDecodeThenEncodeUnderTheVectors() throws {
        let ulawDecode = try TestData.g711DecodeVector("ulaw"), alawDecode = try TestData.g711DecodeVector("alaw")
        let ulawEncode = try TestData.g711EncodeVector("ulaw"), alawEncode = try TestData.g711EncodeVector("alaw")
        func vectorEncode(_ table: [UInt8], _ sample: Int16) -> UInt8 { table[Int(UInt16(bitPattern: sample))] }
        let ulawToALaw = Self.allCodes.map { vectorEncode(alawEncode, ulawDecode[Int($0)]) }
        let alawToULaw = Self.allCodes.map { vectorEncode(ulawEncode, alawDecode[Int($0)]) }
        #expect(transcode(ULaw.transcodeToALaw) == ulawToALaw)
        #expect(transcode(ALaw.transcodeToULaw) == alawToULaw)
    }

    @Test func documentedConventionsHold() {
        #expect(ULaw.encode(0) == 0xFF && ULaw.encode(-1) == 0x7F && ULaw.encode(1000) == 0xCE)
        #expect(ALaw.encode(0) == 0xD5 && ALaw.encode(-1) == 0x55 && ALaw.encode(1000) == 0xFA)
        #expect(ULaw.decode(0x80) == 32124 && ULaw.decode(0x00) == -32124)
        #expect(ALaw.decode(0xAA) == 32256 && ALaw.decode(0x2A) == -32256)
    }

    @Test func reEncodingADecodedCodeGivesItBackExceptNegativeZero() {
        for code in Self.allCodes {
            #expect(ALaw.encode(ALaw.decode(code)) == code)
            #expect(ULaw.encode(ULaw.decode(code)) == (code == 0x7F ? 0xFF : code))
        }
    }

    @Test func buffersConvertOnlyWhatFitsTheShorterSide() {
        let input: [Int16] = [0, 1000, -1000, 32767]
        var output = [UInt8](repeating: 0xAB, count: 3)
        let written = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { ULaw.encode(source, into: $0) }
        }
        #expect(written == 3)
        #expect(output == [0xFF, 0xCE, 0x4E])
        let none = output.withUnsafeMutableBufferPointer { ULaw.encode(UnsafeBufferPointer(start: nil, count: 0), into: $0) }
        #expect(none == 0)
    }

    private func encodeBuffer(_ encode: (UnsafeBufferPointer<Int16>, UnsafeMutableBufferPointer<UInt8>) -> Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.allSamples.count)
        let n = Self.allSamples.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { encode(s, $0) } }
        #expect(n == out.count)
        return out
    }

    private func decodeBuffer(_ decode: (UnsafeBufferPointer<UInt8>, UnsafeMutableBufferPointer<Int16>) -> Int) -> [Int16] {
        var out = [Int16](repeating: 0, count: 256)
        let n = Self.allCodes.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { decode(s, $0) } }
        #expect(n == 256)
        return out
    }

    private func transcode(_ convert: (UnsafeBufferPointer<UInt8>, UnsafeMutableBufferPointer<UInt8>) -> Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 256)
        let n = Self.allCodes.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { convert(s, $0) } }
        #expect(n == 256)
        return out
    }
}
