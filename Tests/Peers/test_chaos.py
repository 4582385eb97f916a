# SPDX-License-Identifier: MIT
"""The short form of the chaos run (chaos.py; the full one is scripts/chaos.sh): 45 paced calls
at once over AudioSocket, Twilio and chan_websocket through one release server, the agent's
process stopped for 2 s in the middle, and 60 % of the calls meeting a fault of their own —
garbage, a peer that stops reading, vanishes or goes silent, an agent that drops, stalls or
hangs. Every expectation chaos.judge checks must hold: unaffected calls completed with 0
underruns and heard their agent, affected ones ended or recovered with a logged reason, no
live object or file descriptor left, RSS back near its start. CHAOS_SEED picks another seed."""
import os

import chaos


def test_a_loaded_server_survives_chaos():
    seed = int(os.environ.get("CHAOS_SEED", "22"))
    report = chaos.run(calls=45, concurrency=45, seconds=10, seed=seed, fault_share=0.6, sigstop=2.0)
    print(report.summary())
    met = {call.fault for call in report.calls}
    assert met == {"none", *chaos.PEER_FAULTS, *chaos.AGENT_FAULTS}, f"seed {seed} leaves faults out: {met}"
    assert report.sigstop_window is not None and sum(map(report.under_sigstop, report.calls)) >= 20, report.summary()
    assert not report.failures, f"seed {seed}:\n" + report.summary()
