#!/bin/sh
# SPDX-License-Identifier: MIT
# Chaos on a loaded server (Tests/Peers/chaos.py says what is done and checked): 200 paced calls
# over AudioSocket, Twilio and chan_websocket, 60 at once, 12 s each, 40 % of them meeting a
# fault (garbage, a peer that stops reading, vanishes or goes silent; an agent that drops,
# stalls or hangs), and the agent's whole process stopped with SIGSTOP for 2 s in the middle.
# Prints what it saw and every expectation that failed; exits 1 if any did.
#
#   scripts/chaos.sh [--calls N] [--concurrency N] [--seconds S] [--seed N] [--fault-share F]
#                    [--faults garbage,slow_reader,…] [--sigstop S]
#
# AUDIOBRIDGE_BIN_DIR: a directory with a release `audiobridge` already built; else this builds
# one (.build-release). The short form runs in `make test` (Tests/Peers/test_chaos.py).
set -eu
cd "$(dirname "$0")/.."
if [ -z "${AUDIOBRIDGE_BIN_DIR:-}" ]; then
    swift build -c release --scratch-path .build-release --product audiobridge >/dev/null
    AUDIOBRIDGE_BIN_DIR=.build-release/release
fi
export AUDIOBRIDGE_BIN_DIR
exec python3 Tests/Peers/chaos.py "$@"
