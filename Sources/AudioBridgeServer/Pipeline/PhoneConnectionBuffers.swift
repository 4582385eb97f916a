// SPDX-License-Identifier: MIT
// How much a phone peer's WebSocket connection (Twilio, chan_websocket, FreeSWITCH) may hold
// unsent. A call sends 20 ms at a time and needs almost no queue; a peer that stops reading
// should make its call not writable within a second or two (the pipeline then keeps the
// agent's audio in the session and drops the call after 5 s), not after the kernel has
// autotuned its send buffer to megabytes. The kernel's buffer is fixed at 16 KiB, as
// AudioSocket's is (Linux doubles it), and NIO's queue stops taking frames above 8 KiB.
import NIOCore
import NIOPosix

extension ServerBootstrap {
    func phoneConnectionBuffers() -> ServerBootstrap {
        childChannelOption(.socketOption(.so_sndbuf), value: 16_384)
            .childChannelOption(.writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: 4_096, high: 8_192))
    }
}
