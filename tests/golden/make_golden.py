"""Generate the PyTorch golden fixtures group_norm.json, ops.json, layers.json, optim.json and
layer_norm.json (forward outputs and input gradients, in float32 and float64) that the C++
autodiff tests compare against.
Rerun from the repository root with: /usr/bin/python3 tests/golden/make_golden.py [FILE...]
(e.g. `make_golden.py layer_norm.json` writes only that fixture; no argument writes all).
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
# layers.json -- attrs hold 2-D sizes as [h, w] lists (see LAYERS_CASES)
#   conv2d        {stride, padding, bias}, inputs x, weight[, bias]: stride 1/2/3, padding 0/1/2,
#                 with and without bias, odd and rectangular sizes, 1x1 kernels, kernel = input
#                 (dilation and groups: conv_groups.json, cases_conv_groups.py)
#   max_pool2d    {kernel_size, stride, padding}: inputs are distinct values (no ties), so the
#                 gradient is defined; overlapping windows, padding, all-negative input
#   avg_pool2d    {kernel_size, stride, padding}: count_include_pad=True (PyTorch's default)
#   adaptive_avg_pool2d {output_size}: global (1), overlapping windows, output larger than input
#
# Conventions: inputs and dy are drawn once in float32 (torch.manual_seed per case) and stored
# exactly; the op then runs once on float32 tensors and once on the same values cast to float64.
# Scalar outputs get a random scalar seed gradient dy (shape []). float32 results are written with
# 9 significant digits, float64 results with 17 (shortest round-trip repr).

import json
import os
import sys
import zlib
from collections import OrderedDict

import torch
import torch.nn.functional as F

from golden_common import (GENERATOR, HERE, away_from_zero, conv2d_case, exact, fmt32, fmt64, pair, rand,
                           randn, run_case, seed_of, write)


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


# --------------------------------------------------------------------------------------------
# layers (conv2d, pooling)
# --------------------------------------------------------------------------------------------

def distinct(*shape):
    """A random arrangement of distinct values (steps of 1/8, exact in float32): no max ties."""
    n = 1
    for e in shape:
        n *= e
    return ((torch.randperm(n).to(torch.float32) - n // 2) / 8.0).reshape(shape)


# (name, x shape, weight shape, stride, padding, bias)
CONV2D_CASES = [
    ("conv2d_s1_p0_bias", (2, 3, 7, 6), (4, 3, 3, 3), 1, 0, True),
    ("conv2d_s1_p1_bias", (2, 3, 6, 5), (5, 3, 3, 3), 1, 1, True),
    ("conv2d_s1_p1_nobias", (2, 2, 5, 5), (3, 2, 3, 3), 1, 1, False),
    ("conv2d_s2_p0_nobias_odd", (2, 2, 9, 7), (3, 2, 3, 3), 2, 0, False),
    ("conv2d_s2_p1_bias_odd", (1, 3, 9, 8), (4, 3, 3, 3), 2, 1, True),
    ("conv2d_s2_p1_nobias_even", (2, 2, 8, 8), (3, 2, 3, 3), 2, 1, False),
    ("conv2d_rect_kernel_s21_p01", (2, 3, 7, 9), (4, 3, 3, 2), (2, 1), (0, 1), True),
    ("conv2d_1x1", (2, 5, 4, 3), (3, 5, 1, 1), 1, 0, True),
    ("conv2d_1x1_s2", (2, 3, 5, 5), (4, 3, 1, 1), 2, 0, False),
    ("conv2d_kernel_fills_input", (2, 2, 5, 5), (3, 2, 5, 5), 1, 0, True),
    ("conv2d_p2_k3", (1, 2, 4, 4), (2, 2, 3, 3), 1, 2, True),
    ("conv2d_s3_p1_k4", (2, 2, 11, 10), (3, 2, 4, 4), 3, 1, True),
    ("conv2d_c1_mnist_like", (1, 1, 10, 10), (4, 1, 3, 3), 1, 1, True),
]


def plain_conv2d_case(name, x_shape, w_shape, stride, padding, bias):
    attrs = OrderedDict([("stride", pair(stride)), ("padding", pair(padding)), ("bias", bias)])
    return conv2d_case(name, x_shape, w_shape, bias, attrs, stride=stride, padding=padding)


# (name, op, x shape, kernel_size, stride, padding, make x)
POOL_CASES = [
    ("max_pool2d_k2", "max_pool2d", (2, 3, 8, 8), 2, 2, 0, distinct),
    ("max_pool2d_k2_odd", "max_pool2d", (2, 2, 7, 9), 2, 2, 0, distinct),
    ("max_pool2d_k3_s2", "max_pool2d", (2, 2, 9, 7), 3, 2, 0, distinct),
    ("max_pool2d_k3_s2_p1", "max_pool2d", (2, 2, 8, 7), 3, 2, 1, distinct),
    ("max_pool2d_k3_s1_overlap", "max_pool2d", (1, 2, 6, 5), 3, 1, 0, distinct),
    ("max_pool2d_rect_p1", "max_pool2d", (2, 2, 7, 8), (2, 3), (1, 2), (1, 1), distinct),
    ("max_pool2d_negative_p1", "max_pool2d", (1, 2, 5, 6), 2, 1, 1,
     lambda *shape: distinct(*shape) - 100.0),  # all < 0: the zero padding must not win
    ("avg_pool2d_k2", "avg_pool2d", (2, 3, 8, 8), 2, 2, 0, randn),
    ("avg_pool2d_k3_s2_p1", "avg_pool2d", (2, 2, 9, 7), 3, 2, 1, randn),
    ("avg_pool2d_k3_s1_overlap", "avg_pool2d", (1, 2, 6, 5), 3, 1, 0, randn),
    ("avg_pool2d_rect_p1", "avg_pool2d", (2, 2, 7, 8), (2, 3), (1, 2), (1, 1), randn),
]


def pool_case(name, op, shape, kernel, stride, padding, make_x):
    f = F.max_pool2d if op == "max_pool2d" else F.avg_pool2d
    attrs = OrderedDict([("kernel_size", pair(kernel)), ("stride", pair(stride)),
                         ("padding", pair(padding))])
    return run_case(name, op, lambda x: f(x, kernel, stride, padding), one("x", lambda: make_x(*shape)),
                    attrs)


# (name, x shape, output_size)
ADAPTIVE_CASES = [
    ("adaptive_avg_pool2d_1", (2, 3, 5, 7), 1),
    ("adaptive_avg_pool2d_1_n1", (1, 4, 3, 3), 1),
    ("adaptive_avg_pool2d_2x3_overlap", (2, 2, 7, 8), (2, 3)),
    ("adaptive_avg_pool2d_3_from_4x5", (1, 2, 4, 5), 3),
    ("adaptive_avg_pool2d_upsample", (1, 2, 2, 3), (3, 4)),
]


def adaptive_case(name, shape, output_size):
    attrs = {"output_size": pair(output_size)}
    return run_case(name, "adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, output_size),
                    one("x", lambda: randn(*shape)), attrs)


def layers_cases():
    cases = [plain_conv2d_case(*c) for c in CONV2D_CASES]
    cases += [pool_case(*c) for c in POOL_CASES]
    cases += [adaptive_case(*c) for c in ADAPTIVE_CASES]
    return cases


# --------------------------------------------------------------------------------------------
# optim
# --------------------------------------------------------------------------------------------
#
# optim.json -- kind "problem": x (6, 3), t (6, 4), w0 (3, 4), b0 (4), loss = sum((x·w + b − t)²)
#   kind "sgd": 5 steps of torch.optim.SGD from (w0, b0); w and b after every step, float32
#     and float64: plain, weight_decay, momentum, momentum_dampening, nesterov,
#     weight_decay_momentum, all_dampening, all_nesterov, momentum_step_lr (StepLR(2, 0.5)
#     stepped after every optimizer step)
#   kind "scheduler": get_last_lr() after construction and after each of 20-25 steps:
#     step_lr, cosine, cosine_eta_min, linear_warmup, linear_decay, warmup_then_cosine
#     (SequentialLR of LinearLR and CosineAnnealingLR)

SGD_CASES = [
    ("plain", dict(lr=0.01)),
    ("weight_decay", dict(lr=0.01, weight_decay=0.1)),
    ("momentum", dict(lr=0.01, momentum=0.9)),
    ("momentum_dampening", dict(lr=0.01, momentum=0.9, dampening=0.1)),
    ("nesterov", dict(lr=0.01, momentum=0.9, nesterov=True)),
    ("weight_decay_momentum", dict(lr=0.01, momentum=0.9, weight_decay=5e-4)),
    ("all_dampening", dict(lr=0.01, momentum=0.9, dampening=0.1, weight_decay=5e-4)),
    ("all_nesterov", dict(lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)),
]
SGD_STEPS = 5


def sgd_problem():
    torch.manual_seed(seed_of("optim/problem"))
    return OrderedDict([("x", randn(6, 3)), ("t", randn(6, 4)), ("w0", 0.5 * randn(3, 4)),
                        ("b0", 0.5 * randn(4))])


def sgd_case(name, options, problem, step_lr=None):
    record = OrderedDict([("name", "sgd_" + name), ("kind", "sgd"), ("options", options)])
    if step_lr is not None:
        record["step_lr"] = step_lr
    record["steps"] = SGD_STEPS
    for dtype, key in ((torch.float32, "float32"), (torch.float64, "float64")):
        x, t = problem["x"].to(dtype), problem["t"].to(dtype)
        w = problem["w0"].to(dtype).clone().requires_grad_(True)
        b = problem["b0"].to(dtype).clone().requires_grad_(True)
        opt = torch.optim.SGD([w, b], **options)
        sched = torch.optim.lr_scheduler.StepLR(opt, **step_lr) if step_lr is not None else None
        ws, bs = [], []
        for _ in range(SGD_STEPS):
            opt.zero_grad()
            loss = ((x @ w + b - t) ** 2).sum()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            ws.append(exact(w))
            bs.append(exact(b))
        record[key] = OrderedDict([("w", ws), ("b", bs)])
    return record


def make_scheduler(opt, spec):
    kind, args = spec["type"], spec["args"]
    sched = torch.optim.lr_scheduler
    if kind == "SequentialLR":
        inner = [make_scheduler(opt, s) for s in args["schedulers"]]
        return sched.SequentialLR(opt, inner, milestones=args["milestones"])
    return getattr(sched, kind)(opt, **args)


def scheduler_case(name, base_lr, steps, spec):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(opt, spec)
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    return OrderedDict([("name", name), ("kind", "scheduler"), ("base_lr", base_lr),
                        ("scheduler", spec), ("lrs", lrs)])


def spec(kind, **args):
    return OrderedDict([("type", kind), ("args", OrderedDict(args))])


SCHEDULER_CASES = [
    ("step_lr", 0.1, 20, spec("StepLR", step_size=3, gamma=0.5)),
    ("cosine", 0.1, 25, spec("CosineAnnealingLR", T_max=10)),
    ("cosine_eta_min", 0.05, 20, spec("CosineAnnealingLR", T_max=7, eta_min=0.001)),
    ("linear_warmup", 0.1, 20, spec("LinearLR", start_factor=0.25, end_factor=1.0, total_iters=5)),
    ("linear_decay", 0.2, 12, spec("LinearLR", start_factor=1.0, end_factor=0.1, total_iters=8)),
    ("warmup_then_cosine", 0.1, 25, spec(
        "SequentialLR",
        schedulers=[spec("LinearLR", start_factor=0.1, end_factor=1.0, total_iters=5),
                    spec("CosineAnnealingLR", T_max=15, eta_min=0.002)],
        milestones=[5])),
]


def optim_cases():
    import warnings
    problem = sgd_problem()
    cases = [OrderedDict([("name", "problem"), ("kind", "problem")] +
                         [(k, {"shape": list(v.shape), "data": exact(v)}) for k, v in problem.items()])]
    cases += [sgd_case(name, OrderedDict(options), problem) for name, options in SGD_CASES]
    cases.append(sgd_case("momentum_step_lr", OrderedDict(lr=0.05, momentum=0.9), problem,
                          OrderedDict(step_size=2, gamma=0.5)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's inner step(0) warns about the epoch argument
        cases += [scheduler_case(*c) for c in SCHEDULER_CASES]
    return cases


# group_norm_errors.json -- what F.group_norm raises, or null, for (name, input shape,
# num_groups): PyTorch's one-value-per-group rule (_verify_batch_size on [N*C//G, G, *]),
# checked before the divisibility of C by G, in training and evaluation alike.
GROUP_NORM_ERROR_CASES = [
    ("one_value_rank3", (1, 4, 1), 4),
    ("one_value_rank4", (1, 4, 1, 1), 4),
    ("one_value_rank2", (1, 4), 4),
    ("one_value_before_divisibility", (1, 3, 1), 2),
    ("one_value_rank5", (1, 2, 1, 1, 1), 2),
    ("two_values_by_batch", (2, 4, 1), 4),
    ("two_values_by_channels", (1, 4, 1), 2),
    ("two_values_by_extent", (1, 4, 2), 4),
    ("empty_batch", (0, 4, 1), 4),
]


def group_norm_error_case(name, shape, groups):
    record = OrderedDict([("name", name), ("shape", list(shape)), ("num_groups", groups)])
    try:
        torch.nn.functional.group_norm(torch.zeros(shape), groups)
        record["error"] = None
    except ValueError as e:
        record["error"] = str(e)
    return record


# --------------------------------------------------------------------------------------------
# layer_norm.json -- op "layer_norm", attrs {normalized_shape, eps, elementwise_affine},
# inputs x[, weight, bias] (weight and bias of shape normalized_shape: one value per element)
#   rank2_last1, rank2_last1_noaffine, rank2_all  (2-D input, normalized_shape of 1 dim)
#   rank3_last1, rank3_last2, rank3_last2_noaffine
#   rank4_last1, rank4_last2, rank4_last3 (= GroupNorm(1, C)), rank4_last3_noaffine
#   odd_m (M = 7), eps_1e-3, eps_0.1_noaffine, large_mean (x = 1000 + randn),
#   large_mean_last3_noaffine, small_variance (3 + 0.01 * randn, eps 1e-4)
# --------------------------------------------------------------------------------------------

LAYER_NORM_CASES = [
    # name, input shape, normalized_shape, elementwise_affine, eps, transform
    ("rank2_last1", (4, 6), (6,), True, 1e-5, None),
    ("rank2_last1_noaffine", (5, 3), (3,), False, 1e-5, None),
    ("rank2_all", (1, 8), (8,), True, 1e-5, None),
    ("rank3_last1", (2, 3, 5), (5,), True, 1e-5, None),
    ("rank3_last2", (2, 3, 5), (3, 5), True, 1e-5, None),
    ("rank3_last2_noaffine", (3, 4, 3), (4, 3), False, 1e-5, None),
    ("rank4_last1", (2, 3, 2, 4), (4,), True, 1e-5, None),
    ("rank4_last2", (2, 3, 4, 5), (4, 5), True, 1e-5, None),
    ("rank4_last3", (2, 3, 4, 5), (3, 4, 5), True, 1e-5, None),
    ("rank4_last3_noaffine", (3, 2, 3, 3), (2, 3, 3), False, 1e-5, None),
    ("odd_m", (3, 7), (7,), True, 1e-5, None),
    ("eps_1e-3", (2, 4, 6), (4, 6), True, 1e-3, None),
    ("eps_0.1_noaffine", (3, 5), (5,), False, 0.1, None),
    ("large_mean", (4, 10), (10,), True, 1e-5, lambda x: 1000.0 + x),
    ("large_mean_last3_noaffine", (2, 3, 4, 4), (3, 4, 4), False, 1e-5, lambda x: 1000.0 + x),
    ("small_variance", (3, 2, 6), (2, 6), True, 1e-4, lambda x: 3.0 + 0.01 * x),
]


def layer_norm_case(name, shape, normalized_shape, affine, eps, transform):
    def make_inputs():
        x = randn(*shape)
        if transform is not None:
            x = transform(x)
        inputs = [("x", x)]
        if affine:
            inputs += [("weight", 1.0 + 0.5 * randn(*normalized_shape)),
                       ("bias", 0.5 * randn(*normalized_shape))]
        return inputs

    def fn(x, weight=None, bias=None):
        return F.layer_norm(x, list(normalized_shape), weight, bias, eps)

    attrs = OrderedDict([("normalized_shape", list(normalized_shape)), ("eps", eps),
                         ("elementwise_affine", affine)])
    return run_case(name, "layer_norm", fn, make_inputs, attrs)


# --------------------------------------------------------------------------------------------
# batch_norm.json
# op "batch_norm": F.batch_norm, attrs {training, eps[, running_mean, running_var]}, inputs
#   x[, weight, bias]. Training cases normalise with the batch statistics (no running
#   tensors: the function of x, weight and bias alone); evaluation cases with the running
#   statistics given in attrs (exact float32 values).
# batch_norm_modules.json
# op "batch_norm_module": nn.BatchNorm1d / BatchNorm2d through `steps` training calls, then
#   one evaluation call: attrs {kind, num_features, eps, momentum (null = None), affine,
#   track_running_stats}, the steps' inputs, the state_dict after each step, and the eval
#   output (float32).
# op "batch_norm_error": what the modules raise (or null) for an input shape, in training or
#   evaluation: PyTorch's messages.
# --------------------------------------------------------------------------------------------

BATCH_NORM_CASES = [
    # name, input shape, training, affine, eps, transform
    ("train_2d", (4, 3, 5, 5), True, True, 1e-5, None),
    ("train_2d_noaffine", (3, 4, 3, 5), True, False, 1e-5, None),
    ("train_2d_odd", (5, 3, 7, 3), True, True, 1e-5, None),
    ("train_2d_n1", (1, 4, 3, 3), True, True, 1e-5, None),
    ("train_2d_planes", (3, 2, 6, 8), True, True, 1e-5, None),  # rows of 48: the planes path
    ("train_1d_rank2", (8, 5), True, True, 1e-5, None),
    ("train_1d_rank2_two_rows", (2, 6), True, False, 1e-5, None),
    ("train_1d_rank3", (4, 3, 7), True, True, 1e-5, None),
    ("train_eps_1e-3", (6, 3, 2, 2), True, True, 1e-3, None),
    ("train_large_mean", (4, 3, 4, 4), True, True, 1e-5, lambda x: 1000.0 + x),
    ("train_small_variance", (5, 2, 3, 3), True, True, 1e-4, lambda x: 3.0 + 0.01 * x),
    ("eval_2d", (4, 3, 5, 5), False, True, 1e-5, None),
    ("eval_2d_noaffine", (2, 4, 3, 3), False, False, 1e-5, None),
    ("eval_1d_rank2", (6, 5), False, True, 1e-5, None),
    ("eval_1d_rank3_planes", (3, 2, 20), False, True, 1e-3, None),
    ("eval_n1", (1, 3, 2, 2), False, True, 1e-5, None),
]


def norm_function_case(name, op, shape, batch_stats, affine, eps, transform, with_batch, with_running):
    """A per-channel normalisation's functional form: with_batch(x, weight, bias) normalising
    with the input's statistics, or with_running(x, running_mean, running_var, weight, bias)
    with given ones (drawn here, and recorded in attrs)."""
    C = shape[1]
    torch.manual_seed(seed_of(name) + 1)
    running_mean = 0.5 * randn(C)
    running_var = 0.5 + rand(C)

    def make_inputs():
        x = randn(*shape)
        if transform is not None:
            x = transform(x)
        inputs = [("x", x)]
        if affine:
            inputs += [("weight", 1.0 + 0.5 * randn(C)), ("bias", 0.5 * randn(C))]
        return inputs

    def fn(x, weight=None, bias=None):
        if batch_stats:
            return with_batch(x, weight, bias)
        return with_running(x, running_mean.to(x.dtype), running_var.to(x.dtype), weight, bias)

    flag = "training" if op == "batch_norm" else "use_input_stats"
    attrs = OrderedDict([(flag, batch_stats), ("eps", eps)])
    if not batch_stats:
        attrs["running_mean"] = exact(running_mean)
        attrs["running_var"] = exact(running_var)
    return run_case(name, op, fn, make_inputs, attrs)


def batch_norm_case(name, shape, training, affine, eps, transform):
    return norm_function_case(
        name, "batch_norm", shape, training, affine, eps, transform,
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=eps),
        lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=eps))


BATCH_NORM_MODULE_CASES = [
    # name, kind, input shape, steps, momentum, affine, track_running_stats
    ("module_2d_momentum", "BatchNorm2d", (4, 3, 3, 3), 3, 0.1, True, True),
    ("module_2d_momentum_0.5_noaffine", "BatchNorm2d", (2, 2, 4, 4), 2, 0.5, False, True),
    ("module_2d_cumulative", "BatchNorm2d", (3, 2, 2, 5), 4, None, True, True),
    ("module_2d_untracked", "BatchNorm2d", (3, 2, 3, 3), 2, 0.1, True, False),
    ("module_1d_rank2_cumulative", "BatchNorm1d", (6, 4), 3, None, True, True),
    ("module_1d_rank3", "BatchNorm1d", (3, 4, 5), 2, 0.2, True, True),
]


def norm_module_case(name, op, kind, C, shape, steps, momentum, affine, track):
    """nn.<kind>(C) through `steps` training calls on random inputs, then one evaluation call:
    the state_dict before and after each step, and the evaluation output."""
    torch.manual_seed(seed_of(name))
    m = getattr(torch.nn, kind)(C, eps=1e-5, momentum=momentum, affine=affine, track_running_stats=track)
    if affine:
        with torch.no_grad():
            m.weight.copy_(1.0 + 0.5 * randn(C))
            m.bias.copy_(0.5 * randn(C))
    initial = state_record(m)
    xs, states = [], []
    m.train()
    for _ in range(steps):
        x = 0.7 + 1.5 * randn(*shape)
        with torch.no_grad():
            m(x)
        xs.append({"shape": list(shape), "data": exact(x)})
        states.append(state_record(m))
    m.eval()
    x = randn(*shape)
    with torch.no_grad():
        y = m(x)
    return OrderedDict([
        ("name", name), ("op", op),
        ("attrs", OrderedDict([("kind", kind), ("num_features", C), ("eps", 1e-5), ("momentum", momentum),
                               ("affine", affine), ("track_running_stats", track)])),
        ("initial_state", initial), ("steps", xs), ("states", states),
        ("eval_x", {"shape": list(shape), "data": exact(x)}), ("eval_out", exact(y)),
    ])


def batch_norm_module_case(name, kind, shape, steps, momentum, affine, track):
    return norm_module_case(name, "batch_norm_module", kind, shape[1], shape, steps, momentum, affine, track)


def state_record(m):
    """A module's state_dict: name -> {dtype, shape, data}, in PyTorch's order."""
    out = OrderedDict()
    for k, v in m.state_dict().items():
        out[k] = OrderedDict([("dtype", str(v.dtype).replace("torch.", "")), ("shape", list(v.shape)),
                              ("data", [int(e) for e in v.reshape(-1).tolist()] if v.dtype == torch.int64
                               else exact(v))])
    return out


# The errors F.batch_norm and the modules raise, for (name, kind, input shape, training).
BATCH_NORM_ERROR_CASES = [
    ("one_value_rank2", "BatchNorm1d", (1, 3), True),
    ("one_value_rank4", "BatchNorm2d", (1, 3, 1, 1), True),
    ("one_value_rank3", "BatchNorm1d", (1, 3, 1), True),
    ("one_value_eval_is_fine", "BatchNorm2d", (1, 3, 1, 1), False),
    ("two_values", "BatchNorm1d", (2, 3), True),
    ("rank3_into_2d", "BatchNorm2d", (2, 3, 4), True),
    ("rank4_into_1d", "BatchNorm1d", (2, 3, 4, 4), True),
    ("rank1_into_1d", "BatchNorm1d", (3,), True),
    ("wrong_channels", "BatchNorm2d", (2, 4, 3, 3), True),
]


def batch_norm_error_case(name, kind, shape, training):
    m = getattr(torch.nn, kind)(3)
    m.train(training)
    record = OrderedDict([("name", name), ("op", "batch_norm_error"), ("kind", kind), ("shape", list(shape)),
                          ("training", training)])
    try:
        with torch.no_grad():
            m(torch.ones(shape))
        record["error"] = None
    except (ValueError, RuntimeError) as e:
        record["error"] = str(e)
    return record


# --------------------------------------------------------------------------------------------
# instance_norm.json
# op "instance_norm": F.instance_norm, attrs {use_input_stats, eps[, running_mean,
#   running_var]}, inputs x[, weight, bias]: each (sample, channel) over its spatial
#   positions, or (use_input_stats false) with the running statistics given in attrs.
# instance_norm_modules.json
# op "instance_norm_module": nn.InstanceNorm1d / InstanceNorm2d through `steps` training
#   calls, then one evaluation call, as batch_norm_module (the running statistics are the
#   per-instance ones averaged over the batch); unbatched inputs among them.
# op "instance_norm_error": what the modules raise (or null), PyTorch's messages.
# --------------------------------------------------------------------------------------------

INSTANCE_NORM_CASES = [
    # name, input shape, use_input_stats, affine, eps, transform
    ("rank3", (3, 4, 7), True, True, 1e-5, None),
    ("rank3_noaffine", (2, 3, 5), True, False, 1e-5, None),
    ("rank4", (2, 3, 4, 5), True, True, 1e-5, None),
    ("rank4_noaffine", (3, 2, 3, 3), True, False, 1e-5, None),
    ("rank4_n1_odd", (1, 5, 7, 3), True, True, 1e-5, None),
    ("rank4_two_values", (2, 3, 1, 2), True, True, 1e-5, None),
    ("rank4_planes", (2, 2, 8, 8), True, True, 1e-5, None),
    ("eps_1e-3", (2, 4, 3, 3), True, True, 1e-3, None),
    ("large_mean", (2, 3, 4, 4), True, True, 1e-5, lambda x: 1000.0 + x),
    ("running_rank3", (3, 4, 6), False, True, 1e-5, None),
    ("running_rank4_noaffine", (2, 3, 3, 4), False, False, 1e-5, None),
]


def instance_norm_case(name, shape, use_input_stats, affine, eps, transform):
    return norm_function_case(
        name, "instance_norm", shape, use_input_stats, affine, eps, transform,
        lambda x, w, b: F.instance_norm(x, None, None, w, b, use_input_stats=True, eps=eps),
        lambda x, rm, rv, w, b: F.instance_norm(x, rm, rv, w, b, use_input_stats=False, eps=eps))


INSTANCE_NORM_MODULE_CASES = [
    # name, kind, input shape, steps, momentum, affine, track_running_stats
    ("module_2d_tracked", "InstanceNorm2d", (3, 2, 3, 4), 3, 0.1, True, True),
    ("module_2d_momentum_0.5_noaffine", "InstanceNorm2d", (2, 3, 3, 3), 3, 0.5, False, True),
    ("module_2d_untracked", "InstanceNorm2d", (2, 3, 2, 5), 2, 0.1, True, False),
    ("module_1d_tracked", "InstanceNorm1d", (4, 3, 6), 2, 0.3, True, True),
    ("module_1d_unbatched", "InstanceNorm1d", (3, 7), 2, 0.1, True, True),
    ("module_2d_unbatched", "InstanceNorm2d", (2, 4, 5), 2, 0.1, False, True),
]


def instance_norm_module_case(name, kind, shape, steps, momentum, affine, track):
    batched = len(shape) == (3 if kind == "InstanceNorm1d" else 4)
    C = shape[1] if batched else shape[0]
    return norm_module_case(name, "instance_norm_module", kind, C, shape, steps, momentum, affine, track)


# (name, kind, affine, input shape, training)
INSTANCE_NORM_ERROR_CASES = [
    ("rank4_into_1d", "InstanceNorm1d", False, (2, 3, 4, 4), True),
    ("rank1_into_1d", "InstanceNorm1d", False, (3,), True),
    ("rank2_into_2d", "InstanceNorm2d", False, (3, 4), True),
    ("rank5_into_2d", "InstanceNorm2d", False, (1, 3, 2, 2, 2), True),
    ("one_spatial_element", "InstanceNorm1d", False, (2, 3, 1), True),
    ("one_spatial_element_2d", "InstanceNorm2d", False, (2, 3, 1, 1), True),
    ("one_spatial_element_eval", "InstanceNorm2d", False, (2, 3, 1, 1), False),
    ("one_spatial_element_unbatched", "InstanceNorm1d", False, (3, 1), True),
    ("wrong_channels_affine", "InstanceNorm2d", True, (2, 4, 3, 3), True),
    ("wrong_channels_unbatched_affine", "InstanceNorm1d", True, (4, 5), True),
    ("batch_of_one", "InstanceNorm2d", True, (1, 3, 2, 2), True),
]


def instance_norm_error_case(name, kind, affine, shape, training):
    import warnings
    m = getattr(torch.nn, kind)(3, affine=affine)
    m.train(training)
    record = OrderedDict([("name", name), ("op", "instance_norm_error"), ("kind", kind), ("affine", affine),
                          ("shape", list(shape)), ("training", training)])
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m(torch.ones(shape))
        record["error"] = None
    except (ValueError, RuntimeError) as e:
        record["error"] = str(e)
    return record


# Each fixture and how to make it. `make_golden.py FILE...` writes only the named fixtures
# (PyTorch on another CPU may differ from the committed ones by an ulp: regenerate only what
# you change); with no argument, all of them.
FIXTURES = OrderedDict([
    ("group_norm.json", lambda: [group_norm_case(*c) for c in GROUP_NORM_CASES]),
    ("group_norm_errors.json", lambda: [group_norm_error_case(*c) for c in GROUP_NORM_ERROR_CASES]),
    ("ops.json", lambda: ops_cases()),
    ("layers.json", lambda: layers_cases()),
    ("optim.json", lambda: optim_cases()),
    ("adam.json", lambda: __import__("cases_adam").cases()),
    ("layer_norm.json", lambda: [layer_norm_case(*c) for c in LAYER_NORM_CASES]),
    ("broadcast.json", lambda: __import__("cases_broadcast").cases()),
    ("math.json", lambda: __import__("cases_math").cases()),
    ("batch_norm.json", lambda: [batch_norm_case(*c) for c in BATCH_NORM_CASES]),
    ("instance_norm.json", lambda: [instance_norm_case(*c) for c in INSTANCE_NORM_CASES]),
    ("instance_norm_modules.json", lambda: [instance_norm_module_case(*c) for c in INSTANCE_NORM_MODULE_CASES] +
                                           [instance_norm_error_case(*c) for c in INSTANCE_NORM_ERROR_CASES]),
    ("batch_norm_modules.json", lambda: [batch_norm_module_case(*c) for c in BATCH_NORM_MODULE_CASES] +
                                        [batch_norm_error_case(*c) for c in BATCH_NORM_ERROR_CASES]),
    ("batch_norm_virtual.json", lambda: __import__("cases_batch_norm_virtual").cases()),
    ("batch_norm_virtual_modules.json", lambda: __import__("cases_batch_norm_virtual").module_cases()),
    ("shape.json", lambda: __import__("cases_shape").cases()),
    ("shape_errors.json", lambda: __import__("cases_shape").error_cases()),
    ("reductions.json", lambda: __import__("cases_reductions").cases()),
    ("losses.json", lambda: __import__("cases_losses").cases()),
    ("conv_groups.json", lambda: __import__("cases_conv_groups").cases()),
])


def main(argv):
    torch.set_num_threads(1)  # keep reductions' summation order fixed
    names = argv or list(FIXTURES)
    unknown = [n for n in names if n not in FIXTURES]
    if unknown:
        raise SystemExit("unknown fixture(s) %s; known: %s" % (", ".join(unknown), ", ".join(FIXTURES)))
    for name in names:
        write(name, FIXTURES[name]())


if __name__ == "__main__":
    main(sys.argv[1:])
