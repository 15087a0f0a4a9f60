"""adam.json: torch.optim.Adam / AdamW trajectories (foreach=False), SGD with parameter groups,
clip_grad_norm_, and the options PyTorch rejects, for tests/test_adam.cpp.

kind "problem": x (6, 3), t (6, 4), w0 (3, 4), b0 (4); loss = sum((x·w + b − t)²), as optim.json's
  (b is left out of the loss on the steps listed in "b_unused", so it has no gradient there:
  PyTorch skips it, and its own step count stays behind).
kind "trajectory": `steps` steps of torch.optim.<optimizer> from (w0, b0) over "groups" (each
  {"params": names, "options": {...}}; the options are the group's complete set), with an
  optional scheduler stepped after every optimizer step; w and b after every step, in float32
  and float64 (each run in its own precision from the same float32 start).
kind "clip": clip_grad_norm_ over gradients g0 (3, 4), g1 (5,) (and a parameter without one),
  for max_norm and norm_type; the total norm and the gradients after, float32 and float64.
kind "error": the ValueError text of torch.optim.<optimizer>(params, **options).
Steps and zero_grad(set_to_none=True) are as the C++ test runs them.
"""
import math
from collections import OrderedDict

import torch

from golden_common import exact, randn, seed_of

STEPS = 8


def problem():
    torch.manual_seed(seed_of("adam/problem"))
    return OrderedDict([("x", randn(6, 3)), ("t", randn(6, 4)), ("w0", 0.5 * randn(3, 4)),
                        ("b0", 0.5 * randn(4))])


def group(params, **options):
    return OrderedDict([("params", params), ("options", OrderedDict(options))])


def spec(kind, **args):
    return OrderedDict([("type", kind), ("args", OrderedDict(args))])


# Every option spelled out in each group, so that the C++ side builds the same aggregate.
def adam_options(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False):
    return dict(lr=lr, betas=list(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                maximize=maximize)


def adamw_options(weight_decay=1e-2, **kw):
    return adam_options(weight_decay=weight_decay, **kw)


def sgd_options(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    return dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                nesterov=nesterov)


WB = ["w", "b"]

# (name, optimizer, groups, scheduler or None, steps on which b has no gradient)
TRAJECTORIES = [
    ("adam_defaults", "Adam", [group(WB, **adam_options())], None, []),
    ("adam_lr", "Adam", [group(WB, **adam_options(lr=0.05))], None, []),
    ("adam_weight_decay", "Adam", [group(WB, **adam_options(lr=0.01, weight_decay=0.1))], None, []),
    ("adam_betas_eps", "Adam", [group(WB, **adam_options(lr=0.02, betas=(0.8, 0.99), eps=1e-3))], None, []),
    ("adam_amsgrad", "Adam", [group(WB, **adam_options(lr=0.05, amsgrad=True))], None, []),
    ("adam_amsgrad_weight_decay", "Adam",
     [group(WB, **adam_options(lr=0.02, weight_decay=0.05, amsgrad=True, betas=(0.5, 0.9)))], None, []),
    ("adam_maximize", "Adam", [group(WB, **adam_options(lr=0.01, maximize=True, weight_decay=0.01))], None, []),
    ("adam_skipped_steps", "Adam", [group(WB, **adam_options(lr=0.03, amsgrad=True))], None, [1, 2, 5]),
    ("adamw_defaults", "AdamW", [group(WB, **adamw_options())], None, []),
    ("adamw_weight_decay", "AdamW", [group(WB, **adamw_options(lr=0.05, weight_decay=0.1))], None, []),
    ("adamw_no_decay", "AdamW", [group(WB, **adamw_options(lr=0.02, weight_decay=0.0))], None, []),
    ("adamw_amsgrad_betas", "AdamW",
     [group(WB, **adamw_options(lr=0.02, weight_decay=0.05, amsgrad=True, betas=(0.85, 0.995), eps=1e-6))],
     None, []),
    ("adamw_maximize_skipped", "AdamW", [group(WB, **adamw_options(lr=0.01, maximize=True))], None, [0, 3, 4]),
    ("adam_groups", "Adam",
     [group(["w"], **adam_options(lr=0.01, weight_decay=0.1)),
      group(["b"], **adam_options(lr=0.05, betas=(0.7, 0.99), amsgrad=True))], None, []),
    ("adamw_groups", "AdamW",
     [group(["w"], **adamw_options(lr=0.02, weight_decay=0.1, amsgrad=True)),
      group(["b"], **adamw_options(lr=0.005, weight_decay=0.0))], None, []),
    ("adam_step_lr", "Adam", [group(WB, **adam_options(lr=0.05))], spec("StepLR", step_size=2, gamma=0.5), []),
    ("adamw_groups_cosine", "AdamW",
     [group(["w"], **adamw_options(lr=0.03, weight_decay=0.05)),
      group(["b"], **adamw_options(lr=0.01, weight_decay=0.0))],
     spec("CosineAnnealingLR", T_max=5, eta_min=0.001), []),
    ("adamw_groups_warmup_cosine", "AdamW",
     [group(["b"], **adamw_options(lr=0.02)), group(["w"], **adamw_options(lr=0.04, weight_decay=0.2))],
     spec("SequentialLR", schedulers=[spec("LinearLR", start_factor=0.25, end_factor=1.0, total_iters=3),
                                      spec("CosineAnnealingLR", T_max=5, eta_min=0.0)], milestones=[3]), []),
    ("sgd_groups_step_lr", "SGD",
     [group(["w"], **sgd_options(0.01, momentum=0.9, weight_decay=0.01)),
      group(["b"], **sgd_options(0.05, momentum=0.5, dampening=0.1))],
     spec("StepLR", step_size=3, gamma=0.3), []),
]


def make_scheduler(opt, s):
    sched = torch.optim.lr_scheduler
    if s["type"] == "SequentialLR":
        inner = [make_scheduler(opt, i) for i in s["args"]["schedulers"]]
        return sched.SequentialLR(opt, inner, milestones=s["args"]["milestones"])
    return getattr(sched, s["type"])(opt, **s["args"])


def torch_options(kind, options):
    o = dict(options)
    if kind != "SGD":
        o["betas"] = tuple(o["betas"])
        o["foreach"] = False
    return o


def trajectory_case(name, kind, groups, scheduler, b_unused, prob):
    record = OrderedDict([("name", name), ("kind", "trajectory"), ("optimizer", kind), ("groups", groups)])
    if scheduler is not None:
        record["scheduler"] = scheduler
    record["b_unused"] = b_unused
    record["steps"] = STEPS
    for dtype, key in ((torch.float32, "float32"), (torch.float64, "float64")):
        x, t = prob["x"].to(dtype), prob["t"].to(dtype)
        tensors = {"w": prob["w0"].to(dtype).clone().requires_grad_(True),
                   "b": prob["b0"].to(dtype).clone().requires_grad_(True)}
        param_groups = [dict(params=[tensors[p] for p in g["params"]], **torch_options(kind, g["options"]))
                        for g in groups]
        opt = getattr(torch.optim, kind)(param_groups)
        sched = make_scheduler(opt, scheduler) if scheduler is not None else None
        ws, bs, lrs = [], [], []
        for step in range(STEPS):
            opt.zero_grad(set_to_none=True)
            y = x @ tensors["w"]
            if step not in b_unused:
                y = y + tensors["b"]
            ((y - t) ** 2).sum().backward()
            opt.step()
            if sched is not None:
                sched.step()
            ws.append(exact(tensors["w"]))
            bs.append(exact(tensors["b"]))
            lrs.append([g["lr"] for g in opt.param_groups])
        record[key] = OrderedDict([("w", ws), ("b", bs), ("lrs", lrs)])
    return record


# (name, max_norm, norm_type, gradient scale, b has a gradient)
CLIPS = [
    ("clip_l2_above", 1.0, 2.0, 1.0, True),
    ("clip_l2_below", 100.0, 2.0, 1.0, True),
    ("clip_inf_above", 0.5, math.inf, 1.0, True),
    ("clip_inf_below", 10.0, math.inf, 1.0, True),
    ("clip_l1_above", 2.0, 1.0, 1.0, True),
    ("clip_l3_above", 0.75, 3.0, 1.0, True),
    ("clip_l2_one_gradient", 0.3, 2.0, 1.0, False),
    ("clip_l2_tiny", 1e-3, 2.0, 1e-4, True),
]


def clip_case(name, max_norm, norm_type, scale, with_g1):
    torch.manual_seed(seed_of(name))
    grads = [scale * randn(3, 4)]
    if with_g1:
        grads.append(scale * randn(5))
    record = OrderedDict([("name", name), ("kind", "clip"), ("max_norm", max_norm),
                          ("norm_type", "inf" if math.isinf(norm_type) else norm_type),
                          ("grads", [{"shape": list(g.shape), "data": exact(g)} for g in grads])])
    for dtype, key in ((torch.float32, "float32"), (torch.float64, "float64")):
        params = [torch.zeros(g.shape, dtype=dtype, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.to(dtype).clone()
        unused = torch.zeros(2, dtype=dtype, requires_grad=True)  # no gradient: ignored
        total = torch.nn.utils.clip_grad_norm_(params + [unused], max_norm, norm_type)
        record[key] = OrderedDict([("total_norm", float(total)), ("grads", [exact(p.grad) for p in params])])
    return record


# (optimizer, options): what the constructor raises, for the C++ messages to match.
ERRORS = [
    ("Adam", dict(lr=-1.0)),
    ("Adam", dict(lr=float("nan"))),
    ("Adam", dict(eps=-1e-08)),
    ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(-0.5, 0.999))),
    ("Adam", dict(betas=(0.9, 1.0))),
    ("Adam", dict(weight_decay=-0.1)),
    ("AdamW", dict(lr=-0.001)),
    ("AdamW", dict(betas=(0.9, 1.5))),
    ("AdamW", dict(weight_decay=-1e-05)),
    ("AdamW", dict(eps=-1.0)),
]


def error_case(i, kind, options):
    try:
        getattr(torch.optim, kind)([torch.zeros(2, requires_grad=True)], **options)
        raise AssertionError("%s accepted %r" % (kind, options))
    except ValueError as e:
        message = str(e)
    o = OrderedDict((k, list(v) if isinstance(v, tuple) else ("nan" if v != v else v)) for k, v in options.items())
    return OrderedDict([("name", "error_%d_%s" % (i, kind)), ("kind", "error"), ("optimizer", kind),
                        ("options", o), ("message", message)])


def cases():
    prob = problem()
    records = [OrderedDict([("name", "problem"), ("kind", "problem")] +
                           [(k, {"shape": list(v.shape), "data": exact(v)}) for k, v in prob.items()])]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's inner step(0) warns about the epoch argument
        records += [trajectory_case(*c, prob) for c in TRAJECTORIES]
    records += [clip_case(*c) for c in CLIPS]
    records += [error_case(i, *c) for i, c in enumerate(ERRORS)]
    return records
