#!/usr/bin/env bash
# examples/gn_vs_bn on its --quick setting (512 training images, 500 test images, 1 epoch) with
# 2 workers and 2 seeds, runs in this process and in child processes: a study of GN, BN and LN at batch 32 per worker alone, then resumed
# with batch 2 added (only GN's and BN's batch-2 runs may train: LN runs at the largest batch
# alone), then resumed again (nothing may train, results.json must not change), then resumed
# with other settings (must refuse). Checks results.json's runs, steps, learning rates,
# per-epoch errors and accuracies, results.md, and the two plots when gnuplot exists.
# Usage: study_smoke.sh PATH/TO/gn_vs_bn PATH/TO/study_results_check   (exit 77: dataset not installed)
# results.json is checked by study_results_check (tests/study_results_check.cpp): no Python needed.
set -euo pipefail
exe=$1
check=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
data=${TAPEGRAD_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "skipped: Fashion-MNIST is not installed in $data"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

common=(--quick --norms gn,bn,ln --workers 2 --seeds 2 --threads 1 --out "$dir/study")
# The first study trains its runs one after another in this process, the rest two at a time in
# child processes (--jobs 2, the default).
"$exe" "${common[@]}" --batch-sizes 32 --jobs 1 > "$dir/first.log" || { cat "$dir/first.log"; fail "first run"; }
grep -q '^plan: 6 runs' "$dir/first.log" || { cat "$dir/first.log"; fail "no plan line for 6 runs"; }
"$exe" "${common[@]}" --batch-sizes 32,2 --resume > "$dir/second.log" || { cat "$dir/second.log"; fail "second run"; }
cat "$dir/second.log"
[ "$(grep -c 'skipped, already in' "$dir/second.log")" -eq 6 ] || fail "the resumed study did not skip the 6 finished runs"
run_line='^[a-z]* B=[0-9]* seed [0-9]*: test error'
[ "$(grep -c "$run_line" "$dir/second.log")" -eq 4 ] || fail "the resumed study did not train the 4 new runs"

"$check" "$dir/study/results.json" || fail "results.json"
for norm in bn gn ln; do grep -q "^| $norm | " "$dir/study/results.md" || fail "results.md has no $norm row"; done
grep -q '^| GN.s spread over B = 32…2 | 0.2 | ' "$dir/study/results.md" || fail "results.md has no GN spread beside the paper"
if command -v gnuplot > /dev/null; then
    [ -s "$dir/study/study.png" ] || fail "gnuplot is installed but there is no study.png"
    [ -s "$dir/study/epochs.png" ] || fail "gnuplot is installed but there is no epochs.png"
else
    echo "gnuplot is not installed: the plots are not checked"
    grep -q 'gnuplot is not installed' "$dir/second.log" || fail "no message about the missing gnuplot"
fi

cp "$dir/study/results.json" "$dir/before.json"
"$exe" "${common[@]}" --batch-sizes 32,2 --resume > "$dir/third.log" || { cat "$dir/third.log"; fail "third run"; }
[ "$(grep -c 'skipped, already in' "$dir/third.log")" -eq 10 ] || fail "the second resume did not skip all 10 runs"
! grep -q "$run_line" "$dir/third.log" || fail "the second resume trained again"
cmp "$dir/before.json" "$dir/study/results.json" || fail "results.json changed on a resume with nothing to do"

if "$exe" "${common[@]}" --batch-sizes 32,2 --epochs 2 --resume > "$dir/fourth.log" 2>&1; then
    fail "a resume with other settings (--epochs 2) was accepted"
fi
grep -q 'other settings.*epochs 1 vs 2' "$dir/fourth.log" || { cat "$dir/fourth.log"; fail "no clear settings-mismatch error"; }
cmp "$dir/before.json" "$dir/study/results.json" || fail "a refused resume changed results.json"
echo "study smoke test passed: resume skipped finished runs, refused other settings"
