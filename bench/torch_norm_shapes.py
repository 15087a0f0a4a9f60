#!/usr/bin/python3
"""PyTorch CPU LayerNorm and BatchNorm2d timing (float32) on shapes given on the command line,
forward and forward+backward: PyTorch's side of bench_norms. The method is that of
bench/torch_gn_shapes.py: the module's forward under no_grad, and forward + autograd.grad w.r.t.
x, weight and bias with a random dy; 2 warm-up calls, then the median of 20 timed calls;
torch.set_num_threads per thread count.
  ln: nn.LayerNorm(shape[-1]) (elementwise_affine on), normalised over the last dimension;
  bn: nn.BatchNorm2d(shape[1]) in training mode (batch statistics and the running-statistics
      update, as every training step does; under no_grad too).
Prints one JSON line per (shape, threads), thread counts outermost: kind, shape, threads,
median fwd_ms and bwd_ms (fwd+bwd minus fwd), and GB/s of the minimal traffic (8 B/element
forward, 12 B/element backward).

Usage: bench/torch_norm_shapes.py --kind ln --threads 1 2 --shapes 4096x768 64x197x384 ...
       bench/torch_norm_shapes.py --kind bn --threads 1 2 --shapes 32x64x56x56 ..."""
import argparse, json, math, statistics, time, torch


def timeit(fn, reps):
    fn(); fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def parse_shape(label):
    """"64x197x384" -> [64, 197, 384]."""
    try:
        dims = [int(d) for d in label.split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected dims joined by x, got {label!r}")
    return dims


def module(kind, dims):
    if kind == "ln":
        if len(dims) < 2:
            raise SystemExit(f"torch_norm_shapes.py: LayerNorm wants (*, M), got {dims}")
        return torch.nn.LayerNorm(dims[-1])
    if len(dims) != 4:
        raise SystemExit(f"torch_norm_shapes.py: BatchNorm2d wants (N, C, H, W), got {dims}")
    return torch.nn.BatchNorm2d(dims[1]).train()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=["ln", "bn"], required=True)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shapes", type=parse_shape, nargs="+", required=True, help="e.g. 4096x768")
    a = ap.parse_args()
    for th in a.threads:
        torch.set_num_threads(th)
        for dims in a.shapes:
            x = torch.randn(*dims)
            m = module(a.kind, dims)
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
            print(json.dumps(dict(kind=a.kind, shape=dims, threads=th,
                fwd_ms=round(fwd*1e3, 3), bwd_ms=round(bwd*1e3, 3),
                fwd_GBps=round(2*e*B/fwd/1e9, 2),  # read x, write y
                bwd_GBps=round(3*e*B/bwd/1e9, 2) if bwd > 0 else None)), flush=True)  # read x, dy; write dx


if __name__ == "__main__":
    main()
