#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds mod_audiobridge against the headers of a FreeSWITCH source tree and runs
# threading_harness.c, which calls the module's callbacks the way FreeSWITCH does (see its
# comment). No FreeSWITCH is built or run: the tree only provides headers.
#
#   bindings/freeswitch/test-harness.sh FREESWITCH_SOURCE_DIR
#
# Not part of `make test`: Debian packages no FreeSWITCH headers.
set -euo pipefail

SRC=$(cd "${1:?usage: $0 FREESWITCH_SOURCE_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[[ -f $SRC/src/include/switch.h ]] || { echo "no src/include/switch.h in $SRC" >&2; exit 2; }

make -C "$ROOT" --no-print-directory stage >/dev/null
STAGE=$ROOT/.build-stage
WORK=$(mktemp -d /tmp/ab-fs.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# An unconfigured tree has no switch_am_config.h; the headers need only that it exists.
[[ -f $SRC/src/include/switch_am_config.h ]] || touch "$WORK/switch_am_config.h"

FLAGS=(-std=gnu11 -Wall -Wextra -Werror -I"$WORK" -I"$SRC/src/include" -I"$SRC/libs/libteletone/src" -I"$STAGE/include")
# The module on its own, as a FreeSWITCH would load it.
gcc "${FLAGS[@]}" -fPIC -shared -o "$WORK/mod_audiobridge.so" "$HERE/mod_audiobridge.c" -L"$STAGE/lib" -laudiobridge
echo "mod_audiobridge.so: builds warning-free; uses $(nm -D --undefined-only "$WORK/mod_audiobridge.so" | grep -c ' ab_') ab_* and $(nm -D --undefined-only "$WORK/mod_audiobridge.so" | grep -c ' switch_') switch_* functions"
# The harness, with the session's media functions wrapped to count overlapping calls.
gcc "${FLAGS[@]}" -Wno-unused-parameter -Wno-unused-function -I"$HERE" -o "$WORK/harness" "$HERE/threading_harness.c" \
    -Wl,--wrap=ab_session_write_caller,--wrap=ab_session_read_caller,--wrap=ab_session_caller_dtmf \
    -L"$STAGE/lib" -laudiobridge -Wl,-rpath,"$STAGE/lib" -lm -lpthread
"$WORK/harness"
