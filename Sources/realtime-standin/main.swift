// SPDX-License-Identifier: MIT
// The Realtime model stand-in as a process, for demos and the Python end-to-end tests:
//
//   realtime-standin [--port N] [--reply-ms MS] [--events FILE] [--cert PEM --key PEM]
//                    [--drop-after-first-answer-ms MS] [--tool-call NAME:JSON]...
//
// prints "realtime-standin listening on ws://127.0.0.1:PORT/v1/realtime" (wss:// with a
// certificate and key), replies MS ms of its voiced signal after each caller turn (default
// 1000), and appends every client event it receives to FILE as one JSON line (audio payloads
// replaced by their decoded length), each upgrade request's target (path and query) and headers as a line of type
// "_upgrade". With --drop-after-first-answer-ms the first connection is closed (no close frame)
// that long after its first reply was sent whole. Each --tool-call makes the next reply end with
// a call of that function (the first --tool-call in reply 1, and so on).
import AudioBridgeCore
import AudioBridgeModelStandIn
import AudioBridgeProtocols
import Foundation

func value(of flag: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("realtime-standin: \(message)\n".utf8))
    exit(2)
}

func number(_ flag: String) -> Int? {
    guard let text = value(of: flag) else { return nil }
    guard let number = Int(text) else { fail("\(flag) takes a number") }
    return number
}

/// The event as logged: an append's audio becomes "audio_bytes": N.
func loggable(_ event: JSONValue) -> JSONValue {
    guard case .object(let members) = event, event["type"]?.string == "input_audio_buffer.append" else { return event }
    let bytes = (try? Base64.decode(event["audio"]?.string ?? ""))?.count ?? -1
    return .object(members.filter { $0.0 != "audio" } + [("audio_bytes", .number(String(bytes)))])
}

var options = RealtimeModelStandIn.Options()
options.replyMilliseconds = number("--reply-ms") ?? 1000
options.dropAfterFirstAnswerMilliseconds = number("--drop-after-first-answer-ms")
for (index, argument) in CommandLine.arguments.enumerated() where argument == "--tool-call" && index + 1 < CommandLine.arguments.count {
    let text = CommandLine.arguments[index + 1]
    guard let colon = text.firstIndex(of: ":") else { fail("--tool-call takes NAME:JSON") }
    options.toolCalls.append((String(text[..<colon]), String(text[text.index(after: colon)...])))
}
if let certificate = value(of: "--cert"), let key = value(of: "--key") {
    guard let certificatePEM = FileManager.default.contents(atPath: certificate), let keyPEM = FileManager.default.contents(atPath: key) else {
        fail("cannot read \(certificate) or \(key)")
    }
    options.certificatePEM = Array(certificatePEM)
    options.keyPEM = Array(keyPEM)
}
if let path = value(of: "--events") {
    guard FileManager.default.createFile(atPath: path, contents: nil), let log = FileHandle(forWritingAtPath: path) else { fail("cannot write \(path)") }
    options.onEvent = { connection, event in
        // The stand-in's one thread calls this; each line is written whole.
        let line = JSONValue.object([("connection", .number(String(connection))), ("event", loggable(event))]).jsonText + "\n"
        log.write(Data(line.utf8))
    }
    options.onUpgrade = { target, headers in
        let fields = JSONValue.object(headers.map { ($0.0.lowercased(), .string($0.1)) })
        let event = JSONValue.object([("type", "_upgrade"), ("target", .string(target)), ("headers", fields)])
        log.write(Data((JSONValue.object([("connection", -1), ("event", event)]).jsonText + "\n").utf8))
    }
}
let standIn = try await RealtimeModelStandIn(options: options, port: number("--port") ?? 0)
FileHandle.standardOutput.write(Data("realtime-standin listening on \(standIn.url)\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
