"""losses.json: the loss functions of torch.nn.functional (forward and the gradients of every
float input, float32 and float64), for tests/test_losses.cpp.

op = the function's name ("cross_entropy_probs": cross_entropy with class probabilities as
targets, a float input of the logits' shape); attrs hold what is not differentiated: reduction, beta / delta,
class targets (flat list, with target_shape and target_tensor: whether the C++ side passes a
LongTensor of that shape or a span), weight / pos_weight ({shape, data} exact float32 values,
or null), ignore_index and label_smoothing. Differences are kept away from the kinks of l1,
smooth_l1 and huber (|d| is never within 0.1·beta of 0 or of beta), so finite differences see
a smooth function. "_noncontig" cases hand PyTorch a transposed (non-contiguous) view; the
fixture stores its values in logical order, which tapegrad (whose tensors are always
contiguous) receives as is. Mean reductions of nothing (NaN in PyTorch) are not fixtures: run_case
requires finite values; test_losses.cpp checks those NaNs directly.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F

from golden_common import exact, rand, randn, run_case, seed_of

REDUCTIONS = ("none", "mean", "sum")


def const(t):
    return None if t is None else OrderedDict([("shape", list(t.shape)), ("data", exact(t))])


def differences(shape, kink):
    """Random signs, |d| in [0.1, 0.9]·kink or [1.1, 2.5]·kink: away from 0 and from the kink."""
    sign = torch.where(rand(*shape) < 0.5, -1.0, 1.0)
    small = kink * (0.1 + 0.8 * rand(*shape))
    large = kink * (1.1 + 1.4 * rand(*shape))
    return sign * torch.where(rand(*shape) < 0.5, small, large)


# --- regression losses ---------------------------------------------------------------------------

POINTWISE = {
    "mse_loss": (lambda x, t, r, p: F.mse_loss(x, t, reduction=r), None, 1.0),
    "l1_loss": (lambda x, t, r, p: F.l1_loss(x, t, reduction=r), None, 1.0),
    "smooth_l1_loss": (lambda x, t, r, p: F.smooth_l1_loss(x, t, reduction=r, beta=p), "beta", 1.0),
    "huber_loss": (lambda x, t, r, p: F.huber_loss(x, t, reduction=r, delta=p), "delta", 1.0),
}


def pointwise_case(name, op, shape, reduction, param=None, noncontig=False):
    fn, pname, default = POINTWISE[op]
    p = default if param is None else param
    kink = p if p > 0 else 1.0

    def make_inputs():
        x = randn(*shape)
        t = x - differences(shape, kink)
        if noncontig:
            x, t = x.transpose(0, 1), t.transpose(0, 1)
        return [("input", x), ("target", t)]

    attrs = OrderedDict([("reduction", reduction)])
    if pname is not None:
        attrs[pname] = p
    return run_case(name, op, lambda x, t: fn(x, t, reduction, p), make_inputs, attrs)


def pointwise_cases():
    cases = []
    for op in POINTWISE:
        for r in REDUCTIONS:
            cases.append(pointwise_case("%s_%s" % (op, r), op, (3, 4, 5), r))
        cases.append(pointwise_case(op + "_rank4_odd", op, (2, 3, 1, 5), "mean"))
        cases.append(pointwise_case(op + "_scalar", op, (), "none"))
        cases.append(pointwise_case(op + "_empty_sum", op, (0, 3), "sum"))
        cases.append(pointwise_case(op + "_empty_none", op, (2, 0), "none"))
        cases.append(pointwise_case(op + "_noncontig", op, (4, 6), "none", noncontig=True))
    cases.append(pointwise_case("smooth_l1_loss_beta_0.5", "smooth_l1_loss", (4, 9), "mean", 0.5))
    cases.append(pointwise_case("smooth_l1_loss_beta_2_sum", "smooth_l1_loss", (5, 7), "sum", 2.0))
    cases.append(pointwise_case("smooth_l1_loss_beta_0", "smooth_l1_loss", (3, 8), "none", 0.0))
    cases.append(pointwise_case("huber_loss_delta_0.5", "huber_loss", (4, 9), "mean", 0.5))
    cases.append(pointwise_case("huber_loss_delta_2_none", "huber_loss", (5, 7), "none", 2.0))
    cases.append(pointwise_case("mse_loss_odd_sum", "mse_loss", (101,), "sum"))
    return cases


# --- class-index losses ----------------------------------------------------------------------------

def class_case(name, op, shape, reduction="mean", weighted=False, ignore=0, ignore_index=-100,
               label_smoothing=0.0, scale=1.0, target_tensor=False, noncontig=False):
    """op "nll_loss" or "cross_entropy" on an input of `shape` ((N, C), (N, C, d...) or (C)):
    targets drawn from their own generator, `ignore` of them set to ignore_index."""
    gen = torch.Generator().manual_seed(seed_of(name + "/target"))
    C = shape[0] if len(shape) == 1 else shape[1]
    target_shape = [] if len(shape) == 1 else [shape[0]] + list(shape[2:])
    target = torch.randint(0, C, target_shape, generator=gen)
    flat = target.reshape(-1)
    if ignore:
        flat[torch.randperm(flat.numel(), generator=gen)[:ignore]] = ignore_index
    weight = (0.2 + 2.0 * torch.rand(C, generator=gen)) if weighted else None

    def fn(x):
        w = None if weight is None else weight.to(x.dtype)
        if op == "nll_loss":
            return F.nll_loss(x, target, weight=w, reduction=reduction, ignore_index=ignore_index)
        return F.cross_entropy(x, target, weight=w, reduction=reduction, ignore_index=ignore_index,
                               label_smoothing=label_smoothing)

    def make_inputs():
        x = scale * randn(*shape)
        if noncontig:
            x = x.transpose(0, 1).contiguous().transpose(0, 1)  # the same values, column-major
        return [("input", x)]

    attrs = OrderedDict([("reduction", reduction), ("target", target.reshape(-1).tolist()),
                         ("target_shape", target_shape), ("target_tensor", target_tensor),
                         ("weight", const(weight)), ("ignore_index", ignore_index),
                         ("label_smoothing", label_smoothing)])
    return run_case(name, op, fn, make_inputs, attrs)


def class_cases():
    cases = []
    for op in ("nll_loss", "cross_entropy"):
        for r in REDUCTIONS:
            cases.append(class_case("%s_%s" % (op, r), op, (5, 4), r, target_tensor=(r == "sum")))
            cases.append(class_case("%s_weight_%s" % (op, r), op, (6, 5), r, weighted=True))
            cases.append(class_case("%s_ignore_%s" % (op, r), op, (7, 4), r, ignore=2, target_tensor=True))
            cases.append(class_case("%s_weight_ignore_%s" % (op, r), op, (7, 4), r, weighted=True, ignore=3))
            cases.append(class_case("%s_spatial_%s" % (op, r), op, (2, 3, 4, 4), r, weighted=(r != "none"),
                                    ignore=3, target_tensor=True))
        cases.append(class_case(op + "_ignore_index_1", op, (6, 3), "mean", ignore=2, ignore_index=1))
        cases.append(class_case(op + "_rank3", op, (3, 4, 5), "mean", weighted=True))
        cases.append(class_case(op + "_rank5", op, (2, 3, 2, 2, 3), "sum", ignore=2))
        cases.append(class_case(op + "_unbatched", op, (6,), "mean"))
        cases.append(class_case(op + "_unbatched_tensor", op, (4,), "none", weighted=True, target_tensor=True))
        cases.append(class_case(op + "_empty_sum", op, (0, 4), "sum"))
        cases.append(class_case(op + "_empty_none", op, (0, 4), "none", target_tensor=True))
        cases.append(class_case(op + "_noncontig", op, (5, 6), "mean", ignore=1))
    # label smoothing: with and without weights, with ignored targets, spatial.
    for r in REDUCTIONS:
        cases.append(class_case("cross_entropy_smooth_%s" % r, "cross_entropy", (5, 4), r, label_smoothing=0.1))
        cases.append(class_case("cross_entropy_smooth_weight_%s" % r, "cross_entropy", (6, 5), r, weighted=True,
                                label_smoothing=0.1))
        cases.append(class_case("cross_entropy_smooth_ignore_%s" % r, "cross_entropy", (7, 4), r, ignore=2,
                                label_smoothing=0.1))
        cases.append(class_case("cross_entropy_smooth_weight_ignore_%s" % r, "cross_entropy", (7, 4), r,
                                weighted=True, ignore=2, label_smoothing=0.1))
        cases.append(class_case("cross_entropy_smooth_spatial_%s" % r, "cross_entropy", (2, 3, 3, 4), r,
                                weighted=True, ignore=2, label_smoothing=0.1, target_tensor=True))
    cases.append(class_case("cross_entropy_smooth_0.3", "cross_entropy", (4, 6), "mean", label_smoothing=0.3))
    cases.append(class_case("cross_entropy_smooth_1", "cross_entropy", (4, 6), "mean", label_smoothing=1.0))
    cases.append(class_case("cross_entropy_large_logits", "cross_entropy", (8, 10), "mean", scale=50.0))
    cases.append(class_case("cross_entropy_large_logits_spatial_smooth", "cross_entropy", (2, 5, 3, 3), "sum",
                            weighted=True, label_smoothing=0.1, scale=50.0, target_tensor=True))
    return cases


def prob_case(name, shape, reduction="mean", weighted=False, label_smoothing=0.0, scale=1.0):
    """op "cross_entropy_probs": cross_entropy with class probabilities of the logits' shape."""
    gen = torch.Generator().manual_seed(seed_of(name + "/weight"))
    C = shape[0] if len(shape) == 1 else shape[1]
    weight = (0.2 + 2.0 * torch.rand(C, generator=gen)) if weighted else None

    def fn(x, q):
        w = None if weight is None else weight.to(x.dtype)
        return F.cross_entropy(x, q, weight=w, reduction=reduction, label_smoothing=label_smoothing)

    def make_inputs():
        x = scale * randn(*shape)
        q = torch.softmax(randn(*shape), dim=0 if len(shape) == 1 else 1)
        return [("input", x), ("target", q)]

    attrs = OrderedDict([("reduction", reduction), ("weight", const(weight)), ("label_smoothing", label_smoothing)])
    return run_case(name, "cross_entropy_probs", fn, make_inputs, attrs)


def prob_cases():
    cases = []
    for r in REDUCTIONS:
        cases.append(prob_case("cross_entropy_probs_%s" % r, (5, 4), r))
        cases.append(prob_case("cross_entropy_probs_weight_smooth_%s" % r, (6, 5), r, weighted=True,
                               label_smoothing=0.1))
    cases.append(prob_case("cross_entropy_probs_weight", (4, 3), "mean", weighted=True))
    cases.append(prob_case("cross_entropy_probs_smooth", (4, 3), "mean", label_smoothing=0.1))
    cases.append(prob_case("cross_entropy_probs_spatial", (2, 3, 4, 4), "mean", weighted=True, label_smoothing=0.1))
    cases.append(prob_case("cross_entropy_probs_spatial_none", (2, 3, 5), "none"))
    cases.append(prob_case("cross_entropy_probs_unbatched", (5,), "sum"))
    cases.append(prob_case("cross_entropy_probs_empty_sum", (0, 4), "sum"))
    cases.append(prob_case("cross_entropy_probs_large_logits", (4, 6), "mean", scale=50.0))
    return cases


# --- binary cross-entropy ----------------------------------------------------------------------------

def bce_case(name, op, shape, reduction="mean", weight_shape=None, pos_weight_shape=None, scale=1.0,
             noncontig=False):
    gen = torch.Generator().manual_seed(seed_of(name + "/weights"))
    weight = None if weight_shape is None else 0.2 + 2.0 * torch.rand(weight_shape, generator=gen)
    pos_weight = None if pos_weight_shape is None else 0.2 + 3.0 * torch.rand(pos_weight_shape, generator=gen)

    def fn(x, t):
        w = None if weight is None else weight.to(x.dtype)
        if op == "binary_cross_entropy":
            return F.binary_cross_entropy(x, t, weight=w, reduction=reduction)
        q = None if pos_weight is None else pos_weight.to(x.dtype)
        return F.binary_cross_entropy_with_logits(x, t, weight=w, reduction=reduction, pos_weight=q)

    def make_inputs():
        if op == "binary_cross_entropy":
            x = 0.05 + 0.9 * rand(*shape)  # probabilities away from 0 and 1
        else:
            x = scale * randn(*shape)
        t = rand(*shape)  # soft targets in [0, 1)
        if noncontig:
            x, t = x.transpose(0, 1), t.transpose(0, 1)
        return [("input", x), ("target", t)]

    attrs = OrderedDict([("reduction", reduction), ("weight", const(weight))])
    if op == "binary_cross_entropy_with_logits":
        attrs["pos_weight"] = const(pos_weight)
    return run_case(name, op, fn, make_inputs, attrs)


def bce_cases():
    cases = []
    for op in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        for r in REDUCTIONS:
            cases.append(bce_case("%s_%s" % (op, r), op, (4, 5), r))
            cases.append(bce_case("%s_weight_%s" % (op, r), op, (4, 5), r, weight_shape=(4, 5)))
        cases.append(bce_case(op + "_weight_per_class", op, (3, 4, 5), "mean", weight_shape=(5,)))
        cases.append(bce_case(op + "_weight_broadcast_mid", op, (2, 3, 4), "sum", weight_shape=(3, 1)))
        cases.append(bce_case(op + "_rank4", op, (2, 3, 2, 3), "mean"))
        cases.append(bce_case(op + "_empty_sum", op, (0, 3), "sum"))
        cases.append(bce_case(op + "_noncontig", op, (3, 5), "none", noncontig=True))
    lg = "binary_cross_entropy_with_logits"
    for r in REDUCTIONS:
        cases.append(bce_case("%s_pos_weight_%s" % (lg, r), lg, (4, 5), r, pos_weight_shape=(5,)))
    cases.append(bce_case(lg + "_pos_weight_and_weight", lg, (3, 4), "mean", weight_shape=(3, 4), pos_weight_shape=(4,)))
    cases.append(bce_case(lg + "_large_logits", lg, (4, 6), "mean", scale=50.0))
    cases.append(bce_case(lg + "_large_logits_pos_weight_sum", lg, (4, 6), "sum", pos_weight_shape=(6,), scale=50.0))
    return cases


def cases():
    return pointwise_cases() + class_cases() + prob_cases() + bce_cases()
