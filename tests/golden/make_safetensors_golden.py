#!/usr/bin/python3
"""Writes the PyTorch-made safetensors fixtures of tests/test_safetensors.cpp, with the writer of
examples/pytorch_interop/torch_to_safetensors.py (python3-torch and the standard library only):

  safetensors_small_cnn.safetensors     the state_dict of a small nn.Sequential -- conv, GroupNorm,
                                        ReLU, max-pool, conv, BatchNorm2d (after 3 training batches:
                                        running statistics and num_batches_tracked = 3), ReLU,
                                        max-pool, flatten, linear, ReLU, linear -- with every
                                        affine weight drawn at random
  safetensors_small_cnn_io.safetensors  "x" (4, 1, 12, 12) and PyTorch's eval-mode "logits" (4, 10)
  safetensors_dtypes.safetensors        F16, BF16, F64 and I64 tensors (normal, subnormal, +-0,
                                        +-inf, NaN, extremes) with PyTorch's float32 of each float
                                        one ("<name>.as_f32"), a 0-d tensor, an empty one, and
                                        "__metadata__" as huggingface's writer leaves it

Rerun from the repository root: /usr/bin/python3 tests/golden/make_safetensors_golden.py
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "pytorch_interop"))
from torch_to_safetensors import save_safetensors  # noqa: E402


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 3 * 3, 16), nn.ReLU(), nn.Linear(16, 10))


def cnn_fixtures():
    torch.manual_seed(12)
    model = small_cnn()
    with torch.no_grad():
        for layer in (model[1], model[5]):
            layer.weight.copy_(1 + 0.5 * torch.randn_like(layer.weight))
            layer.bias.copy_(0.5 * torch.randn_like(layer.bias))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 1, 12, 12))
    model.eval()
    x = torch.randn(4, 1, 12, 12)
    with torch.no_grad():
        logits = model(x)
    save_safetensors(model.state_dict(), os.path.join(HERE, "safetensors_small_cnn.safetensors"),
                     {"producer": "PyTorch " + torch.__version__, "generator": "tests/golden/make_safetensors_golden.py"})
    save_safetensors({"x": x, "logits": logits}, os.path.join(HERE, "safetensors_small_cnn_io.safetensors"))


def dtype_fixture():
    inf, nan = float("inf"), float("nan")
    f16 = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 6.103515625e-05, 5.960464477539063e-08,
                        -6.097555160522461e-05, 0.1, inf, -inf, nan], dtype=torch.float16)
    bf16 = torch.tensor([0.0, -0.0, 1.0, -2.5, 3.3895313892515355e+38, 1.1754943508222875e-38, 9.183549615799121e-41,
                         0.1, 3.140625, inf, -inf, nan], dtype=torch.bfloat16)
    tensors = {
        "f16": f16.reshape(13),
        "f16.as_f32": f16.float(),
        "bf16": bf16.reshape(3, 4),
        "bf16.as_f32": bf16.float().reshape(3, 4),
        "f64": torch.tensor([[0.1, -1e300], [5e-324, 2.0 / 3.0]], dtype=torch.float64),
        "i64": torch.tensor([0, -1, 2 ** 62, -2 ** 63, 2 ** 63 - 1], dtype=torch.int64),
        "scalar": torch.tensor(7.25),
        "empty": torch.zeros(0, 3),
    }
    save_safetensors(tensors, os.path.join(HERE, "safetensors_dtypes.safetensors"), {"format": "pt"})


def main():
    torch.set_num_threads(1)  # keep reductions' summation order fixed
    cnn_fixtures()
    dtype_fixture()


if __name__ == "__main__":
    main()
