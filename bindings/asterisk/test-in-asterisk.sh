#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs app_audiobridge inside a real Asterisk and checks what a caller hears.
#
#   bindings/asterisk/test-in-asterisk.sh ASTERISK_SOURCE_DIR
#
# ASTERISK_SOURCE_DIR is a configured and built Asterisk tree (./configure
# --without-pjproject; make) with chan_audiosocket, res_audiosocket, res_timing_timerfd,
# codec_resample, pbx_config and app_senddtmf among its modules. Nothing is installed: the module is built
# against that tree's headers and the staged libaudiobridge (make stage), and a private Asterisk
# runs from the tree under a temporary directory with only those modules loaded, its manager
# interface and AudioSocket peer on loopback. The calls and checks are in asterisk_peer.py
# (Python 3 with numpy). Not part of `make test`: Debian does not package Asterisk.
set -euo pipefail

SRC=$(cd "${1:?usage: $0 ASTERISK_SOURCE_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
AMI_PORT=${AMI_PORT:-15038}
AUDIOSOCKET_PORT=${AUDIOSOCKET_PORT:-19095}

[[ -x $SRC/main/asterisk ]] || { echo "no built Asterisk in $SRC (configure and make it first)" >&2; exit 2; }
python3 -c 'import numpy' 2>/dev/null || { echo "asterisk_peer.py needs numpy (pip install numpy)" >&2; exit 2; }

make -C "$ROOT" --no-print-directory stage >/dev/null
export PKG_CONFIG_PATH=$ROOT/.build-stage/lib/pkgconfig
make -C "$HERE" --no-print-directory -B ASTERISK_INCLUDE="$SRC/include" RPATH="$ROOT/.build-stage/lib" >/dev/null

# The tree is not installed: the asterisk binary finds its libasteriskssl next to it.
export LD_LIBRARY_PATH="$SRC/main${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

RUN=$(mktemp -d /tmp/ab-asterisk.XXXXXX)
ASTERISK_PID=
cleanup() {
    [[ -n $ASTERISK_PID ]] && kill "$ASTERISK_PID" 2>/dev/null && wait "$ASTERISK_PID" 2>/dev/null
    [[ ${KEEP:-0} == 1 ]] && echo "kept $RUN" || rm -rf "$RUN"
}
trap cleanup EXIT

mkdir -p "$RUN"/{etc,modules,lib/documentation/thirdparty,spool,run,log}
for module in res/res_timing_timerfd res/res_audiosocket channels/chan_audiosocket codecs/codec_resample pbx/pbx_config apps/app_senddtmf; do
    ln -s "$SRC/$module.so" "$RUN/modules/"
done
ln -s "$HERE/app_audiobridge.so" "$RUN/modules/"
# The core's documentation (if this tree built it) and the module's, as an install puts them.
cp "$SRC"/doc/appdocsxml.dtd "$SRC"/doc/core-en_US.xml "$RUN/lib/documentation/" 2>/dev/null || true
cp "$HERE/app_audiobridge-en_US.xml" "$RUN/lib/documentation/thirdparty/"

cat > "$RUN/etc/asterisk.conf" <<CONF
[directories]
astetcdir => $RUN/etc
astmoddir => $RUN/modules
astvarlibdir => $RUN/lib
astdbdir => $RUN/lib
astkeydir => $RUN/lib
astdatadir => $RUN/lib
astagidir => $RUN/lib
astspooldir => $RUN/spool
astrundir => $RUN/run
astlogdir => $RUN/log
[options]
transmit_silence = no
CONF
cat > "$RUN/etc/modules.conf" <<CONF
[modules]
autoload = no
load => res_timing_timerfd.so
load => res_audiosocket.so
load => chan_audiosocket.so
load => codec_resample.so
load => pbx_config.so
load => app_senddtmf.so
load => app_audiobridge.so
CONF
cat > "$RUN/etc/logger.conf" <<CONF
[logfiles]
messages.log => notice,warning,error,verbose(3)
CONF
cat > "$RUN/etc/manager.conf" <<CONF
[general]
enabled = yes
port = $AMI_PORT
bindaddr = 127.0.0.1
[test]
secret = test
read = all
write = all
CONF
cat > "$RUN/etc/extensions.conf" <<CONF
[test]
exten => echo,1,AudioBridge(echo)
exten => hangup,1,AudioBridge(tone:440:600?then=hangup)
exten => transfer,1,AudioBridge(tone:440:400?then=transfer:2,sales&support)
exten => support,1,AudioBridge(tone:880:400?then=hangup)
exten => refused,1,AudioBridge(tone:440:300?then=transfer:3,sales)
exten => long,1,AudioBridge(tone:440:4000)
exten => keys,1,Answer()
 same => n,Wait(0.5)
 same => n,SendDTMF(12#,100)
 same => n,Wait(1)
 same => n,Hangup()
CONF

"$SRC/main/asterisk" -f -C "$RUN/etc/asterisk.conf" >"$RUN/log/console.log" 2>&1 &
ASTERISK_PID=$!
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$AMI_PORT) 2>/dev/null && break
    sleep 0.1
done
rx() { "$SRC/main/asterisk" -C "$RUN/etc/asterisk.conf" -rx "$1"; }
for _ in $(seq 50); do rx 'core waitfullybooted' >/dev/null 2>&1 && break; sleep 0.1; done

status=0
echo "Asterisk $(rx 'core show version' | awk '{print $2}'), module: $(rx 'module show like audiobridge' | grep -c app_audiobridge) loaded"
if ! grep -q '^#define AST_XML_DOCS 1' "$SRC/include/asterisk/autoconfig.h"; then
    echo "  --   core show application AudioBridge not checked: this tree was configured with --disable-xmldoc"
elif rx 'core show application AudioBridge' | grep -q 'Connect the channel to an AI voice agent'; then
    echo "  ok   core show application AudioBridge shows the module's documentation"
else
    echo "  FAIL core show application AudioBridge:"; rx 'core show application AudioBridge' | head -5; status=1
fi
python3 "$HERE/asterisk_peer.py" --ami-port "$AMI_PORT" --audiosocket-port "$AUDIOSOCKET_PORT" || status=1
# The module's own warnings and errors, but for the refusal scenario 6 asks for.
if grep -E 'ERROR|WARNING' "$RUN/log/messages.log" | grep -E 'app_audiobridge|res_audiosocket|chan_audiosocket' \
        | grep -v 'transfer target 3; 1 allowed' | grep .; then
    echo "  FAIL the lines above were logged"; status=1
fi
exit $status
