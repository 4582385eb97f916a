# SPDX-License-Identifier: MIT
"""The short form of the chaos run (chaos.py; the full one is scripts/chaos.sh): two rounds of 30
paced calls at once over AudioSocket, Twilio and chan_websocket through one release server, the
agent's process stopped for 2 s in the middle of each, and 60 % of the calls meeting a fault of
their own — garbage, a peer that stops reading, vanishes or goes silent, an agent that drops,
stalls or hangs. Every expectation chaos.judge checks must hold: unaffected calls completed with 0
underruns and heard their agent, affected ones ended or recovered with a logged reason, no
live object or file descriptor left, RSS back near its start and no higher after the second
round than after the first. CHAOS_SEED picks another seed."""
import os

import chaos


def test_a_loaded_server_survives_chaos():
    seed = int(os.environ.get("CHAOS_SEED", "22"))
    report = chaos.run(calls=30, concurrency=30, seconds=10, seed=seed, fault_share=0.6, sigstop=2.0, rounds=2)
    print(report.summary())
    met = {call.fault for call in report.calls}
    assert met == {"none", *chaos.PEER_FAULTS, *chaos.AGENT_FAULTS}, f"seed {seed} leaves faults out: {met}"
    assert len(report.sigstop_windows) == 2 and sum(map(report.under_sigstop, report.calls)) >= 30, report.summary()
    assert not report.failures, f"seed {seed}:\n" + report.summary()
