"""Shared helpers of the fixture generators: make_golden.py and its case modules
(cases_*.py) build their cases with run_case() and write fixtures with write()."""
import json
import os
import zlib
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "tests/golden/make_golden.py"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def exact(t):
    """Flat list of a float32 tensor's values, each an exact double."""
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def fmt32(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


def fmt64(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def randn(*shape):
    return torch.randn(size=shape, dtype=torch.float32)


def rand(*shape):
    return torch.rand(size=shape, dtype=torch.float32)


def away_from_zero(*shape, lo=0.5):
    """Random signs, magnitudes in [lo, lo + 1)."""
    sign = torch.where(rand(*shape) < 0.5, -1.0, 1.0)
    return sign * (lo + rand(*shape))


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def run_case(name, op, fn, make_inputs, attrs=None, seed=None):
    """Build inputs (float32) and dy, evaluate fn in float32 and float64, return the record.

    make_inputs() returns an ordered list of (name, float32 tensor); fn(*tensors) -> output.
    """
    torch.manual_seed(seed_of(name) if seed is None else seed)
    inputs = OrderedDict(make_inputs())
    for v in inputs.values():
        assert v.dtype == torch.float32
    with torch.no_grad():
        out_shape = fn(*inputs.values()).shape
    dy = randn(*out_shape)

    record = OrderedDict()
    record["name"] = name
    record["op"] = op
    record["attrs"] = attrs or {}
    record["inputs"] = OrderedDict(
        (k, {"shape": list(v.shape), "data": exact(v)}) for k, v in inputs.items())
    record["dy"] = {"shape": list(dy.shape), "data": exact(dy)}

    for dtype, key, fmt in ((torch.float32, "float32", fmt32), (torch.float64, "float64", fmt64)):
        xs = [v.to(dtype).requires_grad_(True) for v in inputs.values()]
        out = fn(*xs)
        assert out.dtype == dtype and out.shape == out_shape
        grads = torch.autograd.grad(out, xs, grad_outputs=dy.to(dtype))
        for t in [out, *grads]:
            assert torch.isfinite(t).all(), (name, key)
        record[key] = {"out": fmt(out),
                       "grads": OrderedDict((k, fmt(g)) for k, g in zip(inputs, grads))}
    return record


def pair(v):
    """A 2-D size as [h, w]: an int is both."""
    return [v, v] if isinstance(v, int) else list(v)


def conv2d_case(name, x_shape, w_shape, bias, attrs, **conv_args):
    """A conv2d case: x, weight (scaled by 0.5)[, bias] drawn in that order, F.conv2d with
    conv_args (stride, padding, ...), `attrs` as the fixture records them."""
    import torch.nn.functional as F

    def make_inputs():
        inputs = [("x", randn(*x_shape)), ("weight", 0.5 * randn(*w_shape))]
        if bias:
            inputs.append(("bias", randn(w_shape[0])))
        return inputs

    def fn(x, weight, b=None):
        return F.conv2d(x, weight, b, **conv_args)

    return run_case(name, "conv2d", fn, make_inputs, attrs)


def write(filename, cases):
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    path = os.path.join(HERE, filename)
    doc = OrderedDict([("generator", GENERATOR), ("torch_version", torch.__version__),
                       ("cases", cases)])
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print("%-16s %3d cases  %9d bytes" % (filename, len(cases), os.path.getsize(path)))
