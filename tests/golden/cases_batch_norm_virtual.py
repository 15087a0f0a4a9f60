"""Fixture cases of BatchNorm with a virtual_batch_size ("ghost batches"), written by
make_golden.py (`make_golden.py batch_norm_virtual.json batch_norm_virtual_modules.json`).
PyTorch has no such option: the reference splits the batch, torch.cat([F.batch_norm(x_g) for
x_g in x.split(B)]), so every group of B samples is normalised by its own statistics.

batch_norm_virtual.json -- op "batch_norm_virtual", attrs {virtual_batch_size, eps}, inputs
  x[, weight, bias]: the training forward (batch statistics per group) and its gradients, in
  float32 and float64, as batch_norm.json's cases.
batch_norm_virtual_modules.json -- op "batch_norm_virtual_module": nn.BatchNorm1d / 2d through
  `steps` training calls with virtual_batch_size, then one evaluation call. attrs {kind,
  num_features, eps, momentum (null = None), affine, track_running_stats, virtual_batch_size};
  per step the input x, a seed gradient dy, the float32 output and the gradients of x, weight
  and bias, and the state_dict after the step; then eval_x and eval_out.
  The running statistics are NOT what one torch module called once per group would hold: that
  updates them W times a step, in order. The rule here (Keras's) is ONE update a step with the
  W groups' batch means and unbiased variances averaged; num_batches_tracked counts steps. It is
  computed below in float64 from its formula and checked against W copies of a torch module,
  each fed one group (W data-parallel replicas): their running statistics, averaged, must agree,
  as the update is linear in the batch's statistics.
"""
import copy
from collections import OrderedDict

import torch
import torch.nn.functional as F

from golden_common import exact, randn, run_case, seed_of


def split_batch_norm(x, weight, bias, group, eps):
    """The training forward with ghost batches of `group` samples."""
    return torch.cat([F.batch_norm(xg, None, None, weight, bias, training=True, eps=eps)
                      for xg in x.split(group)])


OP_CASES = [
    # name, input shape, virtual_batch_size, affine, eps
    ("2d_w4", (8, 3, 4, 5), 2, True, 1e-5),
    ("2d_w2_noaffine", (6, 4, 3, 3), 3, False, 1e-5),
    ("2d_w3_planes", (6, 2, 6, 8), 2, True, 1e-5),  # rows of 48: the kernel's planes path
    ("2d_w1", (4, 3, 3, 3), 4, True, 1e-5),  # one group: plain BatchNorm
    ("2d_w6_single_samples", (6, 3, 2, 2), 1, True, 1e-3),  # groups of one sample, 4 values each
    ("1d_rank2_w3", (12, 5), 4, True, 1e-5),
    ("1d_rank2_w4_two_rows", (8, 3), 2, False, 1e-5),
    ("1d_rank3_w2", (6, 3, 7), 3, True, 1e-5),
]


def op_case(name, shape, group, affine, eps):
    C = shape[1]

    def make_inputs():
        inputs = [("x", 0.5 + 1.5 * randn(*shape))]
        if affine:
            inputs += [("weight", 1.0 + 0.5 * randn(C)), ("bias", 0.5 * randn(C))]
        return inputs

    def fn(x, weight=None, bias=None):
        return split_batch_norm(x, weight, bias, group, eps)

    attrs = OrderedDict([("virtual_batch_size", group), ("eps", eps)])
    return run_case(name, "batch_norm_virtual", fn, make_inputs, attrs)


MODULE_CASES = [
    # name, kind, input shape, virtual_batch_size, steps, momentum, affine, track_running_stats
    ("module_2d_w4", "BatchNorm2d", (8, 3, 3, 4), 2, 3, 0.1, True, True),
    ("module_2d_w2_noaffine_momentum_0.5", "BatchNorm2d", (6, 2, 4, 4), 3, 2, 0.5, False, True),
    ("module_2d_w3_cumulative", "BatchNorm2d", (6, 3, 2, 5), 2, 3, None, True, True),
    ("module_2d_w2_untracked", "BatchNorm2d", (4, 3, 3, 3), 2, 2, 0.1, True, False),
    ("module_1d_rank2_w3", "BatchNorm1d", (12, 4), 4, 3, 0.1, True, True),
    ("module_1d_rank3_w2_noaffine", "BatchNorm1d", (6, 3, 5), 3, 2, 0.2, False, True),
    ("module_1d_rank3_w2_cumulative_untracked", "BatchNorm1d", (4, 2, 6), 2, 2, None, False, False),
]


def averaged_update(running_mean, running_var, x, group, factor):
    """Keras's rule, in float64: one update with the groups' statistics averaged."""
    dims = [d for d in range(x.dim()) if d != 1]
    chunks = x.double().split(group)
    mean = torch.stack([xg.mean(dim=dims) for xg in chunks]).mean(dim=0)
    var = torch.stack([xg.var(dim=dims, unbiased=True) for xg in chunks]).mean(dim=0)
    return (1 - factor) * running_mean + factor * mean, (1 - factor) * running_var + factor * var


def state_of(weight, bias, running, count, affine, track):
    """The state_dict record, in PyTorch's order; the running statistics as computed in float64."""
    out = OrderedDict()

    def entry(dtype, values, shape):
        return OrderedDict([("dtype", dtype), ("shape", shape), ("data", values)])

    if affine:
        out["weight"] = entry("float32", exact(weight), list(weight.shape))
        out["bias"] = entry("float32", exact(bias), list(bias.shape))
    if track:
        out["running_mean"] = entry("float32", [float(v) for v in running[0].tolist()], list(running[0].shape))
        out["running_var"] = entry("float32", [float(v) for v in running[1].tolist()], list(running[1].shape))
        out["num_batches_tracked"] = entry("int64", [count], [])
    return out


def module_case(name, kind, shape, group, steps, momentum, affine, track):
    torch.manual_seed(seed_of(name))
    C, eps = shape[1], 1e-5
    weight = 1.0 + 0.5 * randn(C) if affine else None
    bias = 0.5 * randn(C) if affine else None
    running = (torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64))
    # W replicas of a torch module (float64), each to be fed one group: the data-parallel view.
    replica = getattr(torch.nn, kind)(C, eps=eps, momentum=momentum, affine=False, track_running_stats=track).double()
    replicas = [copy.deepcopy(replica) for _ in range(shape[0] // group)]
    initial = state_of(weight, bias, running, 0, affine, track)
    records = []
    for step in range(1, steps + 1):
        x = 0.7 + 1.5 * randn(*shape)
        dy = randn(*shape)
        xs = x.clone().requires_grad_(True)
        params = [p.clone().requires_grad_(True) for p in (weight, bias)] if affine else []
        y = split_batch_norm(xs, *(params or [None, None]), group, eps)
        grads = torch.autograd.grad(y, [xs] + params, grad_outputs=dy)
        record = OrderedDict([("x", {"shape": list(shape), "data": exact(x)}),
                              ("dy", {"shape": list(shape), "data": exact(dy)}),
                              ("out", exact(y)),
                              ("grads", OrderedDict(zip(["x", "weight", "bias"], [exact(g) for g in grads])))])
        if track:
            factor = momentum if momentum is not None else 1.0 / step
            running = averaged_update(*running, x, group, factor)
            with torch.no_grad():
                for r, xg in zip(replicas, x.double().split(group)):
                    r.train()
                    r(xg)
            mean = torch.stack([r.running_mean for r in replicas]).mean(dim=0)
            var = torch.stack([r.running_var for r in replicas]).mean(dim=0)
            assert torch.allclose(mean, running[0], rtol=1e-12, atol=1e-12), name
            assert torch.allclose(var, running[1], rtol=1e-12, atol=1e-12), name
        record["state"] = state_of(weight, bias, running, step, affine, track)
        records.append(record)
    # Evaluation: the running statistics (float32, as the module holds them), or without them
    # each group's own statistics again.
    x = randn(*shape)
    with torch.no_grad():
        if track:
            y = F.batch_norm(x, running[0].float(), running[1].float(), weight, bias, training=False, eps=eps)
        else:
            y = split_batch_norm(x, weight, bias, group, eps)
    attrs = OrderedDict([("kind", kind), ("num_features", C), ("eps", eps), ("momentum", momentum),
                         ("affine", affine), ("track_running_stats", track), ("virtual_batch_size", group)])
    return OrderedDict([("name", name), ("op", "batch_norm_virtual_module"), ("attrs", attrs),
                        ("initial_state", initial), ("steps", records),
                        ("eval_x", {"shape": list(shape), "data": exact(x)}), ("eval_out", exact(y))])


def cases():
    return [op_case(*c) for c in OP_CASES]


def module_cases():
    return [module_case(*c) for c in MODULE_CASES]
