// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import Foundation
import Testing

/// A session, an engine serviced by hand, and a caller: one call, one frame at a time.
final class Call {
    let session: Session
    let engine: Engine
    private(set) var heard: [Int16] = []
    private(set) var events: [SessionEvent] = []
    private var phase = 0.0
    private var samples = 0

    init(agent: AgentTransport, agentRate: Int = 24000) throws {
        var configuration = SessionConfiguration()
        configuration.phoneCodec = .slin16
        configuration.agentFormat = .pcm16(sampleRate: agentRate)
        session = try Session(configuration: configuration)
        engine = try Engine(ownThread: false)
        try engine.attach(agent, to: session)
    }

    func step(talking: Bool = false, frequency: Double = 300) throws {
        var frame = [Int16](repeating: 0, count: 160)
        if talking {
            // Syllable-like loudness (4 Hz): a steady tone would soon be taken for background noise.
            for n in 0..<160 {
                let t = Double(samples + n) / 8000
                frame[n] = Int16(12000 * (0.6 + 0.4 * cos(2 * .pi * 4 * t)) * sin(phase + 2 * .pi * frequency * Double(n) / 8000))
            }
            phase += 2 * .pi * frequency * 160 / 8000
        }
        samples += 160
        try frame.withUnsafeBytes { try session.media.writeCaller($0).get() }
        engine.serviceOnce()
        var out = [Int16](repeating: 0, count: 160)
        _ = try out.withUnsafeMutableBytes { try session.media.readCaller(into: $0).get() }
        heard += out
        while let e = session.pollEvent() { events.append(e) }
    }

    func kinds() -> [SessionEvent.Kind] { events.map(\.kind) }
    func events(_ kind: SessionEvent.Kind) -> [SessionEvent] { events.filter { $0.kind == kind } }
}

struct LocalAgentTests {
    @Test func echoAgentPlaysBackWhatTheCallerSaid() throws {
        let call = try Call(agent: EchoAgent())
        for _ in 0..<5 { try call.step() }
        for _ in 0..<50 { try call.step(talking: true) }  // 1 s of 300 Hz
        let spokeUntil = call.heard.count
        for _ in 0..<150 { try call.step() }

        #expect(call.kinds().prefix(2) == [.transportConnected, .speechStarted])
        #expect(call.events(.speechStopped).count == 1)
        let finished = call.events(.playoutFinished)
        #expect(finished.count == 1)
        // About the utterance (1 s) plus the pre-roll and the 600 ms that end the turn, at 8 kHz.
        let heardSamples = Int(finished.first?.heardSamples ?? 0)
        #expect(heardSamples > 8000 && heardSamples < 8000 + 8 * 200 + 8 * 800)
        let echo = call.heard[spokeUntil...]
        let peak = echo.map { abs(Int($0)) }.max() ?? 0
        #expect(peak > 11000 && peak < 13000, "the caller's own level comes back: \(peak)")
        #expect(call.events(.bargeIn).isEmpty)
    }

    /// An utterance longer than the agent keeps wraps its history buffer: the newest second comes
    /// back, in one piece. The uplink arrives in odd-sized pieces, so some straddle the wrap (a
    /// wrong splice there shows as a jump in the sine).
    @Test func echoAgentKeepsTheLastPartOfALongUtterance() throws {
        var configuration = SessionConfiguration()
        configuration.phoneCodec = .slin16
        let session = try Session(configuration: configuration)  // agent side: 24 kHz PCM16
        let agent = EchoAgent(maximumSeconds: 1)  // keeps 2 s of history, plays back at most 1 s
        agent.attached(to: session)
        agent.handle(SessionEvent(kind: .speechStarted))
        // 2.5 s: the history wraps, and the last second straddles the wrap, in the uplink
        // copy and in the playback copy.
        let sine = (0..<(5 * 12000)).map { Int16(12000 * sin(2 * Double.pi * 300 * Double($0) / 24000)) }
        sine.withUnsafeBytes { bytes in
            for start in stride(from: 0, to: bytes.count, by: 1234) {
                _ = agent.send(uplink: UnsafeRawBufferPointer(rebasing: bytes[start..<min(bytes.count, start + 1234)]))
            }
        }
        agent.handle(SessionEvent(kind: .speechStopped))
        var heard: [Int16] = []
        var frame = [Int16](repeating: 0, count: 160)
        for _ in 0..<60 {
            agent.poll(session)
            _ = try frame.withUnsafeMutableBytes { try session.media.readCaller(into: $0).get() }
            heard += frame
        }
        let first = heard.firstIndex { $0 != 0 } ?? 0, last = heard.lastIndex { $0 != 0 } ?? 0
        let echo = heard[first...last]
        #expect(abs(echo.count - 8000) <= 80, "1 s comes back: \(echo.count)")
        // The item starts mid-wave (after the resampler's first few samples): look past that.
        let body = echo.dropFirst(80)
        let largestStep = zip(body.dropFirst(), body).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(largestStep < 3200, "a 300 Hz sine at 12,000 moves at most ~2,830 per sample: \(largestStep)")
    }

    @Test func talkingOverTheEchoCutsIt() throws {
        let call = try Call(agent: EchoAgent())
        for _ in 0..<5 { try call.step() }
        for _ in 0..<100 { try call.step(talking: true) }  // 2 s
        for _ in 0..<40 { try call.step() }  // the turn ends, then the echo starts
        #expect(call.events(.playoutStarted).count == 1)
        // Let the echo play a while (the detector learns the line; callers rarely cut in at once).
        for _ in 0..<30 { try call.step() }
        for _ in 0..<30 { try call.step(talking: true, frequency: 500) }
        let cut = call.events(.bargeIn)
        #expect(cut.count == 1)
        #expect(cut.first?.item == call.events(.playoutStarted).first?.item)
        #expect(call.events(.playoutFinished).isEmpty)
        #expect(call.session.statistics.bargeIns == 1)
    }

    @Test func toneAgentGreetsWithItsTone() throws {
        let call = try Call(agent: try ToneAgent(frequency: 440, milliseconds: 500), agentRate: 16000)
        for _ in 0..<40 { try call.step() }
        #expect(call.events(.playoutStarted).count == 1)
        #expect(call.events(.playoutFinished).count == 1)
        let peak = call.heard.map { abs(Int($0)) }.max() ?? 0
        #expect(peak > 15000 && peak < 17000)
        // 440 Hz: about 2 × 440 × 0.5 zero crossings in the half second.
        let crossings = zip(call.heard, call.heard.dropFirst()).filter { ($0 < 0) != ($1 < 0) }.count
        #expect(abs(crossings - 440) < 20, "\(crossings) zero crossings")
    }

    @Test func wavAgentPlaysTheFileAtAnyRate() throws {
        let path = NSTemporaryDirectory() + "audiobridge-wav-agent-\(getpid()).wav"
        defer { unlink(path) }
        let file = WavFile(sampleRate: 16000, samples: (0..<8000).map { Int16(9000 * sin(Double($0) * 2 * .pi * 250 / 16000)) })
        FileManager.default.createFile(atPath: path, contents: Data(file.encoded()))
        let call = try Call(agent: try WavAgent(path: path), agentRate: 24000)
        for _ in 0..<40 { try call.step() }
        let finished = call.events(.playoutFinished)
        #expect(finished.count == 1)
        #expect(abs(Int(finished.first?.heardSamples ?? 0) - 4000) <= 4, "0.5 s at 8 kHz")
        let peak = call.heard.map { abs(Int($0)) }.max() ?? 0
        #expect(peak > 8500 && peak < 9500)
    }

    @Test func detachClosesTheTransportLastAndReportsIt() throws {
        final class Recorder: AgentTransport {
            var calls: [String] = []
            func attached(to session: Session) { calls.append("attached") }
            func send(uplink audio: UnsafeRawBufferPointer) -> Int32 { calls.append("send"); return -3 }
            func handle(_ event: SessionEvent) { calls.append("event") }
            func poll(_ session: Session) { calls.append("poll") }
            func close() { calls.append("close") }
        }
        let recorder = Recorder()
        let call = try Call(agent: recorder)
        try call.step()
        #expect(throws: AudioBridgeError.invalidState) { try call.engine.attach(EchoAgent(), to: call.session) }
        #expect(call.engine.detach(call.session))
        #expect(!call.engine.detach(call.session))
        try call.step()
        #expect(recorder.calls.first == "attached")
        #expect(recorder.calls.last == "close")
        #expect(recorder.calls.filter { $0 == "close" }.count == 1)
        #expect(recorder.calls.contains("send") && recorder.calls.contains("poll"))
        #expect(call.kinds().contains(.transportError))
        #expect(call.events(.transportError).first?.code == -3)
        #expect(call.kinds().last == .transportDisconnected)
    }

    @Test func engineThreadDrivesTransportsOnItsOwn() throws {
        var configuration = SessionConfiguration()
        configuration.agentFormat = .pcm16(sampleRate: 8000)
        let session = try Session(configuration: configuration)
        let engine = try Engine(tickMilliseconds: 2)
        try engine.attach(try ToneAgent(milliseconds: 200), to: session)
        // Wait (bounded) for the I/O thread to queue the greeting.
        var started = false
        var out = [UInt8](repeating: 0, count: 160)
        let silentFrame = [UInt8](repeating: 0xFF, count: 160)
        for _ in 0..<500 where !started {
            usleep(2000)
            try silentFrame.withUnsafeBytes { try session.media.writeCaller($0).get() }
            _ = try out.withUnsafeMutableBytes { try session.media.readCaller(into: $0).get() }
            while let e = session.pollEvent() { if e.kind == .playoutStarted { started = true } }
        }
        #expect(started)
        engine.shutdown()
        var kinds: [SessionEvent.Kind] = []
        while let e = session.pollEvent() { kinds.append(e.kind) }
        #expect(kinds.last == .transportDisconnected)
    }
}

/// Prompt agents with a follow-up (`tone…?then=…`, `wav…?then=…`): the request comes out once
/// the caller has heard the whole clip, and a caller who talks over the clip cancels it.
struct PromptFollowUpTests {
    @Test func aToneThenHangupAsksOnceItsLastSampleIsHeard() throws {
        let call = try Call(agent: try LocalAgentURI.makeAgent("tone:440:500?then=hangup"), agentRate: 8000)
        var askedAt: Int?
        for frame in 0..<60 {
            try call.step()
            if askedAt == nil, !call.events(.hangupRequested).isEmpty { askedAt = frame }
        }
        // 500 ms = 25 frames of tone; the greeting is queued during the first frame's service.
        #expect(askedAt != nil && (24...27).contains(askedAt!), "asked at frame \(String(describing: askedAt))")
        #expect(call.events(.hangupRequested).count == 1)
        let kinds = call.kinds().filter { $0 == .playoutFinished || $0 == .hangupRequested }
        #expect(kinds == [.playoutFinished, .hangupRequested], "the goodbye ends before the hang-up")
    }

    @Test func aWavThenTransferNamesItsRequest() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prompt-\(UInt32.random(in: 0...UInt32.max)).wav").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tone = (0..<4000).map { Int16(8000 * sin(2 * Double.pi * 500 * Double($0) / 8000)) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(WavFile(sampleRate: 8000, samples: tone).encoded())))
        let call = try Call(agent: try LocalAgentURI.makeAgent("wav:\(path)?then=transfer:2"), agentRate: 8000)
        for _ in 0..<50 { try call.step() }
        #expect(call.events(.transferRequested).map(\.item) == [2])
        #expect(call.events(.hangupRequested).isEmpty)
    }

    @Test func talkingOverThePromptCancelsItsFollowUpUntilItIsHeardWhole() throws {
        let call = try Call(agent: try LocalAgentURI.makeAgent("tone:440:1500?then=hangup"), agentRate: 8000)
        for _ in 0..<20 { try call.step() }
        for _ in 0..<40 { try call.step(talking: true, frequency: 300) }
        #expect(!call.events(.bargeIn).isEmpty, "the caller cut the prompt")
        for _ in 0..<20 { try call.step() }
        #expect(call.events(.hangupRequested).isEmpty, "nothing asked while the prompt was cut")
        // The tone plays again after the caller's turn; heard whole, it asks.
        for _ in 0..<100 { try call.step() }
        #expect(call.events(.hangupRequested).count == 1)
    }

    @Test func malformedFollowUpsAreRefused() {
        for uri in ["echo?then=hangup", "tone?then=transfer:0", "tone?then=transfer:x", "tone?then=dance", "tone?then=", "tone:440?then=transfer:4294967296"] {
            #expect(throws: AudioBridgeError.invalidArgument, "\(uri)") { _ = try LocalAgentURI.makeAgent(uri) }
        }
        #expect((try? LocalAgentURI.makeAgent("tone:440?then=transfer:4294967295")) != nil)
    }
}
