"""Fixture cases of math.json: the unary math ops (sqrt ... clamp, and exp, log, neg),
written by make_golden.py (`make_golden.py math.json`). Case names are {op}_{what}; each op
has a rank-2, a rank-4 and an empty case, and the cases its numerics need: large |x| for
sigmoid, silu and softplus (no overflow, softplus above its threshold returns x), non-default
parameters, and clamp with one bound, both, and min > max. Inputs stay 0.05 away from kinks
and clamp bounds, where finite differences are not the gradient (the bounds themselves are
checked in test_math).
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F

from golden_common import rand, randn, run_case


def away_from(points, make):
    """make() with every value within 0.05 of one of `points` moved 0.1 further away."""
    def f(*shape):
        x = make(*shape)
        for p in points:
            near = (x - p).abs() < 0.05
            x = torch.where(near, x + torch.where(x >= p, 0.1, -0.1), x)
        return x
    return f


def positive(*shape):
    return 0.1 + 3.0 * rand(*shape)


def large(*shape):
    """|x| in [20, 40), random signs: where exp overflows for a naive formula."""
    sign = torch.where(rand(*shape) < 0.5, -1.0, 1.0)
    return sign * (20.0 + 20.0 * rand(*shape))


def wide(*shape):
    return 3.0 * randn(*shape)


SHAPES = [("rank2", (3, 4)), ("rank4", (2, 3, 2, 3)), ("empty", (0, 3))]

# (op, attrs, fn, input maker, extra (suffix, maker) cases)
UNARY = [
    ("exp", {}, torch.exp, randn, []),
    ("log", {}, torch.log, positive, []),
    ("neg", {}, torch.neg, randn, []),
    ("sqrt", {}, torch.sqrt, positive, []),
    ("rsqrt", {}, torch.rsqrt, positive, []),
    ("abs", {}, torch.abs, away_from([0.0], randn), []),
    ("sigmoid", {}, torch.sigmoid, wide, [("large", large)]),
    ("tanh", {}, torch.tanh, wide, [("large", large)]),
    ("silu", {}, F.silu, wide, [("large", large)]),
    ("gelu", OrderedDict([("approximate", "none")]), lambda x: F.gelu(x), wide, []),
    ("gelu", OrderedDict([("approximate", "tanh")]), lambda x: F.gelu(x, approximate="tanh"), wide, []),
    ("softplus", OrderedDict([("beta", 1.0), ("threshold", 20.0)]), F.softplus, wide, [("large", large)]),
    ("softplus", OrderedDict([("beta", 2.0), ("threshold", 1.0)]), lambda x: F.softplus(x, 2.0, 1.0),
     away_from([0.5], wide), []),
    ("leaky_relu", OrderedDict([("negative_slope", 0.01)]), F.leaky_relu, away_from([0.0], randn), []),
    ("leaky_relu", OrderedDict([("negative_slope", 0.2)]), lambda x: F.leaky_relu(x, 0.2),
     away_from([0.0], randn), []),
    ("elu", OrderedDict([("alpha", 1.0)]), F.elu, away_from([0.0], randn), []),
    ("elu", OrderedDict([("alpha", 0.5)]), lambda x: F.elu(x, 0.5), away_from([0.0], randn), []),
    ("clamp", OrderedDict([("min", -0.5), ("max", 0.75)]), lambda x: torch.clamp(x, -0.5, 0.75),
     away_from([-0.5, 0.75], randn), []),
    ("clamp", OrderedDict([("min", 0.25)]), lambda x: torch.clamp(x, min=0.25), away_from([0.25], randn), []),
    ("clamp", OrderedDict([("max", -0.25)]), lambda x: torch.clamp(x, max=-0.25), away_from([-0.25], randn), []),
    ("clamp", OrderedDict([("min", 1.0), ("max", -1.0)]), lambda x: torch.clamp(x, 1.0, -1.0),
     away_from([-1.0, 1.0], randn), []),
]


def label(op, attrs):
    """A case-name stem naming the non-default parameters: gelu_tanh, elu_alpha_0.5, ..."""
    defaults = {"approximate": "none", "beta": 1.0, "threshold": 20.0, "negative_slope": 0.01, "alpha": 1.0}
    parts = [op]
    for k, v in attrs.items():
        if op == "clamp":
            parts.append("%s_%g" % (k, v))
        elif defaults.get(k) != v:
            parts.append(v if isinstance(v, str) else "%s_%g" % (k, v))
    return "_".join(parts)


def cases():
    out = []
    for op, attrs, fn, make, extra in UNARY:
        stem = label(op, attrs)
        for suffix, shape in SHAPES:
            out.append(run_case(stem + "_" + suffix, op, fn, (lambda m, s: lambda: [("x", m(*s))])(make, shape), attrs))
        for suffix, maker in extra:
            out.append(run_case(stem + "_" + suffix, op, fn, (lambda m: lambda: [("x", m(3, 4))])(maker), attrs))
    return out
