#!/usr/bin/env bash
# --resume reproduces the trajectory: a 3-epoch run on 1,280 images (with augmentation) is
# run straight through, and again stopped after epoch 1 and resumed from its checkpoint.
# Every metric but the timings, and the final model file, must be identical.
# Usage: fashion_mnist_resume.sh PATH/TO/fashion_mnist   (exit 77: dataset not installed)
set -euo pipefail
exe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
data=${TAPEGRAD_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "skipped: Fashion-MNIST is not installed in $data"; exit 77; }

common=(--epochs 3 --limit-train 1280 --limit-test 500 --threads 2 --augment --seed 7)
"$exe" "${common[@]}" --out "$dir/straight" > "$dir/straight.log"
"$exe" "${common[@]}" --out "$dir/resumed" --stop-after 1 > "$dir/stopped.log"
grep -q "stopping after epoch 1" "$dir/stopped.log"
"$exe" --resume "$dir/resumed/checkpoint.cbor" --out "$dir/resumed" > "$dir/resumed.log"

without_timings() { sed -E 's/"(images_per_second|seconds)":[^,}]*,?//g' "$1"; }
if ! diff <(without_timings "$dir/straight/metrics.jsonl") <(without_timings "$dir/resumed/metrics.jsonl"); then
    echo "FAIL: the resumed run's metrics differ from the uninterrupted run's"
    exit 1
fi
cmp "$dir/straight/model.cbor" "$dir/resumed/model.cbor"
echo "resumed run matches the uninterrupted one: $(wc -l < "$dir/resumed/metrics.jsonl") epochs, identical model"
