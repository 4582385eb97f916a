// SPDX-License-Identifier: MIT
// The call pipeline once, with a fake phone side, on an embedded event loop driven by hand:
// its lifecycle and counters, which frames go out, marks, barge-in flushes, recording, the
// admission limit and drain, and the per-frame path without allocation or lock.
import AllocationCounter
@testable import AudioBridgeServer
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// A phone side that records what the pipeline asks of it.
final class FakePhoneSide: PhoneSide {
    var isOpen = true
    var isWritable = true
    let sendsSilence: Bool
    var isHeld = false
    let marksEchoed: Bool
    let flushDropsMarks: Bool
    var keepFrames = true
    var sent: [[Int16]] = []
    var sentCount = 0
    var flushes = 0
    var pauses = 0
    var markNames: [String] = []
    var hangUps = 0
    private let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: 320, alignment: 16)

    init(sendsSilence: Bool = true, marksEchoed: Bool = false, flushDropsMarks: Bool = true) {
        self.sendsSilence = sendsSilence
        self.marksEchoed = marksEchoed
        self.flushDropsMarks = flushDropsMarks
    }

    deinit { frame.deallocate() }

    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? {
        call.readSessionFrame(into: frame)
    }

    func send(frame: UnsafeRawBufferPointer) {
        sentCount += 1
        if keepFrames { sent.append(Array(frame.bindMemory(to: Int16.self))) }
    }

    func flush() -> Bool { flushes += 1; return true }
    func pausePlayout() { pauses += 1 }
    func mark(name: String) -> Bool { markNames.append(name); return marksEchoed }
    func hangUp() { hangUps += 1; isOpen = false }
}

/// One call on a pipeline, ticked by hand (no timer): feed a caller frame, service the agent,
/// send a frame.
final class PipelineHarness {
    let loop = EmbeddedEventLoop()
    let pacer: CallPacer
    let services: BridgeServices
    let side: FakePhoneSide
    let call: CallPipeline
    var observed: [SessionEvent] = []

    init(agent: String, side: FakePhoneSide = FakePhoneSide(), services: BridgeServices = BridgeServices(),
         immediateBargeIn: Bool = false, recordDirectory: String? = nil, observe: Bool = true) throws {
        pacer = try CallPacer(eventLoop: loop)
        self.services = services
        self.side = side
        var settings = CallSettings()
        settings.agent = agent
        settings.session.phoneCodec = .slin16
        settings.session.agentFormat = .pcm16(sampleRate: 8000)
        if immediateBargeIn { settings.session.bargeIn.arbitration.mode = .immediate }
        settings.recordDirectory = recordDirectory
        settings = try CallAgent.validate(settings)
        #expect(services.admission.admit() == nil)
        var observed: (SessionEvent) -> Void = { _ in }
        let box = EventBox()
        if observe { observed = { box.events.append($0) } }
        self.box = box
        call = try CallPipeline(side: { _ in side }, callID: "test-call", session: settings.session, settings: settings, metadata: [],
                                services: services, transport: .audioSocket, pacer: pacer, eventLoop: loop,
                                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), observer: observe ? observed : nil)
    }

    private let box: EventBox
    var events: [SessionEvent] { box.events }
    var counters: TransportCounters { services.metrics[.audioSocket].snapshot }

    /// One 20 ms tick with `caller` (160 samples) from the caller.
    func tick(_ caller: UnsafeRawBufferPointer) {
        call.feedCaller(caller)
        pacer.engine.serviceOnce()
        call.sendFrame()
    }

    /// The same tick, with what the call itself does (not the loop's agent servicing, which
    /// runs once per 20 ms for all of a loop's calls) counted.
    func countedTick(_ caller: UnsafeRawBufferPointer, into total: inout ab_allocation_counts) {
        ab_counting_start()
        call.feedCaller(caller)
        var counts = ab_counting_stop()
        pacer.engine.serviceOnce()
        ab_counting_start()
        call.sendFrame()
        let sending = ab_counting_stop()
        counts.allocations += sending.allocations
        counts.mutex_locks += sending.mutex_locks
        total.allocations += counts.allocations
        total.mutex_locks += counts.mutex_locks
    }

    func run(frames: Int, caller: [Int16] = []) {
        var frame = [Int16](repeating: 0, count: 160)
        for i in 0..<frames {
            for j in 0..<160 { frame[j] = i * 160 + j < caller.count ? caller[i * 160 + j] : 0 }
            frame.withUnsafeBytes { tick($0) }
        }
    }

    final class EventBox { var events: [SessionEvent] = [] }
}

@Suite(.serialized)
struct CallPipelineTests {
    @Test func aCallIsCountedFromStartToEndAndGivesItsPlaceBack() throws {
        let services = BridgeServices(admission: CallAdmission(maximumCalls: 1))
        let harness = try PipelineHarness(agent: "tone:440:200", services: services)
        #expect(services.admission.admit() == .atLimit)
        #expect(harness.counters.totalCalls == 1 && harness.counters.activeCalls == 1)
        harness.run(frames: 30)
        #expect(harness.counters.framesIn == 30)
        // A peer that plays a continuous stream gets a frame every tick, silence included.
        #expect(harness.counters.framesOut == 30 && harness.side.sentCount == 30)
        let kinds = harness.events.map(\.kind)
        #expect(kinds.contains(.playoutStarted) && kinds.contains(.playoutFinished))
        harness.call.end(reason: "test")
        harness.call.end(reason: "twice")  // once only
        #expect(harness.counters.activeCalls == 0 && harness.counters.totalCalls == 1)
        #expect(services.admission.activeCalls == 0)
        #expect(services.admission.admit() == nil)
    }

    /// The lists the pacer and the AudioSocket poller prefetch hold the session's and the
    /// adapter's memory, and none filled up (what does not fit is left out).
    @Test func aCallsPrefetchListsHoldItsSessionAndAdapter() throws {
        let harness = try PipelineHarness(agent: "echo")
        let session = harness.call.session
        for (list, sessionPart) in [(harness.call.callerFrameMemory, session.callerFrameMemory),
                                    (harness.call.tickMemory, session.playoutFrameMemory)] {
            #expect(list.count == sessionPart.count + harness.side.hotMemory.count)
            #expect(list.lineCount == sessionPart.lineCount + harness.side.hotMemory.lineCount)
            #expect(list.count < HotMemory.capacity)
        }
        harness.call.end(reason: "test")
    }

    /// `--agent tone…?then=hangup` / `wav…?then=hangup`: the call ends once the prompt is heard;
    /// a transfer follow-up has no target in the server and is refused when settings are checked.
    @Test func aPromptThenHangupEndsTheCallOnceThePromptIsHeard() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prompt-\(UInt32.random(in: 0...UInt32.max)).wav").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tone = (0..<1600).map { Int16(8000 * sin(2 * Double.pi * 500 * Double($0) / 8000)) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(WavFile(sampleRate: 8000, samples: tone).encoded())))
        for agent in ["tone:440:200?then=hangup", "wav:\(path)?then=hangup"] {
            let harness = try PipelineHarness(agent: agent)
            var hungUpAfter: Int?
            for frame in 1...30 where hungUpAfter == nil {
                harness.run(frames: 1)
                harness.loop.run()
                if harness.side.hangUps > 0 { hungUpAfter = frame }
            }
            // 200 ms = 10 frames of prompt, all sent before the hang-up.
            #expect(hungUpAfter != nil && (10...12).contains(hungUpAfter!), "\(agent): hung up after frame \(String(describing: hungUpAfter))")
            #expect(harness.side.sent.filter { $0.contains { $0 != 0 } }.count == 10, "\(agent): the whole prompt went out")
        }
        var settings = CallSettings()
        settings.agent = "tone:440:200?then=transfer:1"
        #expect(throws: AudioBridgeError.invalidArgument) { _ = try CallAgent.validate(settings) }
    }

    @Test func peersThatMakeTheirOwnSilenceGetOnlyTheItemsFrames() throws {
        let harness = try PipelineHarness(agent: "tone:440:200", side: FakePhoneSide(sendsSilence: false))
        harness.run(frames: 40)
        // 200 ms of tone: 10 frames, and nothing before or after it.
        #expect(harness.side.sentCount == 10)
        #expect(harness.counters.framesOut == 10)
        #expect(harness.side.sent.allSatisfy { frame in frame.contains { $0 != 0 } })
    }

    @Test func aMarkedItemIsReportedFinishedWhenThePeerConfirmsIt() throws {
        let harness = try PipelineHarness(agent: "tone:440:200", side: FakePhoneSide(marksEchoed: true))
        harness.run(frames: 20)
        #expect(harness.side.markNames == ["item-1"])
        #expect(!harness.events.contains { $0.kind == .playoutFinished })
        #expect(harness.counters.marksSent == 1)
        #expect(harness.call.markConfirmed("item-1"))
        #expect(harness.events.filter { $0.kind == .playoutFinished }.map(\.item) == [1])
        #expect(harness.counters.marksConfirmed == 1)
        #expect(!harness.call.markConfirmed("item-1"), "a mark is confirmed once")
        #expect(!harness.call.markConfirmed("item-7"), "an unknown mark is ignored")
    }

    @Test func aCommittedBargeInFlushesThePeerAndIsCounted() throws {
        let harness = try PipelineHarness(agent: "tone:440:3000", side: FakePhoneSide(marksEchoed: true), immediateBargeIn: true)
        // Quiet while the tone starts, then the caller talks over it.
        harness.run(frames: 100, caller: [Int16](repeating: 0, count: 25 * 160) + talk(seconds: 1.5, level: 16000))
        let cuts = harness.events.filter { $0.kind == .bargeIn }
        #expect(cuts.count == 1)
        #expect(harness.side.flushes == 1)
        #expect(harness.counters.bargeIns == 1 && harness.counters.flushes == 1)
        // The cut item never finished playing, so it was never marked.
        #expect(harness.side.markNames.isEmpty)
    }

    @Test func pausesReachThePeerAndAreCounted() throws {
        let harness = try PipelineHarness(agent: "tone:440:3000")
        harness.run(frames: 100, caller: [Int16](repeating: 0, count: 25 * 160) + talk(seconds: 1.5, level: 16000))
        #expect(harness.counters.bargeInPauses >= 1)
        #expect(harness.side.pauses == harness.counters.bargeInPauses)
    }

    @Test func aRecordingHoldsTheCallerLeftAndWhatTheCallerHeardRight() throws {
        let directory = NSTemporaryDirectory() + "pipeline-record-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let harness = try PipelineHarness(agent: "tone:440:200", recordDirectory: directory)
        let caller = (0..<(30 * 160)).map { Int16(truncatingIfNeeded: ($0 * 37) % 2000 - 1000) }
        harness.run(frames: 30, caller: caller)
        let heard = harness.side.sent.flatMap { $0 }
        harness.call.end(reason: "test")
        let path = directory + "/test-call.wav"
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: path) { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.05)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count == 44 + 30 * 160 * 4)
        func channel(_ c: Int) -> [Int16] {
            stride(from: 44 + 2 * c, to: bytes.count, by: 4).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
        }
        #expect(channel(0) == caller)
        #expect(channel(1) == heard)
        #expect(harness.counters[.recordings] == 1)
    }

    @Test func agentDropsAndReconnectsAreCounted() throws {
        let harness = try PipelineHarness(agent: "echo")
        harness.run(frames: 2)
        #expect(harness.counters[.agentDisconnects] == 0 && harness.counters[.agentReconnects] == 0, "the first connection is no reconnect")
        for _ in 0..<2 {
            harness.call.session.agent.report(SessionEvent(kind: .transportDisconnected))
            harness.run(frames: 1)
            harness.call.session.agent.report(SessionEvent(kind: .transportConnected))
            harness.run(frames: 1)
        }
        #expect(harness.counters[.agentDisconnects] == 2 && harness.counters[.agentReconnects] == 2)
        #expect(harness.events.filter { $0.kind == .transportDisconnected }.count == 2)
    }

    @Test func admissionRefusesAtTheLimitAndWhileDraining() {
        let admission = CallAdmission(maximumCalls: 2)
        #expect(admission.admit() == nil && admission.admit() == nil)
        #expect(admission.admit() == .atLimit)
        #expect(admission.wouldRefuse() == .atLimit)
        admission.release()
        #expect(admission.wouldRefuse() == nil)
        #expect(admission.isAccepting)
        admission.startDraining()
        #expect(!admission.isAccepting)
        #expect(admission.admit() == .draining)
        #expect(admission.activeCalls == 1)
        let unlimited = CallAdmission()
        for _ in 0..<10_000 { #expect(unlimited.admit() == nil) }
    }

    @Test func metricsCarryTheTransportLabelAndTheCountsSinceTheLastScrape() throws {
        let harness = try PipelineHarness(agent: "tone:440:200")
        harness.run(frames: 10)
        let text = harness.services.metrics.prometheusText()
        #expect(text.contains(#"audiobridge_frames_in_total{transport="audiosocket"} 10"#))
        #expect(text.contains(#"audiobridge_frames_in_total{transport="rtp"} 0"#))
        harness.run(frames: 5)
        let again = harness.services.metrics.prometheusText()
        #expect(again.contains(#"audiobridge_frames_in_total{transport="audiosocket"} 15"#), "\(again)")
        #expect(again.contains(#"audiobridge_active_calls{transport="audiosocket"} 1"#))
    }
}

/// The per-frame path (a caller frame in, the agent serviced, a frame out with its events) of a
/// pipeline: run on the release build (`make test-release`), like the session's.
@Suite(.serialized)
struct PipelineAllocationTests {
    @Test func aFrameThroughThePipelineAllocatesNothingAndTakesNoLock() throws {
        let harness = try PipelineHarness(agent: "echo", side: FakePhoneSide(marksEchoed: true), observe: false)
        harness.side.keepFrames = false
        // Talk and pause in turns: the echo agent answers every turn (items start and finish,
        // marks go out), and talking over an answer pauses and cuts it.
        let talking = talk(seconds: 1, level: 12000)
        var frames: [[Int16]] = []
        for i in 0..<250 { frames.append(i % 250 < 50 ? Array(talking[(i % 50) * 160..<(i % 50 + 1) * 160]) : [Int16](repeating: 0, count: 160)) }
        var counts = ab_allocation_counts()
        func tick(_ i: Int, counted: Bool) {
            frames[i % frames.count].withUnsafeBytes { counted ? harness.countedTick($0, into: &counts) : harness.tick($0) }
            if i % 250 == 200 { for name in harness.side.markNames { harness.call.markConfirmed(name) }; harness.side.markNames.removeAll(keepingCapacity: true) }
        }
        for i in 0..<2_000 { tick(i, counted: false) }  // warm-up: storage reaches its size
        for i in 2_000..<22_000 { tick(i, counted: true) }
        #expect(harness.counters.framesOut >= 22_000)
        #expect(harness.counters.marksSent > 10, "items came and went: \(harness.counters.marksSent)")
        #expect(counts.allocations == 0)
        // The one lock: one frame in 16 is timed into the Prometheus histogram.
        #expect(counts.mutex_locks == 20_000 / Int(TransportMetrics.frameTimingInterval))
    }
}
