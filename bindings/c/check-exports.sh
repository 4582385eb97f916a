#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that libaudiobridge.so is what a C host expects: it exports only ab_* (every other
# defined dynamic symbol has LOCAL binding, i.e. cannot be linked against), carries the SONAME,
# resolves every symbol, and needs no Swift runtime library at run time.
set -eu
lib=$1
status=0

leaks=$(readelf --dyn-syms -W "$lib" | awk '$5 == "GLOBAL" || $5 == "WEAK" { if ($7 != "UND" && $8 !~ /^ab_/ && $8 !~ /^AUDIOBRIDGE_/) print $8 }')
if [ -n "$leaks" ]; then
    echo "check-exports: non-ab_ symbols exported:"; echo "$leaks"; status=1
fi
exported=$(readelf --dyn-syms -W "$lib" | awk '$5 == "GLOBAL" && $7 != "UND" && $8 ~ /^ab_/' | wc -l)
[ "$exported" -gt 0 ] || { echo "check-exports: no ab_ symbol exported"; status=1; }

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libaudiobridge.so.1" ] || { echo "check-exports: SONAME is '$soname'"; status=1; }

if ldd -r "$lib" 2>&1 | grep -i "undefined symbol"; then
    echo "check-exports: the library has unresolved symbols"; status=1
fi
if ldd "$lib" | grep -i swift; then
    echo "check-exports: the library needs Swift runtime libraries at run time"; status=1
fi
[ $status -eq 0 ] && echo "check-exports: $exported ab_* functions exported, SONAME $soname, no Swift runtime dependency"
exit $status
