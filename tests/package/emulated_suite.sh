#!/usr/bin/env bash
# The test suite on a CPU this machine is not: every Boost.Test suite of a build runs under
# QEMU's user-mode emulator with the given CPU model, which lacks what that CPU lacks (an
# instruction beyond it is SIGILL). For the dispatch preset's build (the x86-64 baseline with
# per-ISA kernels, as installed), Nehalem (SSE4.2, no AVX) gives the sse2 kernels and Haswell
# (AVX2 + FMA, no AVX-512) the avx2 ones, as on real CPUs of those kinds:
#   cmake --preset dispatch && cmake --build --preset dispatch
#   bash tests/package/emulated_suite.sh build/dispatch Nehalem [JOBS]
# (CPU "host" runs the suites natively, for the same totals to compare with.) TCG emulation is
# 10-15x slower than this CPU, 5-10 minutes of one core for the whole suite, so this is a
# check to run by hand (docs/testing.md), not part of CI. Needs qemu-user.
set -uo pipefail
build="$(realpath "$1")" cpu="$2" jobs="${3:-1}"
command -v qemu-x86_64 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user >/dev/null
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log="$build/emulated-$cpu"
rm -rf "$log" && mkdir -p "$log"
export TAPEGRAD_GOLDEN_DIR="$here/tests/golden"
emulator=qemu-x86_64
if [ "$cpu" = host ]; then
    emulator=
    echo "emulated_suite: natively on this CPU, suites of $build/tests"
else
    export QEMU_CPU="$cpu"
    echo "emulated_suite: $(qemu-x86_64 --version | head -1), -cpu $cpu, suites of $build/tests"
fi
export emulator
cd "$build/tests"
ls test_* | grep -v '\.' | xargs -P "$jobs" -I{} bash -c '
    start=$(date +%s)
    $emulator ./{} --log_level=test_suite --report_level=short >"'"$log"'/{}.log" 2>&1
    rc=$?
    printf "%-28s %s  %4ss\n" {} "$([ $rc -eq 0 ] && echo passed || echo "FAILED (exit $rc)")" $(( $(date +%s) - start ))
' | tee "$log/summary.txt"
failed=$(grep -c FAILED "$log/summary.txt")
total=$(wc -l <"$log/summary.txt")
cases=$(cat "$log"/*.log | sed -nE 's/^ *([0-9]+) test cases? out of [0-9]+ passed.*/\1/p' | awk "{s += \$1} END {print s + 0}")
checks=$(cat "$log"/*.log | sed -nE 's/^ *([0-9]+) assertions? out of [0-9]+ passed.*/\1/p' | awk "{s += \$1} END {print s + 0}")
echo "emulated_suite: -cpu $cpu: $((total - failed)) of $total suites passed, $cases test cases and $checks assertions passed (logs: $log)"
[ "$failed" -eq 0 ]
