#!/usr/bin/env bash
# examples/gn_vs_bn on a tiny setting: a study of GN, BN and LN at batch 32 alone, then
# resumed with batch 2 added (only GN's and BN's batch-2 runs may train: LN runs at the
# largest batch alone), then resumed again (nothing may train, results.json must not change),
# then resumed with other settings (must refuse). Checks results.json's runs, steps, learning
# rates and accuracies, results.md, and study.png when gnuplot exists.
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

common=(--norms gn,bn,ln --train-subset 256 --test-subset 500 --threads 2 --out "$dir/study")
"$exe" "${common[@]}" --batch-sizes 32 --epochs 1 > "$dir/first.log" || { cat "$dir/first.log"; fail "first run"; }
"$exe" "${common[@]}" --batch-sizes 32,2 --epochs 1 --resume > "$dir/second.log" || { cat "$dir/second.log"; fail "second run"; }
cat "$dir/second.log"
[ "$(grep -c 'skipped, already in' "$dir/second.log")" -eq 3 ] || fail "the resumed study did not skip the 3 finished runs"
[ "$(grep -c 'test accuracy' "$dir/second.log")" -eq 2 ] || fail "the resumed study did not train the 2 new runs"

"$check" "$dir/study/results.json" || fail "results.json"
for norm in bn gn ln; do grep -q "^| $norm | " "$dir/study/results.md" || fail "results.md has no $norm row"; done
if command -v gnuplot > /dev/null; then
    [ -s "$dir/study/study.png" ] || fail "gnuplot is installed but there is no study.png"
else
    echo "gnuplot is not installed: study.png not checked"
    grep -q 'gnuplot is not installed' "$dir/second.log" || fail "no message about the missing gnuplot"
fi

cp "$dir/study/results.json" "$dir/before.json"
"$exe" "${common[@]}" --batch-sizes 32,2 --epochs 1 --resume > "$dir/third.log" || { cat "$dir/third.log"; fail "third run"; }
[ "$(grep -c 'skipped, already in' "$dir/third.log")" -eq 5 ] || fail "the second resume did not skip all 5 runs"
! grep -q 'test accuracy' "$dir/third.log" || fail "the second resume trained again"
cmp "$dir/before.json" "$dir/study/results.json" || fail "results.json changed on a resume with nothing to do"

if "$exe" "${common[@]}" --batch-sizes 32,2 --epochs 2 --resume > "$dir/fourth.log" 2>&1; then
    fail "a resume with other settings (--epochs 2) was accepted"
fi
grep -q 'other settings.*epochs 1 vs 2' "$dir/fourth.log" || { cat "$dir/fourth.log"; fail "no clear settings-mismatch error"; }
cmp "$dir/before.json" "$dir/study/results.json" || fail "a refused resume changed results.json"
echo "study smoke test passed: resume skipped finished runs, refused other settings"
