#!/usr/bin/python3
"""PyTorch CPU GroupNorm timing (float32), forward and forward+backward: PyTorch's side of
bench_group_norm (bench/group_norm_bench.cpp), every shape of it. SHAPES is its kShapes, in the
same order: the five reference shapes the targets were set on, then the diffusion-model, (N, C, L)
and 5-D ones; --shapes times others instead (compare.py passes the labels bench_group_norm
reports, so the two sides cannot drift apart there).
Method: nn.GroupNorm forward under no_grad, and forward + autograd.grad w.r.t. x, weight and
bias with a random dy; 2 warm-up calls, then the median of 20 timed calls (time.perf_counter);
torch.set_num_threads per thread count. Prints one JSON line per (shape, threads), thread counts
outermost: shape, groups, threads, median fwd_ms and bwd_ms (fwd+bwd minus fwd), and GB/s of the
minimal traffic (8 B/element forward, 12 B/element backward).

Usage: bench/torch_gn_shapes.py [--threads 1 2] [--shapes 1x512x64x64/32 16x256x1024/32 ...]
(a shape is N x C x any further dims, then /G)."""
import argparse, json, math, statistics, time, torch


# bench_group_norm's kShapes, as (dims, G).
SHAPES = [
    ([32, 64, 56, 56], 32),  # the five reference shapes
    ([8, 256, 28, 28], 32),
    ([128, 32, 14, 14], 8),
    ([64, 32, 28, 28], 8),
    ([4, 512, 7, 7], 32),
    ([1, 512, 64, 64], 32),  # diffusion-model U-Nets at 64x64 latents
    ([2, 320, 64, 64], 32),
    ([16, 256, 1024], 32),  # (N, C, L): a 1-D conv net on sequences
    ([2, 64, 8, 32, 32], 32),  # (N, C, D, H, W): a 3-D conv net, 8 frames of 32x32
]


def timeit(fn, reps):
    fn(); fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def parse_shape(label):
    """"16x256x1024/32" -> ([16, 256, 1024], 32)."""
    dims, groups = label.split("/")
    dims = [int(d) for d in dims.split("x")]
    if len(dims) < 2:
        raise argparse.ArgumentTypeError(f"expected N x C x ... / G, got {label!r}")
    return dims, int(groups)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shapes", type=parse_shape, nargs="+", default=SHAPES,
                    help="e.g. 1x512x64x64/32 (default: bench_group_norm's shapes)")
    a = ap.parse_args()
    for th in a.threads:
        torch.set_num_threads(th)
        for dims, g in a.shapes:
            x = torch.randn(*dims)
            m = torch.nn.GroupNorm(g, dims[1])
            xr = x.clone().requires_grad_(True)
            dy = torch.randn_like(x)
            with torch.no_grad():
                fwd = timeit(lambda: m(x), 20)
            params = [xr, m.weight, m.bias]
            def fb():
                y = m(xr)
                torch.autograd.grad(y, params, dy)
            fb_t = timeit(fb, 20)
            bwd = fb_t - fwd
            e = math.prod(dims); B = 4
            print(json.dumps(dict(shape=dims, groups=g, threads=th,
                fwd_ms=round(fwd*1e3, 3), bwd_ms=round(bwd*1e3, 3),
                fwd_GBps=round(2*e*B/fwd/1e9, 2),  # read x, write y
                bwd_GBps=round(3*e*B/bwd/1e9, 2) if bwd > 0 else None)), flush=True)  # read x, dy; write dx


if __name__ == "__main__":
    main()
