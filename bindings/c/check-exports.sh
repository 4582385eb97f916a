#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that libaudiobridge.so is what a C host expects: it exports only ab_* (every other
# defined dynamic symbol has LOCAL binding, i.e. cannot be linked against), carries the SONAME,
# resolves every symbol, needs no Swift runtime library at run time, and needs exactly the
# libraries the README and audiobridge.pc name: speexdsp (resampler), libcrypto (SRTP) and the
# C/C++ runtime the static Swift runtime sits on.
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
# NEEDED, by name without the version suffix (ld-linux's name depends on the architecture).
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p' | sed 's/\.so.*//; s/^ld-linux.*/ld-linux/' | sort | tr '\n' ' ')
expected="ld-linux libc libcrypto libgcc_s libm libspeexdsp libstdc++ "
if [ "$needed" != "$expected" ]; then
    echo "check-exports: NEEDED is '$needed', the README and audiobridge.pc say '$expected'"; status=1
fi
[ $status -eq 0 ] && echo "check-exports: $exported ab_* functions exported, SONAME $soname, no Swift runtime dependency, NEEDED: $needed"
exit $status
