#!/usr/bin/python3
"""PyTorch CPU op timing (float32), forward and forward+backward: PyTorch's side of bench_ops
(bench/ops_bench.cpp), whose kRows carry the same labels; adding an expression is one line in
ROWS here and one there. Rows: broadcast element-wise ops, reductions along a dim, and GroupNorm
composed from the same primitives as ours (view, mean, var, rsqrt, affine). The expression under no_grad, and the expression +
backward(dy) with a random dy into every operand's .grad, set to None before each call (what
zero_grad does by default, and what bench_ops does with ours); 2 warm-up calls, then the
median of 20 timed calls; torch.set_num_threads per thread count.

Why backward into .grad and not autograd.grad (the norm scripts' method): both sides then do
the same work, a gradient left in each leaf as a training step leaves it. autograd.grad may
hand back a view instead: sum's gradient is dy.expand(x.shape), a stride-0 view that writes
nothing, which .grad receives as a contiguous copy (AccumulateGrad's layout contract).
Prints one JSON line per (row, threads), thread counts outermost: label, threads, median fwd_ms
and bwd_ms (fwd+bwd minus fwd).

Usage: bench/torch_ops.py --threads 1 2 [--labels "mul 64x256x28x28 256x1x1" ...]"""
import argparse, json, statistics, time, torch


def group_norm(x, groups, w, b, eps=1e-5):
    """GroupNorm as ops_bench.cpp composes it (and examples/compose/main.cpp), step for step."""
    n, c = x.shape[0], x.shape[1]
    xg = x.view(n, groups, -1)
    mean = xg.mean(-1, keepdim=True)
    var = xg.var(-1, unbiased=False, keepdim=True)
    xhat = ((xg - mean) * torch.rsqrt(var + eps)).view_as(x)
    return xhat * w.view(c, 1, 1) + b.view(c, 1, 1)


# (op, operand shapes, expression): the label is op and the shapes, "mul 64x256x28x28 256x1x1".
ROWS = [
    ("mul", [(64, 256, 28, 28), (256, 1, 1)], lambda a, b: a * b),
    ("add", [(64, 256, 28, 28), (256, 1, 1)], lambda a, b: a + b),
    ("mul", [(64, 256, 28, 28), (64, 1, 28, 28)], lambda a, b: a * b),
    ("add", [(64, 256, 28, 28), (64, 1, 28, 28)], lambda a, b: a + b),
    ("sum(1)", [(64, 256, 784)], lambda x: x.sum(1)),
    ("sum(-1)", [(64, 256, 784)], lambda x: x.sum(-1)),
    ("mean(1)", [(64, 256, 784)], lambda x: x.mean(1)),
    ("mean(-1)", [(64, 256, 784)], lambda x: x.mean(-1)),
    ("amax(1)", [(64, 256, 784)], lambda x: x.amax(1)),
    ("amax(-1)", [(64, 256, 784)], lambda x: x.amax(-1)),
    ("group_norm/32", [(16, 64, 32, 32), (64,), (64,)], lambda x, w, b: group_norm(x, 32, w, b)),
    ("group_norm/32", [(32, 64, 56, 56), (64,), (64,)], lambda x, w, b: group_norm(x, 32, w, b)),
]


def label(op, shapes):
    return " ".join([op] + ["x".join(str(d) for d in s) for s in shapes])


def timeit(fn, reps):
    fn(); fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--labels", nargs="+", help="time only these rows (default: all)")
    a = ap.parse_args()
    rows = [r for r in ROWS if a.labels is None or label(r[0], r[1]) in a.labels]
    unknown = set(a.labels or []) - {label(r[0], r[1]) for r in ROWS}
    if unknown:
        raise SystemExit(f"torch_ops.py: no row {sorted(unknown)} in ROWS")
    for th in a.threads:
        torch.set_num_threads(th)
        for op, shapes, f in rows:
            xs = [torch.randn(*s) for s in shapes]
            with torch.no_grad():
                fwd = timeit(lambda: f(*xs), 20)
            xr = [x.clone().requires_grad_(True) for x in xs]
            dy = torch.randn_like(f(*xs))

            def fb():
                for x in xr:
                    x.grad = None
                f(*xr).backward(dy)
            bwd = timeit(fb, 20) - fwd
            print(json.dumps(dict(label=label(op, shapes), threads=th, fwd_ms=round(fwd * 1e3, 3),
                                  bwd_ms=round(bwd * 1e3, 3))), flush=True)


if __name__ == "__main__":
    main()
