"""Generate the PyTorch golden fixtures group_norm.json and ops.json (forward outputs and
input gradients, in float32 and float64) that the C++ autodiff tests compare against.
Rerun from the repository root with: /usr/bin/python3 tests/golden/make_golden.py
"""
# Coverage (case names; see GROUP_NORM_CASES and OPS_CASES below):
#
# group_norm.json -- op "group_norm", attrs {num_groups, eps, affine}, inputs x[, weight, bias]
#   seed_g3, seed_g6, seed_g1            (20, 6, 10, 10), the seed doc's examples, shared x
#   rank2_g1, rank2_g2_noaffine, rank2_g_eq_c (group size 1)
#   rank3_g1, rank3_odd_g3, rank3_g_eq_c_noaffine, n1_rank3_noaffine
#   rank4_odd_g2, rank4_odd_g_eq_c_noaffine, rank4_g1_noaffine, rank4_c12_g4, n1_rank4
#   inner1_g4, inner1_g2_noaffine         (4, 8, 1, 1)
#   rank5_g3, n1_rank5_g1_noaffine, rank5_g_eq_c
#   eps_1e-3, eps_0.1_noaffine, small_variance (3 + 0.01 * randn, eps 1e-4)
#   large_mean, large_mean_g1_noaffine    (x = 1000 + randn)
#   constant_group, constant_group_noaffine_eps_1e-3  (one (n, group) slice all equal)
#
# ops.json
#   add/sub/mul/div: {op}_same, {op}_scalar, {op}_scalar_first,
#                    {op}_channel_rank4, {op}_channel_rank2, {op}_channel_rank3
#   relu_rank2, relu_rank4, exp_rank2, exp_rank4, log_rank2, log_rank3
#   sum_rank3, sum_rank1, mean_rank3, mean_rank2
#   reshape_2d, reshape_infer, flatten_rank4, flatten_rank3
#   matmul_3x4x5, matmul_7x16x3, linear_4x6x3, linear_1x8x5
#   log_softmax_small, log_softmax_large_logits
#   cross_entropy_small, cross_entropy_large_logits
#
# Conventions: inputs and dy are drawn once in float32 (torch.manual_seed per case) and stored
# exactly; the op then runs once on float32 tensors and once on the same values cast to float64.
# Scalar outputs get a random scalar seed gradient dy (shape []). float32 results are written with
# 9 significant digits, float64 results with 17 (shortest round-trip repr).

import json
import os
import zlib
from collections import OrderedDict

import torch
import torch.nn.functional as F

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


# --------------------------------------------------------------------------------------------
# group_norm
# --------------------------------------------------------------------------------------------

SEED_X = 20240601  # shared seed: seed_g3 / seed_g6 / seed_g1 see the same x

# (name, shape, num_groups, affine, eps, x transform or None, seed override)
GROUP_NORM_CASES = [
    ("seed_g3", (20, 6, 10, 10), 3, True, 1e-5, None, SEED_X),
    ("seed_g6", (20, 6, 10, 10), 6, True, 1e-5, None, SEED_X),
    ("seed_g1", (20, 6, 10, 10), 1, True, 1e-5, None, SEED_X),
    ("rank2_g1", (4, 6), 1, True, 1e-5, None, None),
    ("rank2_g2_noaffine", (5, 6), 2, False, 1e-5, None, None),
    ("rank2_g_eq_c", (4, 6), 6, True, 1e-5, None, None),
    ("rank3_g1", (3, 4, 9), 1, True, 1e-5, None, None),
    ("rank3_odd_g3", (3, 6, 17), 3, True, 1e-5, None, None),
    ("rank3_g_eq_c_noaffine", (2, 5, 11), 5, False, 1e-5, None, None),
    ("n1_rank3_noaffine", (1, 8, 13), 4, False, 1e-5, None, None),
    ("rank4_odd_g2", (2, 4, 5, 7), 2, True, 1e-5, None, None),
    ("rank4_odd_g_eq_c_noaffine", (2, 4, 5, 7), 4, False, 1e-5, None, None),
    ("rank4_g1_noaffine", (3, 6, 4, 4), 1, False, 1e-5, None, None),
    ("rank4_c12_g4", (2, 12, 3, 3), 4, True, 1e-5, None, None),
    ("n1_rank4", (1, 6, 5, 5), 2, True, 1e-5, None, None),
    ("inner1_g4", (4, 8, 1, 1), 4, True, 1e-5, None, None),
    ("inner1_g2_noaffine", (4, 8, 1, 1), 2, False, 1e-5, None, None),
    ("rank5_g3", (2, 6, 3, 4, 5), 3, True, 1e-5, None, None),
    ("n1_rank5_g1_noaffine", (1, 4, 2, 3, 3), 1, False, 1e-5, None, None),
    ("rank5_g_eq_c", (2, 4, 3, 3, 2), 4, True, 1e-5, None, None),
    ("eps_1e-3", (2, 6, 4, 4), 3, True, 1e-3, None, None),
    ("eps_0.1_noaffine", (3, 4, 6), 2, False, 0.1, None, None),
    ("small_variance", (2, 4, 6), 2, True, 1e-4, lambda x: 3.0 + 0.01 * x, None),
    ("large_mean", (2, 6, 5, 5), 3, True, 1e-5, lambda x: 1000.0 + x, None),
    ("large_mean_g1_noaffine", (3, 4, 8), 1, False, 1e-5, lambda x: 1000.0 + x, None),
]


def set_constant(channels, value):
    """x[1, channels] = value: makes one (n, group) slice constant (variance exactly 0)."""
    def transform(x):
        x = x.clone()
        x[1 if x.shape[0] > 1 else 0, channels] = value
        return x
    return transform


GROUP_NORM_CASES += [
    # G=3 on C=6: channels 2:4 are group 1 of sample 1.
    ("constant_group", (2, 6, 4, 4), 3, True, 1e-5, set_constant(slice(2, 4), 0.75), None),
    # G=2 on C=4: channels 0:2 are group 0 of sample 1.
    ("constant_group_noaffine_eps_1e-3", (3, 4, 7), 2, False, 1e-3,
     set_constant(slice(0, 2), -1.25), None),
]


def group_norm_case(name, shape, groups, affine, eps, transform, seed):
    channels = shape[1]

    def make_inputs():
        x = randn(*shape)
        if transform is not None:
            x = transform(x)
        inputs = [("x", x)]
        if affine:
            inputs += [("weight", 1.0 + 0.5 * randn(channels)), ("bias", 0.5 * randn(channels))]
        return inputs

    def fn(x, weight=None, bias=None):
        return F.group_norm(x, groups, weight, bias, eps)

    attrs = OrderedDict([("num_groups", groups), ("eps", eps), ("affine", affine)])
    return run_case(name, "group_norm", fn, make_inputs, attrs, seed)


# --------------------------------------------------------------------------------------------
# ops
# --------------------------------------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}
SCALARS = {"add": 2.5, "sub": 1.25, "mul": -1.5, "div": 2.5}  # exactly representable


def binary_cases(op):
    f = BINARY[op]
    s = SCALARS[op]
    # Divisors (b, or a when it is the divisor of s / a) are kept at |v| >= 0.5.
    divisor = away_from_zero if op == "div" else randn
    cases = [
        (op + "_same", {"mode": "same"}, f,
         lambda: [("a", randn(2, 3, 4, 5)), ("b", divisor(2, 3, 4, 5))]),
        (op + "_scalar", OrderedDict([("mode", "scalar"), ("scalar", s), ("scalar_first", False)]),
         lambda a: f(a, s), lambda: [("a", randn(3, 4))]),
        (op + "_scalar_first",
         OrderedDict([("mode", "scalar"), ("scalar", s), ("scalar_first", True)]),
         lambda a: f(s, a), lambda: [("a", divisor(3, 4))]),
        (op + "_channel_rank4", {"mode": "channel"}, lambda a, b: f(a, b.view(1, -1, 1, 1)),
         lambda: [("a", randn(2, 3, 4, 5)), ("b", divisor(3))]),
        (op + "_channel_rank2", {"mode": "channel"}, lambda a, b: f(a, b.view(1, -1)),
         lambda: [("a", randn(4, 5)), ("b", divisor(5))]),
        (op + "_channel_rank3", {"mode": "channel"}, lambda a, b: f(a, b.view(1, -1, 1)),
         lambda: [("a", randn(2, 4, 6)), ("b", divisor(4))]),
    ]
    return [run_case(name, op, fn, make, attrs) for name, attrs, fn, make in cases]


def relu_input(*shape):
    x = randn(*shape)
    return torch.where(x >= 0, x + 0.01, x - 0.01)  # nothing within 1e-2 of the kink


def positive(*shape):
    return 0.1 + 3.0 * rand(*shape)


def one(name, make):
    return lambda: [(name, make())]


# (name, op, attrs, fn, make_inputs)
OPS_CASES = [
    ("relu_rank2", "relu", {}, F.relu, one("x", lambda: relu_input(4, 5))),
    ("relu_rank4", "relu", {}, F.relu, one("x", lambda: relu_input(2, 3, 4, 5))),
    ("exp_rank2", "exp", {}, torch.exp, one("x", lambda: randn(4, 5))),
    ("exp_rank4", "exp", {}, torch.exp, one("x", lambda: randn(2, 3, 4, 5))),
    ("log_rank2", "log", {}, torch.log, one("x", lambda: positive(4, 5))),
    ("log_rank3", "log", {}, torch.log, one("x", lambda: positive(2, 3, 4))),
    ("sum_rank3", "sum", {}, torch.sum, one("x", lambda: randn(3, 4, 5))),
    ("sum_rank1", "sum", {}, torch.sum, one("x", lambda: randn(7))),
    ("mean_rank3", "mean", {}, torch.mean, one("x", lambda: randn(3, 4, 5))),
    ("mean_rank2", "mean", {}, torch.mean, one("x", lambda: randn(6, 5))),
    ("reshape_2d", "reshape", {"shape": [6, 20]}, lambda x: x.reshape(6, 20),
     one("x", lambda: randn(2, 3, 4, 5))),
    ("reshape_infer", "reshape", {"shape": [-1, 6]}, lambda x: x.reshape(-1, 6),
     one("x", lambda: randn(4, 5, 6))),
    ("flatten_rank4", "flatten", {"start_dim": 1}, lambda x: torch.flatten(x, 1),
     one("x", lambda: randn(2, 3, 4, 5))),
    ("flatten_rank3", "flatten", {"start_dim": 1}, lambda x: torch.flatten(x, 1),
     one("x", lambda: randn(3, 4, 2))),
    ("matmul_3x4x5", "matmul", {}, torch.matmul,
     lambda: [("a", randn(3, 4)), ("b", randn(4, 5))]),
    ("matmul_7x16x3", "matmul", {}, torch.matmul,
     lambda: [("a", randn(7, 16)), ("b", randn(16, 3))]),
    ("linear_4x6x3", "linear", {}, F.linear,
     lambda: [("x", randn(4, 6)), ("weight", randn(3, 6)), ("bias", randn(3))]),
    ("linear_1x8x5", "linear", {}, F.linear,
     lambda: [("x", randn(1, 8)), ("weight", randn(5, 8)), ("bias", randn(5))]),
    ("log_softmax_small", "log_softmax", {"dim": 1}, lambda x: F.log_softmax(x, dim=1),
     one("x", lambda: randn(4, 10))),
    ("log_softmax_large_logits", "log_softmax", {"dim": 1}, lambda x: F.log_softmax(x, dim=1),
     one("x", lambda: 50.0 * randn(3, 7))),
]


def cross_entropy_case(name, n, c, scale):
    # Targets are drawn from their own seeded generator so they do not perturb the input stream.
    gen = torch.Generator().manual_seed(seed_of(name + "/target"))
    target = torch.randint(0, c, (n,), generator=gen)
    attrs = OrderedDict([("target", target.tolist()), ("reduction", "mean")])
    return run_case(name, "cross_entropy",
                    lambda x: F.cross_entropy(x, target, reduction="mean"),
                    one("x", lambda: scale * randn(n, c)), attrs)


def ops_cases():
    cases = []
    for op in BINARY:
        cases += binary_cases(op)
    cases += [run_case(name, op, fn, make, attrs) for name, op, attrs, fn, make in OPS_CASES]
    cases.append(cross_entropy_case("cross_entropy_small", 5, 4, 1.0))
    cases.append(cross_entropy_case("cross_entropy_large_logits", 8, 10, 30.0))
    return cases


def main():
    torch.set_num_threads(1)  # keep reductions' summation order fixed
    write("group_norm.json", [group_norm_case(*c) for c in GROUP_NORM_CASES])
    write("ops.json", ops_cases())


if __name__ == "__main__":
    main()
