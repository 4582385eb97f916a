// SPDX-License-Identifier: MIT
// Caller audio arrives in pieces of any length (Asterisk may send other than 320 bytes, Twilio
// other than 160), and a session takes exactly one frame at a time. This gathers pieces into
// whole frames; a piece that is exactly one frame (the usual case) goes straight through
// without a copy. The buffer is allocated once, with the call.
final class CallerFrameAssembler {
    let frameBytes: Int
    private let pending: UnsafeMutableRawBufferPointer
    private var pendingCount = 0

    init(frameBytes: Int) {
        self.frameBytes = frameBytes
        pending = .allocate(byteCount: frameBytes, alignment: 16)
    }

    deinit { pending.deallocate() }

    /// Appends `bytes`, feeding `call` each whole frame they complete. (The call itself, not a
    /// closure over it: a closure's context retains and releases the call every frame.)
    func append(_ bytes: UnsafeRawBufferPointer, into call: CallPipeline) {
        var offset = 0
        while offset < bytes.count {
            let take = min(frameBytes - pendingCount, bytes.count - offset)
            if pendingCount == 0, take == frameBytes {
                call.feedCaller(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
            } else {
                (pending.baseAddress! + pendingCount).copyMemory(from: bytes.baseAddress! + offset, byteCount: take)
                pendingCount += take
                if pendingCount == frameBytes {
                    call.feedCaller(UnsafeRawBufferPointer(pending))
                    pendingCount = 0
                }
            }
            offset += take
        }
    }
}
