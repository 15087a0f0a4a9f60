"""Fixture cases of broadcast.json: the binary ops under PyTorch's broadcasting, the
comparisons, where and sum_to_size. Written by make_golden.py (`make_golden.py broadcast.json`).

Binary cases are named {op}_{pattern}: every op on every shape pair of PAIRS, which covers
equal shapes, size-1 dims in each of the four dims of a 4-D tensor, missing leading dims, both
operands stretched, a 0-d operand, empty tensors, and a non-contiguous (transposed) operand
on PyTorch's side (tapegrad's tensors are always contiguous: the same values, row-major).
Comparison records hold the outputs only ({"float32": {"out"}, ...}, no gradients); where's
mask is a constant in attrs (it gets no gradient), and so is sum_to_size's target shape.
"""
from collections import OrderedDict

import torch

from golden_common import away_from_zero, exact, fmt32, fmt64, rand, randn, run_case, seed_of

BINARY = OrderedDict([
    ("add", torch.add),
    ("sub", torch.sub),
    ("mul", torch.mul),
    ("div", torch.div),
    ("pow", torch.pow),
    ("maximum", torch.maximum),
    ("minimum", torch.minimum),
])

# (pattern, shape of a, shape of b, transpose a on PyTorch's side)
PAIRS = [
    ("same", (2, 3, 4), (2, 3, 4), False),
    ("dim0", (2, 3, 2, 3), (1, 3, 2, 3), False),
    ("dim1", (2, 3, 2, 3), (2, 1, 2, 3), False),
    ("dim2", (2, 3, 2, 3), (2, 3, 1, 3), False),
    ("dim3", (2, 3, 2, 3), (2, 3, 2, 1), False),
    ("channel", (2, 3, 2, 3), (3, 1, 1), False),
    ("sample_plane", (2, 3, 2, 3), (2, 1, 2, 3), False),
    ("leading", (3, 4), (4,), False),
    ("a_stretched", (4,), (3, 4), False),
    ("both", (3, 1), (1, 4), False),
    ("both_rank3", (2, 1, 4), (3, 1), False),
    ("zero_dim", (3, 4), (), False),
    ("zero_dim_first", (), (3, 4), False),
    ("empty", (0, 3), (1, 3), False),
    ("empty_leading", (2, 0, 3), (3,), False),
    ("transposed", (4, 5), (5,), True),
]


def operand(op, which, shape):
    if op == "div" and which == "b":
        return away_from_zero(*shape)
    if op == "pow" and which == "a":
        return 0.5 + 1.5 * rand(*shape)  # a positive base: ln a is defined
    if op in ("maximum", "minimum"):
        # Values on a grid of 0.5, so that a and b tie often; a tie splits the gradient.
        return torch.round(2 * randn(*shape)) / 2
    return randn(*shape)


def binary_case(op, pattern, a_shape, b_shape, transposed):
    f = BINARY[op]

    def make_inputs():
        a = operand(op, "a", a_shape)
        if transposed:
            # The same values, laid out column-major: PyTorch runs its strided path.
            a = a.t().contiguous().t()
        return [("a", a), ("b", operand(op, "b", b_shape))]

    return run_case(op + "_" + pattern, op, f, make_inputs, {})


def scalar_pow_cases():
    return [
        run_case("pow_scalar_exponent_2", "pow_scalar", lambda x: torch.pow(x, 2.0),
                 lambda: [("x", randn(3, 4))], OrderedDict([("exponent", 2.0)])),
        run_case("pow_scalar_exponent_3_negative_base", "pow_scalar", lambda x: torch.pow(x, 3.0),
                 lambda: [("x", randn(2, 5))], OrderedDict([("exponent", 3.0)])),
        run_case("pow_scalar_exponent_half", "pow_scalar", lambda x: torch.pow(x, 0.5),
                 lambda: [("x", 0.5 + rand(4, 3))], OrderedDict([("exponent", 0.5)])),
        run_case("pow_scalar_base", "pow_scalar_base", lambda x: torch.pow(2.5, x),
                 lambda: [("x", randn(3, 4))], OrderedDict([("base", 2.5)])),
    ]


COMPARISONS = OrderedDict([
    ("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le), ("gt", torch.gt), ("ge", torch.ge),
])


def comparison_case(op, pattern, a_shape, b_shape):
    """Outputs only: 1.0 where true, 0.0 where false, for both dtypes."""
    name = op + "_" + pattern
    torch.manual_seed(seed_of(name))
    a = torch.round(2 * randn(*a_shape)) / 2
    b = torch.round(2 * randn(*b_shape)) / 2
    record = OrderedDict([("name", name), ("op", op), ("attrs", {}),
                          ("inputs", OrderedDict([("a", {"shape": list(a.shape), "data": exact(a)}),
                                                  ("b", {"shape": list(b.shape), "data": exact(b)})]))])
    out = COMPARISONS[op](a, b)
    record["dy"] = {"shape": list(out.shape), "data": []}
    for dtype, key, fmt in ((torch.float32, "float32", fmt32), (torch.float64, "float64", fmt64)):
        record[key] = {"out": fmt(COMPARISONS[op](a.to(dtype), b.to(dtype)).to(dtype)), "grads": {}}
    return record


def where_case(name, mask_shape, a_shape, b_shape):
    torch.manual_seed(seed_of(name + "_mask"))
    mask = (rand(*mask_shape) < 0.5).to(torch.float32)
    attrs = OrderedDict([("mask", {"shape": list(mask.shape), "data": exact(mask)})])
    return run_case(name, "where", lambda a, b: torch.where(mask.to(a.dtype) != 0, a, b),
                    lambda: [("a", randn(*a_shape)), ("b", randn(*b_shape))], attrs)


WHERE_CASES = [
    ("where_same", (3, 4), (3, 4), (3, 4)),
    ("where_mask_stretched", (3, 1), (3, 4), (3, 4)),
    ("where_operands_stretched", (2, 3, 4), (3, 1), (4,)),
    ("where_zero_dim_operand", (3, 4), (3, 4), ()),
    ("where_empty", (0, 4), (1, 4), (4,)),
]

SUM_TO_SIZE_CASES = [
    ("sum_to_size_channel", (2, 3, 4, 5), [3, 1, 1]),
    ("sum_to_size_sample_plane", (2, 3, 4, 5), [2, 1, 4, 5]),
    ("sum_to_size_dims_0_2", (2, 3, 4, 5), [1, 3, 1, 5]),
    ("sum_to_size_leading", (2, 3, 4, 5), [4, 5]),
    ("sum_to_size_last", (2, 3, 4), [2, 3, 1]),
    ("sum_to_size_all", (2, 3, 4), [1]),
    ("sum_to_size_zero_dim", (2, 3), []),
    ("sum_to_size_same", (2, 3), [2, 3]),
    ("sum_to_size_empty", (0, 3), [1, 3]),
]


def sum_to_size_case(name, shape, target):
    return run_case(name, "sum_to_size", lambda x: x.sum_to_size(target),
                    lambda: [("x", randn(*shape))], OrderedDict([("shape", target)]))


def cases():
    out = []
    for op in BINARY:
        for pattern, a_shape, b_shape, transposed in PAIRS:
            out.append(binary_case(op, pattern, a_shape, b_shape, transposed))
    out += scalar_pow_cases()
    for op in COMPARISONS:
        for pattern, a_shape, b_shape, _ in PAIRS[:8] + PAIRS[9:10] + PAIRS[13:14]:
            out.append(comparison_case(op, pattern, a_shape, b_shape))
    out += [where_case(*c) for c in WHERE_CASES]
    out += [sum_to_size_case(*c) for c in SUM_TO_SIZE_CASES]
    return out
