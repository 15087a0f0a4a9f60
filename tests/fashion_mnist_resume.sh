#!/usr/bin/env bash
# --resume reproduces the trajectory: a 3-epoch run on 1,280 images (with augmentation) is
# run straight through, and again stopped after epoch 1 and resumed from its checkpoint.
# Every metric but the timings, and the final model file, must be identical. The same again
# with BatchNorm (--norm bn: the checkpoint then holds int64 num_batches_tracked counters), on
# 2 epochs, exporting the model as safetensors (--export); and with --optimizer adamw (the
# checkpoint then holds Adam's moments and each parameter's step count).
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

bn=(--epochs 2 --limit-train 640 --limit-test 200 --threads 2 --seed 3 --norm bn)
"$exe" "${bn[@]}" --out "$dir/bn_straight" --export "$dir/bn.safetensors" > "$dir/bn_straight.log"
"$exe" "${bn[@]}" --out "$dir/bn_resumed" --stop-after 1 > "$dir/bn_stopped.log"
"$exe" --resume "$dir/bn_resumed/checkpoint.cbor" --out "$dir/bn_resumed" > "$dir/bn_resumed.log"
if ! diff <(without_timings "$dir/bn_straight/metrics.jsonl") <(without_timings "$dir/bn_resumed/metrics.jsonl"); then
    echo "FAIL: with --norm bn, the resumed run's metrics differ from the uninterrupted run's"
    exit 1
fi
cmp "$dir/bn_straight/model.cbor" "$dir/bn_resumed/model.cbor"
# The export: a safetensors header naming BatchNorm's buffers under PyTorch's keys.
header=$(head -c 4096 "$dir/bn.safetensors" | tr -d '\0' | tail -c +9)
for key in '"0.weight"' '"1.running_mean"' '"1.num_batches_tracked":{"dtype":"I64"'; do
    grep -qF "$key" <<< "$header" || { echo "FAIL: $key not in the exported header"; exit 1; }
done

aw=(--epochs 2 --limit-train 640 --limit-test 200 --threads 2 --seed 5 --optimizer adamw)
"$exe" "${aw[@]}" --out "$dir/aw_straight" > "$dir/aw_straight.log"
"$exe" "${aw[@]}" --out "$dir/aw_resumed" --stop-after 1 > "$dir/aw_stopped.log"
"$exe" --resume "$dir/aw_resumed/checkpoint.cbor" --out "$dir/aw_resumed" > "$dir/aw_resumed.log"
grep -q "optimizer adamw" "$dir/aw_resumed.log" || { echo "FAIL: the resumed run did not take AdamW from the checkpoint"; exit 1; }
if ! diff <(without_timings "$dir/aw_straight/metrics.jsonl") <(without_timings "$dir/aw_resumed/metrics.jsonl"); then
    echo "FAIL: with --optimizer adamw, the resumed run's metrics differ from the uninterrupted run's"
    exit 1
fi
cmp "$dir/aw_straight/model.cbor" "$dir/aw_resumed/model.cbor"
echo "resumed runs match the uninterrupted ones (GroupNorm: $(wc -l < "$dir/resumed/metrics.jsonl") epochs, BatchNorm: 2, AdamW: 2), identical models; the export has PyTorch's keys"
