#!/usr/bin/env bash
# Runs tests/distributed/dist_check under mpirun on loopback: run.sh <dist_check> <ranks> <mode>.
# As root (CI) Open MPI needs its run-as-root consent; --oversubscribe lets 4 ranks share 2
# cores. The stall mode must fail, with the timeout's message, well before ctest's limit.
set -uo pipefail
program="$1" ranks="$2" mode="$3"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Loopback only: no network interfaces probed, shared memory between the ranks.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# Open MPI's own allocations are reported as leaks under LeakSanitizer (the debug preset);
# ours are checked by the other suites.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
out=$(timeout 120 mpirun --oversubscribe -np "$ranks" "$program" "$mode" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$mode" = stall ]; then
    [ "$rc" -ne 0 ] && grep -q "waited more than 2 s for the other ranks" <<< "$out" && [ "$rc" -ne 124 ]
    exit $?
fi
exit $rc
