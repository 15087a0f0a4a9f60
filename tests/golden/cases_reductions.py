"""Cases of reductions.json: sum, mean, var, std, amax, amin, logsumexp over dims (each dim of a
4-D tensor, several, negative, all), keepdim both ways; max/min over the whole tensor and along
a dim (with the indices, and argmax/argmin, in attrs); softmax and log_softmax along any dim.

attrs: dims (a list; [] means all), keepdim, correction (var, std), dim (max_dim, min_dim,
softmax, log_softmax); max_dim/min_dim also hold "indices" (torch.max(x, dim).indices, which
are argmax/argmin's result), flattened. "ties": true marks inputs with repeated values, where
the gradient is a subgradient that finite differences do not see (the C++ test checks those
against PyTorch only). Non-contiguous inputs: the stored x is x.transpose(1, 2) of a drawn
tensor, and PyTorch runs the op on that transposed view (not on a contiguous copy); tapegrad
has no transpose op yet, so it receives the transposed values.
"""
import torch

from golden_common import randn, run_case

SHAPE4 = (2, 3, 2, 3)


def dims_name(dims):
    if not dims:
        return "all"
    return "_".join(("m%d" % -d) if d < 0 else str(d) for d in dims)


def reduce_fn(op, dims, keepdim, correction=None):
    def all_if_empty(x):
        return tuple(dims) if dims else tuple(range(x.dim()))
    if op in ("sum", "mean", "amax", "amin", "logsumexp"):
        f = getattr(torch, op)
        return lambda x: f(x, all_if_empty(x), keepdim=keepdim)
    if op in ("var", "std"):
        f = getattr(torch, op)
        return lambda x: f(x, all_if_empty(x), correction=correction, keepdim=keepdim)
    raise ValueError(op)


def reduce_case(name, op, make_x, dims, keepdim=False, correction=None, ties=False):
    attrs = {"dims": list(dims), "keepdim": keepdim}
    if correction is not None:
        attrs["correction"] = correction
    if ties:
        attrs["ties"] = True
    return run_case(name, op, reduce_fn(op, dims, keepdim, correction), lambda: [("x", make_x())], attrs)


def transposed(*shape):
    return lambda: randn(*shape).transpose(1, 2)


def ties(*shape):
    # Values from {0, 1, 2}: every slice has repeated maxima and minima.
    return lambda: torch.randint(0, 3, shape).float()


def reduce_cases():
    cases = []
    ops = [("sum", None), ("mean", None), ("var", 1), ("std", 1), ("amax", None), ("amin", None),
           ("logsumexp", None)]
    for op, corr in ops:
        dim_sets = [[0], [1], [2], [3], [-1], [-3], [1, 2], [0, 2], [-1, 0], [0, 1, 3], []]
        for dims in dim_sets:
            cases.append(reduce_case("%s_%s" % (op, dims_name(dims)), op, lambda: randn(*SHAPE4), dims,
                                     correction=corr))
        for dims in ([1], [0, 2], []):
            cases.append(reduce_case("%s_%s_keepdim" % (op, dims_name(dims)), op, lambda: randn(*SHAPE4), dims,
                                     keepdim=True, correction=corr))
        # Non-contiguous: the op on x.transpose(1, 2) of a (2, 3, 2, 3) tensor.
        for dims in ([1], [-1], [0, 3]):
            cases.append(reduce_case("%s_transposed_%s" % (op, dims_name(dims)), op, transposed(2, 3, 2, 3), dims,
                                     correction=corr))
        # Rank 1 and rank 0 (a 0-dim tensor takes dim 0 and -1).
        cases.append(reduce_case("%s_rank1" % op, op, lambda: randn(7), [0], correction=corr))
        if op not in ("var", "std"):  # the variance of one element is NaN
            cases.append(reduce_case("%s_rank0" % op, op, lambda: randn(), [-1], correction=corr))
        # A long row (inner == 1 in double lanes with a tail) and a wide inner block.
        cases.append(reduce_case("%s_long_rows" % op, op, lambda: randn(2, 37), [1], correction=corr))
        cases.append(reduce_case("%s_wide_inner" % op, op, lambda: randn(2, 3, 17), [1], correction=corr))

    # var/std: corrections, a large mean (the two-pass scheme keeps the digits), an element of
    # extent 1 beside the reduced dims.
    for op in ("var", "std"):
        for corr in (0, 2):
            cases.append(reduce_case("%s_correction%d_1" % (op, corr), op, lambda: randn(*SHAPE4), [1],
                                     correction=corr))
            cases.append(reduce_case("%s_correction%d_all" % (op, corr), op, lambda: randn(*SHAPE4), [],
                                     correction=corr))
        cases.append(reduce_case("%s_large_mean" % op, op, lambda: 1000.0 + randn(3, 20), [1], correction=1))
        cases.append(reduce_case("%s_large_mean_inner" % op, op, lambda: 1000.0 + randn(2, 20, 3), [1],
                                 correction=1))
        cases.append(reduce_case("%s_unit_extent_0_3" % op, op, lambda: randn(2, 1, 3, 4), [0, 3], correction=1))

    # Ties for amax/amin: the gradient split evenly.
    for op in ("amax", "amin"):
        for dims in ([1], [-1], [0, 2], []):
            cases.append(reduce_case("%s_ties_%s" % (op, dims_name(dims)), op, ties(*SHAPE4), dims, ties=True))

    # logsumexp with large logits (±1000): the maximum is subtracted first.
    for dims in ([1], [-1], [0, 2]):
        cases.append(reduce_case("logsumexp_large_%s" % dims_name(dims), "logsumexp",
                                 lambda: 1000.0 * randn(*SHAPE4), dims))

    # Empty tensors: a sum over an empty dimension is 0; reductions over a non-empty
    # dimension of an empty tensor give empty outputs.
    cases.append(reduce_case("sum_empty_dim", "sum", lambda: randn(2, 0, 3), [1]))
    cases.append(reduce_case("sum_empty_dim_keepdim", "sum", lambda: randn(2, 0, 3), [1], keepdim=True))
    cases.append(reduce_case("sum_empty_all", "sum", lambda: randn(2, 0, 3), []))
    cases.append(reduce_case("sum_of_empty_other_dim", "sum", lambda: randn(2, 0, 3), [2]))
    cases.append(reduce_case("mean_of_empty_other_dim", "mean", lambda: randn(2, 0, 3), [0]))
    cases.append(reduce_case("amax_of_empty_other_dim", "amax", lambda: randn(2, 0, 3), [2]))
    cases.append(reduce_case("logsumexp_empty_dim", "logsumexp", lambda: randn(2, 0, 3), [0, 2]))
    cases.append(reduce_case("var_of_empty_other_dim", "var", lambda: randn(2, 0, 3), [0], correction=1))
    return cases


def whole_cases():
    cases = []
    for op in ("max", "min"):
        f = getattr(torch, op)
        cases.append(run_case("%s_whole" % op, op, lambda x, f=f: f(x), lambda: [("x", randn(*SHAPE4))]))
        cases.append(run_case("%s_whole_ties" % op, op, lambda x, f=f: f(x), lambda: [("x", ties(*SHAPE4)())],
                              {"ties": True}))
    return cases


def dim_cases():
    """max_dim/min_dim: the values (gradient to the first extremum) and the indices."""
    cases = []
    for op in ("max", "min"):
        variants = [(d, False, False) for d in (0, 1, 2, 3, -1, -4)] + [(1, True, False), (-2, True, False),
                                                                        (1, False, True), (3, True, True)]
        for dim, keepdim, tie in variants:
            name = "%s_dim_%s%s%s" % (op, ("m%d" % -dim) if dim < 0 else dim, "_keepdim" if keepdim else "",
                                      "_ties" if tie else "")
            attrs = {"dim": dim, "keepdim": keepdim}
            if tie:
                attrs["ties"] = True
            make = ties(*SHAPE4) if tie else (lambda: randn(*SHAPE4))
            fn = lambda x, op=op, dim=dim, keepdim=keepdim: getattr(torch, op)(x, dim, keepdim=keepdim).values
            record = run_case(name, op + "_dim", fn, lambda: [("x", make())], attrs)
            x = torch.tensor(record["inputs"]["x"]["data"], dtype=torch.float32).reshape(record["inputs"]["x"]["shape"])
            record["attrs"]["indices"] = getattr(torch, op)(x, dim, keepdim=keepdim).indices.reshape(-1).tolist()
            cases.append(record)
    return cases


def softmax_cases():
    cases = []
    for op, f in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        def case(name, make, dim):
            return run_case("%s_%s" % (op, name), op, lambda x, dim=dim: f(x, dim), lambda: [("x", make())],
                            {"dim": dim})
        for dim in (0, 1, 2, 3, -1, -3):
            cases.append(case("rank4_dim%s" % (("m%d" % -dim) if dim < 0 else dim), lambda: randn(*SHAPE4), dim))
        cases.append(case("rank2_dim1", lambda: randn(4, 10), 1))
        cases.append(case("rank2_dim0", lambda: randn(4, 10), 0))
        cases.append(case("rank1", lambda: randn(9), 0))
        cases.append(case("rank0", lambda: randn(), 0))
        cases.append(case("long_row", lambda: randn(2, 37), -1))
        cases.append(case("wide_inner", lambda: randn(2, 3, 17), 1))
        cases.append(case("large_logits_dim1", lambda: 1000.0 * randn(3, 5, 2), 1))
        cases.append(case("large_logits_last", lambda: 1000.0 * randn(3, 9), -1))
        cases.append(case("transposed_dim1", transposed(2, 3, 2, 3), 1))
        cases.append(case("transposed_last", transposed(2, 3, 2, 3), -1))
        cases.append(case("empty", lambda: randn(2, 0, 3), 1))
    return cases


def cases():
    return reduce_cases() + whole_cases() + dim_cases() + softmax_cases()
