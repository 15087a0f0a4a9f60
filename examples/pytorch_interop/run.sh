#!/usr/bin/env bash
# Both directions on the reference CNN, in about two minutes on 2 cores: PyTorch trains one
# short epoch and writes safetensors; tapegrad loads it (the same test accuracy), trains 200 SGD
# steps more and exports; PyTorch loads that (the same test accuracy as tapegrad's). Needs the
# pytorch_interop example built (cmake --build --preset release) and Debian's python3-torch.
#   bash examples/pytorch_interop/run.sh [build dir, default build/release] [output dir, default runs/pytorch_interop]
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build/release}"
out="${2:-runs/pytorch_interop}"
mkdir -p "$out"
/usr/bin/python3 examples/pytorch_interop/torch_to_safetensors.py --out "$out/torch_cnn.safetensors"
"$build/examples/pytorch_interop" --load "$out/torch_cnn.safetensors" --train-steps 200 --export "$out/tapegrad_cnn.safetensors"
/usr/bin/python3 examples/pytorch_interop/safetensors_to_torch.py "$out/tapegrad_cnn.safetensors"
