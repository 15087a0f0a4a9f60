#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, build/fuzz), writes their seed corpora with the
# library (make_seeds), replays the crashes kept in tests/fuzz/crashes/<harness>/, then fuzzes
# each harness for the given seconds (default 300), one after the other, and prints per
# harness the inputs run and whether it crashed. Exit status 1 if any harness crashed or a
# kept crash still crashes. Called by `bash run.sh fuzz [seconds]` and .ci/run; run.sh
# installs clang first.
#   build/fuzz/corpus/<harness>/   the corpus the fuzzer grows (kept between runs)
#   build/fuzz/crashes/<harness>/  new crashing inputs (copy them to tests/fuzz/crashes/<harness>/)
#   build/fuzz/logs/<harness>.log  libFuzzer's output
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-300}"
jobs="${FUZZ_BUILD_JOBS:-$(nproc)}"
harnesses=(document_json document_cbor idx safetensors)
build=build/fuzz

cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
nice -n 5 cmake --build "$build" -j "$jobs"

# Leak checking stays on (libFuzzer reports leaks as crashes); UBSan halts, as in the debug preset.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
# Parsers are exercised on one thread: OpenMP's pool would only add noise here.
export OMP_NUM_THREADS=1

rm -rf "$build/seeds"
"$build/make_seeds" "$build/seeds" >/dev/null
mkdir -p "$build/logs"

# The sanitizer's headline and the first frames inside tapegrad, from a libFuzzer log.
summary() {
    grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|deadly signal|out-of-memory|timeout|#[0-9]+ 0x[0-9a-f]+ in .*(tapegrad|nlohmann|LLVMFuzzerTestOneInput)' "$1" |
        head -n 14 | sed 's/^/    /'
}

failed=0
for h in "${harnesses[@]}"; do
    bin="$build/fuzz_$h"
    kept="tests/fuzz/crashes/$h"
    if compgen -G "$kept/*" >/dev/null; then
        if "$bin" "$kept"/* >"$build/logs/${h}_kept.log" 2>&1; then
            echo "fuzz_$h: the kept crashes in $kept no longer crash"
        else
            echo "fuzz_$h: a kept crash in $kept still crashes (log: $build/logs/${h}_kept.log):"
            summary "$build/logs/${h}_kept.log"
            failed=1
        fi
    fi

    mkdir -p "$build/corpus/$h" "$build/crashes/$h"
    log="$build/logs/$h.log"
    rc=0
    nice -n 5 "$bin" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$h/" "$build/corpus/$h" "$build/seeds/$h" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(grep -Eo '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
    corpus=$(find "$build/corpus/$h" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$h: ${runs:-0} inputs run in ${seconds} s, corpus ${corpus} files, no crash"
    else
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "fuzz_$h: CRASH after ${runs:-?} inputs (exit $rc); input: ${artifact:-none written}; log: $log"
        summary "$log"
        failed=1
    fi
done
exit "$failed"
