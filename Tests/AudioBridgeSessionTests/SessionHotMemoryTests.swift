// SPDX-License-Identifier: MIT
import AudioBridgeCore
@testable import AudioBridgeSession
import Testing

/// The lists a host prefetches ahead of a call's turn (AudioBridgeCore's HotMemory) hold what
/// each per-frame call touches, with room to spare: a list that filled up would leave the rest
/// out without a word.
@Suite struct SessionHotMemoryTests {
    @Test(arguments: [8000, 16000, 24000])
    func eachListHoldsItsEndAndFitsWithRoomForTheHost(agentRate: Int) throws {
        var configuration = SessionConfiguration()
        configuration.agentFormat = .pcm16(sampleRate: agentRate)
        let session = try Session(configuration: configuration)
        let caller = session.callerFrameMemory
        let playout = session.playoutFrameMemory
        let agent = session.agentServiceMemory
        // The speech detector and its buffers alone are more than 40 lines.
        #expect(caller.lineCount > 40)
        #expect(playout.lineCount >= 4)
        #expect(agent.lineCount >= 3)
        // A host adds its own objects (the server's pipeline adds five entries).
        for list in [caller, playout, agent] { #expect(list.count <= HotMemory.capacity - 8) }
    }
}
