#!/usr/bin/python3
"""PyTorch CPU GroupNorm timing (float32) on shapes given on the command line, forward and
forward+backward: PyTorch's side of bench_group_norm's shapes beyond the five reference ones.
The method and the output are those of ../shared/tools/torch_reference/torch_gn_bench.py
(which times only the reference shapes): nn.GroupNorm forward under no_grad, and forward +
autograd.grad w.r.t. x, weight and bias with a random dy; 2 warm-up calls, then the median of
20 timed calls; torch.set_num_threads per thread count. Prints one JSON line per
(shape, threads), thread counts outermost, with median ms and GB/s of the minimal traffic
(8 B/element forward, 12 B/element backward).

Usage: bench/torch_gn_shapes.py --threads 1 2 --shapes 1x512x64x64/32 16x256x1024/32 ...
(a shape is N x C x any further dims, then /G)."""
import argparse, json, math, statistics, time, torch


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
    ap.add_argument("--shapes", type=parse_shape, nargs="+", required=True, help="e.g. 1x512x64x64/32")
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
