// SPDX-License-Identifier: MIT
// sofia-sip reads a TLS server's certificate from a directory, by fixed names: agent.pem (the
// private key, then the certificate chain) and cafile.pem (the authorities it trusts). The
// operator gives a certificate and a key file (`--sip-tls-cert/--sip-tls-key`), as every other
// server takes them; this makes the directory sofia-sip wants from them — private to us (0700,
// files 0600, under $TMPDIR or /tmp) — and removes it when the server stops.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum SIPTLSDirectoryError: Error, CustomStringConvertible {
    case unreadable(String)
    case notPEM(String)
    case cannotWrite(String)

    var description: String {
        switch self {
        case .unreadable(let path): "cannot read \(path)"
        case .notPEM(let path): "\(path) is not PEM (no -----BEGIN line)"
        case .cannotWrite(let what): "cannot write the TLS directory for sofia-sip: \(what)"
        }
    }
}

final class SIPTLSDirectory: Sendable {
    let path: String

    init(certificateFile: String, keyFile: String) throws(SIPTLSDirectoryError) {
        let certificate = try Self.readPEM(certificateFile)
        let key = try Self.readPEM(keyFile)
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/audiobridge-sip-tls-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .cannotWrite("mkdtemp in \(base) failed (errno \(errno))")
        }
        path = String(cString: made)
        do {
            try Self.write(key + "\n" + certificate, to: "\(path)/agent.pem")
            try Self.write(certificate, to: "\(path)/cafile.pem")
        } catch {
            remove()
            throw error
        }
    }

    func remove() {
        unlink("\(path)/agent.pem")
        unlink("\(path)/cafile.pem")
        rmdir(path)
    }

    private static func readPEM(_ file: String) throws(SIPTLSDirectoryError) -> String {
        guard let handle = fopen(file, "rb") else { throw .unreadable(file) }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, handle)
            if count == 0 { break }
            bytes += chunk.prefix(count)
            guard bytes.count <= 1 << 20 else { throw .notPEM(file) }
        }
        guard ferror(handle) == 0 else { throw .unreadable(file) }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN ") else { throw .notPEM(file) }
        return text
    }

    private static func write(_ text: String, to file: String) throws(SIPTLSDirectoryError) {
        let descriptor = open(file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw .cannotWrite("\(file) (errno \(errno))") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else { throw .cannotWrite("\(file) (errno \(errno))") }
            written += result
        }
    }
}
