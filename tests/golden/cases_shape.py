"""Fixtures of the shape ops (tests/test_shape_ops.cpp): shape.json and shape_errors.json.

A case is a list of steps applied in turn, each {"op": name, ...its arguments}; the first step
takes every input (cat and stack join them), the others the result of the step before. The
same description drives PyTorch here and tapegrad in the test, so chains (transpose then
reshape, permute then narrow) and non-contiguous inputs (a transpose or permute before the op:
PyTorch then works on a strided view, tapegrad on the copy its transpose made) need no code of
their own. The case's op is the step's name for one step, "chain" for several.

shape.json: view, reshape, flatten, unflatten, transpose, permute, unsqueeze, squeeze, expand, repeat,
narrow, slice, select, index_select, cat, stack, contiguous, upsample_nearest2d; over several
dims of 4-D inputs, negative dims, empty tensors, repeated indices, 3-input joins, chains.
shape_errors.json: {name, shapes, steps, error: {type, message}}: PyTorch's exception class and
message for a misuse of each op (inputs are zeros).
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F

from golden_common import randn, run_case


def apply_step(step, xs):
    """PyTorch's result of one step on the list of tensors xs (one tensor after the first step)."""
    op = step["op"]
    if op == "cat":
        return torch.cat(xs, step["dim"])
    if op == "stack":
        return torch.stack(xs, step["dim"])
    (x,) = xs
    if op == "view":
        return x.view(step["shape"])
    if op == "reshape":
        return x.reshape(step["shape"])
    if op == "flatten":
        return torch.flatten(x, step["start_dim"], step["end_dim"])
    if op == "unflatten":
        return x.unflatten(step["dim"], step["sizes"])
    if op == "transpose":
        return x.transpose(step["dim0"], step["dim1"])
    if op == "permute":
        return x.permute(step["dims"])
    if op == "unsqueeze":
        return x.unsqueeze(step["dim"])
    if op == "squeeze":
        return x.squeeze(step["dim"]) if "dim" in step else x.squeeze()
    if op == "expand":
        return x.expand(step["shape"])
    if op == "repeat":
        return x.repeat(step["repeats"])
    if op == "narrow":
        return x.narrow(step["dim"], step["start"], step["length"])
    if op == "slice":
        return torch.ops.aten.slice(x, step["dim"], step["start"], step["end"], step["step"])
    if op == "select":
        return x.select(step["dim"], step["index"])
    if op == "index_select":
        return x.index_select(step["dim"], torch.tensor(step["indices"], dtype=torch.int64))
    if op == "contiguous":
        return x.contiguous()
    if op == "upsample_nearest2d":
        return F.interpolate(x, scale_factor=step["scale"], mode="nearest")
    raise ValueError("unknown step " + op)


def run_steps(steps, xs):
    out = apply_step(steps[0], list(xs))
    for step in steps[1:]:
        out = apply_step(step, [out])
    return out


def S(op, **args):
    return OrderedDict([("op", op)] + list(args.items()))


def case(name, shapes, *steps):
    steps = list(steps)
    op = steps[0]["op"] if len(steps) == 1 else "chain"
    names = ["x"] if len(shapes) == 1 else ["a", "b", "c", "d"][:len(shapes)]

    def make_inputs():
        return [(n, randn(*s)) for n, s in zip(names, shapes)]

    def fn(*xs):
        return run_steps(steps, xs)

    return run_case(name, op, fn, make_inputs, OrderedDict([("steps", steps)]))


X4 = (2, 3, 3, 4)
BIG = 2 ** 62  # an end past any size (PyTorch's slice clamps it)


def cases():
    c = []
    # view / reshape (one extent inferred), flatten, unflatten
    c += [
        case("view_4d_infer", [X4], S("view", shape=[6, -1, 4])),
        case("view_to_1d", [(2, 3, 4)], S("view", shape=[-1])),
        case("reshape_4d", [X4], S("reshape", shape=[4, 18])),
        case("reshape_empty", [(0, 3)], S("reshape", shape=[3, 0, 2, 0])),
        case("flatten_middle", [X4], S("flatten", start_dim=1, end_dim=2)),
        case("flatten_negative", [X4], S("flatten", start_dim=-3, end_dim=-1)),
        case("flatten_all", [X4], S("flatten", start_dim=0, end_dim=-1)),
        case("unflatten_infer", [(2, 12, 5)], S("unflatten", dim=1, sizes=[3, -1])),
        case("unflatten_last", [(2, 3, 20)], S("unflatten", dim=-1, sizes=[4, 5])),
    ]
    # transpose and permute
    c += [case("transpose_%d_%d" % (a, b), [X4], S("transpose", dim0=a, dim1=b))
          for a, b in [(0, 3), (1, 2), (-1, -3), (0, 1), (2, 2)]]
    c += [
        case("transpose_2d", [(3, 7)], S("transpose", dim0=0, dim1=1)),
        case("permute_3102", [X4], S("permute", dims=[3, 1, 0, 2])),
        case("permute_negative", [X4], S("permute", dims=[-1, 0, -2, 1])),
        case("permute_identity", [X4], S("permute", dims=[0, 1, 2, 3])),
        case("permute_3d", [(3, 4, 5)], S("permute", dims=[2, 0, 1])),
    ]
    # unsqueeze at every position of a 4-D tensor, squeeze
    c += [case("unsqueeze_%d" % d, [X4], S("unsqueeze", dim=d)) for d in [0, 2, 4, -1, -5]]
    c += [
        case("squeeze_all", [(2, 1, 3, 1)], S("squeeze")),
        case("squeeze_dim1", [(2, 1, 3, 1)], S("squeeze", dim=1)),
        case("squeeze_dim_negative", [(2, 1, 3, 1)], S("squeeze", dim=-1)),
        case("squeeze_not_one", [(2, 1, 3, 1)], S("squeeze", dim=0)),
    ]
    # expand: size-1 dims, missing leading dims, -1, a 0-d tensor
    c += [
        case("expand_size1", [(3, 1)], S("expand", shape=[3, 4])),
        case("expand_leading", [(1, 3)], S("expand", shape=[2, 4, 3])),
        case("expand_4d", [(4, 1, 2, 1)], S("expand", shape=[4, 3, 2, 5])),
        case("expand_keep", [(3, 1)], S("expand", shape=[2, -1, 4])),
        case("expand_0d", [()], S("expand", shape=[2, 3])),
    ]
    # repeat: more repeats than dims, zeros, a 0-d tensor
    c += [
        case("repeat_2d", [(2, 3)], S("repeat", repeats=[2, 3])),
        case("repeat_leading", [(2, 3)], S("repeat", repeats=[2, 1, 2])),
        case("repeat_4d", [X4], S("repeat", repeats=[1, 2, 1, 2])),
        case("repeat_zero", [(2, 3)], S("repeat", repeats=[0, 2])),
        case("repeat_0d", [()], S("repeat", repeats=[2, 3])),
    ]
    # narrow along every dim, negative dims and starts, length 0
    c += [case("narrow_dim%d" % d, [X4], S("narrow", dim=d, start=1, length=1 + d // 2)) for d in range(4)]
    c += [
        case("narrow_negative_dim", [X4], S("narrow", dim=-1, start=0, length=3)),
        case("narrow_negative_start", [X4], S("narrow", dim=2, start=-3, length=2)),
        case("narrow_empty", [X4], S("narrow", dim=1, start=1, length=0)),
        case("narrow_at_end_empty", [X4], S("narrow", dim=1, start=3, length=0)),
    ]
    # slice: steps, negative and clamped bounds, empty results
    c += [
        case("slice_step2", [X4], S("slice", dim=3, start=0, end=5, step=2)),
        case("slice_step3_dim0", [(7, 3)], S("slice", dim=0, start=1, end=BIG, step=3)),
        case("slice_negative", [X4], S("slice", dim=-2, start=-3, end=-1, step=1)),
        case("slice_clamped", [X4], S("slice", dim=1, start=-10, end=10, step=2)),
        case("slice_empty", [X4], S("slice", dim=2, start=3, end=1, step=1)),
    ]
    # select along every dim, negative dims and indices
    c += [case("select_dim%d" % d, [X4], S("select", dim=d, index=1)) for d in range(4)]
    c += [
        case("select_negative", [X4], S("select", dim=-2, index=-1)),
        case("select_1d", [(5,)], S("select", dim=0, index=3)),
    ]
    # index_select: every dim, repeated and empty index lists
    c += [case("index_select_dim%d" % d, [X4], S("index_select", dim=d, indices=[1, 0]))
          for d in range(4)]
    c += [
        case("index_select_repeated", [X4], S("index_select", dim=2, indices=[2, 0, 2, 2, 1])),
        case("index_select_negative_dim", [X4], S("index_select", dim=-1, indices=[3, 3, 1])),
        case("index_select_empty", [X4], S("index_select", dim=1, indices=[])),
    ]
    # cat and stack of three inputs, all getting gradients
    c += [
        case("cat_dim0", [(1, 3, 2, 2), (2, 3, 2, 2), (1, 3, 2, 2)], S("cat", dim=0)),
        case("cat_dim1", [(2, 1, 2, 3), (2, 3, 2, 3), (2, 2, 2, 3)], S("cat", dim=1)),
        case("cat_dim_negative", [(2, 3, 2, 1), (2, 3, 2, 3), (2, 3, 2, 2)], S("cat", dim=-1)),
        case("cat_2d", [(2, 3), (2, 1), (2, 4)], S("cat", dim=1)),
        case("cat_with_empty", [(2, 3, 4), (2, 0, 4), (2, 2, 4)], S("cat", dim=1)),
        case("cat_with_legacy_empty", [(2, 3), (0,), (1, 3)], S("cat", dim=0)),
        case("stack_dim0", [(3, 4), (3, 4), (3, 4)], S("stack", dim=0)),
        case("stack_middle", [(2, 3, 2, 2)] * 3, S("stack", dim=2)),
        case("stack_last", [(2, 3), (2, 3), (2, 3)], S("stack", dim=-1)),
        case("stack_dim_end", [(2, 3, 4), (2, 3, 4), (2, 3, 4)], S("stack", dim=3)),
    ]
    # upsample_nearest2d
    c += [
        case("upsample_scale2", [(2, 3, 3, 4)], S("upsample_nearest2d", scale=2)),
        case("upsample_scale3", [(1, 2, 2, 3)], S("upsample_nearest2d", scale=3)),
        case("upsample_scale1", [(1, 2, 2, 3)], S("upsample_nearest2d", scale=1)),
        case("upsample_empty_batch", [(0, 2, 2, 3)], S("upsample_nearest2d", scale=2)),
    ]
    # contiguous, chains, and ops on non-contiguous inputs (a transpose or permute first)
    c += [
        case("contiguous_after_transpose", [X4], S("transpose", dim0=1, dim1=3), S("contiguous")),
        case("transpose_then_reshape", [X4], S("transpose", dim0=1, dim1=2), S("reshape", shape=[6, 12])),
        case("permute_then_narrow", [X4], S("permute", dims=[2, 0, 3, 1]), S("narrow", dim=2, start=1, length=3)),
        case("permute_then_flatten", [X4], S("permute", dims=[0, 2, 3, 1]), S("flatten", start_dim=1, end_dim=-1)),
        case("transpose_then_select", [X4], S("transpose", dim0=0, dim1=2), S("select", dim=1, index=0)),
        case("transpose_then_slice", [X4], S("transpose", dim0=-1, dim1=-2), S("slice", dim=2, start=1, end=BIG, step=2)),
        case("permute_then_index_select", [X4], S("permute", dims=[3, 2, 1, 0]),
             S("index_select", dim=1, indices=[2, 2, 0])),
        case("expand_then_transpose", [(3, 1)], S("expand", shape=[2, 3, 4]), S("transpose", dim0=0, dim1=2)),
        case("unsqueeze_expand_sum_like", [(3, 4)], S("unsqueeze", dim=1), S("expand", shape=[3, 5, 4]),
             S("reshape", shape=[15, 4])),
        case("cat_then_transpose", [(2, 3), (1, 3), (2, 3)], S("cat", dim=0), S("transpose", dim0=0, dim1=1)),
        case("stack_then_permute", [(2, 3), (2, 3), (2, 3)], S("stack", dim=1), S("permute", dims=[2, 0, 1])),
        case("permute_then_upsample", [(2, 3, 4, 2)], S("permute", dims=[0, 3, 1, 2]),
             S("upsample_nearest2d", scale=2)),
        case("narrow_then_squeeze_unsqueeze", [X4], S("narrow", dim=1, start=2, length=1), S("squeeze", dim=1),
             S("unsqueeze", dim=-1)),
        case("view_then_unflatten", [X4], S("view", shape=[6, 12]), S("unflatten", dim=1, sizes=[-1, 4])),
        # Views of views (tapegrad shares the values through all of them) and a copy between views.
        case("view_chain", [X4], S("reshape", shape=[6, -1]), S("unsqueeze", dim=0), S("flatten", start_dim=0, end_dim=1),
             S("unsqueeze", dim=-1), S("squeeze"), S("unflatten", dim=0, sizes=[2, 3])),
        case("view_then_transpose_then_view", [X4], S("flatten", start_dim=2, end_dim=-1),
             S("transpose", dim0=1, dim1=2), S("reshape", shape=[-1])),
    ]
    return c


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

def error_case(name, shapes, *steps):
    xs = [torch.zeros(s) for s in shapes]
    try:
        run_steps(list(steps), xs)
        raise AssertionError("no error for " + name)
    except (RuntimeError, IndexError, ValueError) as e:
        error = OrderedDict([("type", type(e).__name__), ("message", str(e))])
    return OrderedDict([("name", name), ("shapes", [list(s) for s in shapes]), ("steps", list(steps)),
                        ("error", error)])


X3 = (2, 3, 4)


def error_cases():
    return [
        error_case("view_mismatch", [X3], S("view", shape=[5, -1])),
        error_case("view_two_inferred", [X3], S("view", shape=[-1, -1])),
        error_case("view_negative", [X3], S("view", shape=[-2, 12])),
        error_case("reshape_mismatch", [X3], S("reshape", shape=[2, 3, 5])),
        error_case("reshape_ambiguous", [(0, 3)], S("reshape", shape=[-1, 0])),
        error_case("flatten_order", [X3], S("flatten", start_dim=2, end_dim=1)),
        error_case("flatten_dim", [X3], S("flatten", start_dim=0, end_dim=3)),
        error_case("unflatten_mismatch", [X3], S("unflatten", dim=1, sizes=[2, 2])),
        error_case("unflatten_two_inferred", [X3], S("unflatten", dim=1, sizes=[-1, -1])),
        error_case("unflatten_empty_sizes", [X3], S("unflatten", dim=1, sizes=[])),
        error_case("unflatten_negative", [X3], S("unflatten", dim=-1, sizes=[2, -2])),
        error_case("unflatten_dim", [X3], S("unflatten", dim=3, sizes=[1, 1])),
        error_case("transpose_dim", [X3], S("transpose", dim0=0, dim1=3)),
        error_case("transpose_negative_dim", [X3], S("transpose", dim0=-4, dim1=0)),
        error_case("permute_length", [X3], S("permute", dims=[0, 1])),
        error_case("permute_duplicate", [X3], S("permute", dims=[0, 1, 1])),
        error_case("permute_dim", [X3], S("permute", dims=[0, 1, 3])),
        error_case("unsqueeze_dim", [X3], S("unsqueeze", dim=4)),
        error_case("unsqueeze_negative_dim", [X3], S("unsqueeze", dim=-5)),
        error_case("squeeze_dim", [X3], S("squeeze", dim=3)),
        error_case("expand_mismatch", [(3,)], S("expand", shape=[2, 4])),
        error_case("expand_mismatch_inner_first", [(2, 3)], S("expand", shape=[3, 4])),
        error_case("expand_fewer_sizes", [X3], S("expand", shape=[3, 4])),
        error_case("expand_leading_minus_one", [(3,)], S("expand", shape=[-1, 3])),
        error_case("repeat_fewer", [X3], S("repeat", repeats=[2, 2])),
        error_case("repeat_negative", [(2, 3)], S("repeat", repeats=[2, -1])),
        error_case("narrow_too_long", [X3], S("narrow", dim=1, start=2, length=2)),
        error_case("narrow_start", [X3], S("narrow", dim=1, start=4, length=0)),
        error_case("narrow_negative_start", [X3], S("narrow", dim=1, start=-4, length=1)),
        error_case("narrow_negative_length", [X3], S("narrow", dim=1, start=0, length=-1)),
        error_case("narrow_dim", [X3], S("narrow", dim=3, start=0, length=1)),
        error_case("narrow_0d", [()], S("narrow", dim=0, start=0, length=1)),
        error_case("slice_step_zero", [X3], S("slice", dim=1, start=0, end=3, step=0)),
        error_case("slice_step_negative", [X3], S("slice", dim=1, start=0, end=3, step=-1)),
        error_case("slice_dim", [X3], S("slice", dim=-4, start=0, end=3, step=1)),
        error_case("slice_0d", [()], S("slice", dim=0, start=0, end=1, step=1)),
        error_case("select_index", [X3], S("select", dim=1, index=3)),
        error_case("select_negative_index", [X3], S("select", dim=-2, index=-4)),
        error_case("select_dim", [X3], S("select", dim=3, index=0)),
        error_case("select_0d", [()], S("select", dim=0, index=0)),
        error_case("index_select_index", [X3], S("index_select", dim=1, indices=[0, 3])),
        error_case("index_select_negative_index", [X3], S("index_select", dim=1, indices=[0, -1])),
        error_case("index_select_dim", [X3], S("index_select", dim=3, indices=[0])),
        error_case("cat_sizes", [X3, (2, 4, 4)], S("cat", dim=2)),
        error_case("cat_third_sizes", [X3, X3, (2, 3, 5)], S("cat", dim=1)),
        error_case("cat_ranks", [X3, (2, 3)], S("cat", dim=0)),
        error_case("cat_dim", [X3, X3], S("cat", dim=3)),
        error_case("cat_0d", [(), ()], S("cat", dim=0)),
        error_case("cat_empty_list", [], S("cat", dim=0)),
        error_case("stack_empty_list", [], S("stack", dim=0)),
        error_case("stack_sizes", [X3, (2, 3, 5)], S("stack", dim=0)),
        error_case("stack_dim", [X3, X3], S("stack", dim=4)),
        error_case("upsample_scale_zero", [(1, 1, 2, 2)], S("upsample_nearest2d", scale=0)),
        error_case("upsample_empty_plane", [(1, 1, 0, 2)], S("upsample_nearest2d", scale=2)),
    ]
