#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the system packages AudioBridge builds and tests with, if any are missing
# (Debian/Ubuntu, apt-get). Swift itself must already be installed.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists speexdsp 2>/dev/null || missing+=(libspeexdsp-dev)
# SRTP's AES and SHA-1 come from OpenSSL's libcrypto; libsrtp2 is the interoperability peer the
# C tests check SRTP against; ffmpeg is the independent RTP peer of the RTP test.
pkg-config --exists libcrypto 2>/dev/null || missing+=(libssl-dev)
# zlib: permessage-deflate for the FreeSWITCH WebSocket modules.
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
pkg-config --exists libsrtp2 2>/dev/null || missing+=(libsrtp2-dev)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# SIP signalling (`serve --sip`) is sofia-sip's; SIPp is the SIP peer of its tests.
pkg-config --exists sofia-sip-ua 2>/dev/null || missing+=(libsofia-sip-ua-dev)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
# Kamailio is the scale-out layer of the SIP tests (deploy/kamailio/), baresip their user agent.
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || missing+=(kamailio)
command -v baresip >/dev/null 2>&1 || missing+=(baresip)
# Browsers: Janus (deploy/janus/) relays headless Chromium's WebRTC call to `serve --sip`; the
# test runs them in a network namespace of its own (unshare, ip).
command -v janus >/dev/null 2>&1 || missing+=(janus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
# The TLS test makes itself a self-signed certificate with the openssl command.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi
# pytest runs the Python tests; websockets is the independent WebSocket peer in Tests/Peers;
# pylibsrtp (libsrtp) is the SRTP of the SIP test's caller.
for module in pytest websockets pylibsrtp; do
    if ! python3 -c "import $module" >/dev/null 2>&1; then
        echo "install-deps: installing $module"
        python3 -m pip install "$module" 2>/dev/null || python3 -m pip install --break-system-packages "$module"
    fi
done
command -v swift >/dev/null 2>&1 || { echo "install-deps: swift is not on PATH (install Swift 6.1 or later)"; exit 1; }
