"""sum, mean and amax over dim 1 and over the last dim of a (64, 256, 784) float32 tensor,
forward and forward + backward, tapegrad (build/release/bench/bench_reduce) against PyTorch at 1
and 2 threads. Each round times both sides (the median of --calls calls each), the side that
goes first alternating from round to round; the table gives the median over rounds and the
ratio PyTorch time / tapegrad time (above 1: tapegrad faster).
Run from the repository root: /usr/bin/python3 bench/reduce_compare.py [--rounds 5]
"""
import argparse
import statistics
import subprocess
import time

import torch

SHAPE = (64, 256, 784)


def torch_time(op, dim, mode, threads, calls):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(SHAPE, dtype=torch.float32, requires_grad=(mode == "backward"))
    f = {"sum": lambda: x.sum(dim), "mean": lambda: x.mean(dim), "amax": lambda: x.amax(dim)}[op]
    seed = torch.randn(f().shape)
    times = []
    for i in range(calls + 2):
        start = time.perf_counter()
        if mode == "backward":
            f().backward(seed)
        else:
            with torch.no_grad():
                f()
        stop = time.perf_counter()
        x.grad = None
        if i >= 2:
            times.append(stop - start)
    return statistics.median(times)


def ours_time(binary, op, dim, mode, threads, calls):
    out = subprocess.run([binary, op, str(dim), mode, str(threads), str(calls)] + [str(s) for s in SHAPE],
                         check=True, capture_output=True, text=True).stdout
    return float(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=15)
    p.add_argument("--binary", default="build/release/bench/bench_reduce")
    args = p.parse_args()
    print("%-5s %-4s %-9s %-2s %10s %10s %6s" % ("op", "dim", "mode", "th", "ours ms", "torch ms", "ratio"))
    for threads in (1, 2):
        for op in ("sum", "mean", "amax"):
            for dim in (1, -1):
                for mode in ("forward", "backward"):
                    ours, theirs = [], []
                    for r in range(args.rounds):
                        sides = [("o", ours), ("t", theirs)]
                        if r % 2:
                            sides.reverse()
                        for side, acc in sides:
                            if side == "o":
                                acc.append(ours_time(args.binary, op, dim, mode, threads, args.calls))
                            else:
                                acc.append(torch_time(op, dim, mode, threads, args.calls))
                    o, t = statistics.median(ours), statistics.median(theirs)
                    print("%-5s %-4d %-9s %-2d %10.3f %10.3f %6.2f" % (op, dim, mode, threads, o * 1e3, t * 1e3, t / o),
                          flush=True)


if __name__ == "__main__":
    main()
