// SPDX-License-Identifier: MIT
// Clients in Twilio's role, for the Twilio server tests: a webhook POST, and a Media Streams
// WebSocket that sends `connected`, `start`, then one μ-law `media` message every 20 ms (and
// DTMF), echoes every `mark` at once (our pacer keeps Twilio's buffer about one frame deep, so
// "played" is "received" here), and records the media, marks and clears it gets.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeServer
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

struct TwilioStreamResult: Sendable {
    /// The agent audio received, decoded to 8 kHz PCM.
    var received: [Int16] = []
    var marks: [String] = []
    /// Received-sample positions at which a `clear` arrived.
    var clears: [Int] = []
    var closedByServer = false
    var closeCode: WebSocketErrorCode?
}

enum TwilioTestClient {
    /// POSTs a form to `path` and returns the status and body.
    static func post(port: Int, path: String, form: [(String, String)], signature: String?, group: any EventLoopGroup) async throws -> (Int, String) {
        let body = form.map { "\($0.0)=\(percentEncoded($0.1))" }.joined(separator: "&")
        var request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
        if let signature { request += "X-Twilio-Signature: \(signature)\r\n" }
        request += "\r\n" + body
        let response = group.next().makePromise(of: String.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ResponseCollector(done: response)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var buffer = channel.allocator.buffer(capacity: request.utf8.count)
        buffer.writeString(request)
        try await channel.writeAndFlush(buffer)
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(5)) { response.fail(ChannelError.ioOnClosedChannel) }
        let text = try await response.futureResult.get()
        timeout.cancel()
        try? await channel.close()
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let responseBody = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, responseBody)
    }

    static func percentEncoded(_ text: String) -> String {
        text.utf8.map { byte in
            let unreserved = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "-_.~".utf8.contains(byte)
            return unreserved ? String(UnicodeScalar(byte)) : "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        }.joined()
    }

    /// Collects a response until its Content-Length body is complete.
    final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<String>
        var text = ""
        init(done: EventLoopPromise<String>) { self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
            guard let split = text.range(of: "\r\n\r\n") else { return }
            let length = text[..<split.lowerBound].split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if text[split.upperBound...].utf8.count >= length { done.succeed(text) }
        }
        func channelInactive(context: ChannelHandlerContext) { done.succeed(text) }
    }

    /// Runs one stream: `caller` (8 kHz PCM) is sent as μ-law for `frames` frames, then the
    /// client closes. `rawFirst`, when given, is sent instead of the normal stream (bad peers).
    static func stream(port: Int, streamSid: String, caller: [Int16], frames: Int, dtmf: [Int: String] = [:],
                       parameters: [(String, String)] = [], rawFirst: String? = nil, group: any EventLoopGroup) async throws -> TwilioStreamResult {
        let result = NIOLockedValueBox(TwilioStreamResult())
        let finished = Finish(promise: group.next().makePromise(of: Void.self))
        let upgraded = group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                let upgrader = NIOWebSocketClientUpgrader(requestKey: "dGhlIHNhbXBsZSBub25jZQ==", upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(StreamCollector(streamSid: streamSid, result: result, finished: finished))
                    }
                })
                return channel.pipeline.addHTTPClientHandlers(withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in upgraded.succeed() }))
            }
            .connect(host: "127.0.0.1", port: port).get()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "127.0.0.1:\(port)")
        headers.add(name: "Content-Length", value: "0")
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: TwilioServer.mediaPath, headers: headers)), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        try await upgraded.futureResult.get()

        func send(_ text: String) {
            var buffer = channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer), promise: nil)
        }
        if let rawFirst {
            send(rawFirst)
        } else {
            send(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
            let custom = "{" + parameters.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",") + "}"
            send(#"{"event":"start","sequenceNumber":"1","streamSid":"\#(streamSid)","start":{"streamSid":"\#(streamSid)","accountSid":"AC1","callSid":"CA1","tracks":["inbound"],"customParameters":\#(custom),"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#)
            let startTime = NIODeadline.now()
            for frame in 0..<frames {
                try await Task.sleep(until: .now + .nanoseconds(max(0, (startTime + .milliseconds(20 * Int64(frame)) - .now()).nanoseconds)))
                if let digit = dtmf[frame] {
                    send(#"{"event":"dtmf","streamSid":"\#(streamSid)","sequenceNumber":"\#(frame + 2)","dtmf":{"track":"inbound_track","digit":"\#(digit)"}}"#)
                }
                var pcm = [Int16](repeating: 0, count: 160)
                for i in 0..<160 where frame * 160 + i < caller.count { pcm[i] = caller[frame * 160 + i] }
                var codes = [UInt8](repeating: 0, count: 160)
                pcm.withUnsafeBufferPointer { input in codes.withUnsafeMutableBufferPointer { _ = ULaw.encode(input, into: $0) } }
                send(#"{"event":"media","sequenceNumber":"\#(frame + 2)","streamSid":"\#(streamSid)","media":{"track":"inbound","chunk":"\#(frame + 1)","timestamp":"\#(frame * 20)","payload":"\#(Base64.encode(codes))"}}"#)
            }
            send(#"{"event":"stop","sequenceNumber":"\#(frames + 2)","streamSid":"\#(streamSid)","stop":{"accountSid":"AC1","callSid":"CA1"}}"#)
        }
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(5)) { finished.succeed() }
        try await finished.promise.futureResult.get()
        timeout.cancel()
        try? await channel.close()
        return result.withLockedValue { $0 }
    }

    final class StreamCollector: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let streamSid: String
        let result: NIOLockedValueBox<TwilioStreamResult>
        let finished: Finish

        init(streamSid: String, result: NIOLockedValueBox<TwilioStreamResult>, finished: Finish) {
            self.streamSid = streamSid
            self.result = result
            self.finished = finished
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.opcode {
            case .text:
                guard let message = try? JSONParser.parse(frame.unmaskedData.readableBytesView), let event = message["event"]?.string else { return }
                switch event {
                case "media":
                    guard let payload = try? Base64.decode(message["media"]?["payload"]?.string ?? "") else { return }
                    var pcm = [Int16](repeating: 0, count: payload.count)
                    payload.withUnsafeBufferPointer { codes in pcm.withUnsafeMutableBufferPointer { _ = ULaw.decode(codes, into: $0) } }
                    result.withLockedValue { $0.received += pcm }
                case "mark":
                    let name = message["mark"]?["name"]?.string ?? ""
                    result.withLockedValue { $0.marks.append(name) }
                    var echo = context.channel.allocator.buffer(capacity: 128)
                    echo.writeString(#"{"event":"mark","sequenceNumber":"0","streamSid":"\#(streamSid)","mark":{"name":"\#(name)"}}"#)
                    context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: echo)), promise: nil)
                case "clear":
                    result.withLockedValue { $0.clears.append($0.received.count) }
                default:
                    break
                }
            case .connectionClose:
                var data = frame.unmaskedData
                let code = data.readWebSocketErrorCode()
                result.withLockedValue { $0.closedByServer = true; $0.closeCode = code }
                context.close(promise: nil)
            default:
                break
            }
        }

        func channelInactive(context: ChannelHandlerContext) { finished.succeed() }
    }
}

/// Completes a promise once, whichever side gets there first.
final class Finish: Sendable {
    let promise: EventLoopPromise<Void>
    private let done = NIOLockedValueBox(false)
    init(promise: EventLoopPromise<Void>) { self.promise = promise }
    func succeed() {
        let first = done.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { promise.succeed() }
    }
}
