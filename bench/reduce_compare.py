"""sum, mean and amax over dim 1 and over the last dim of a (64, 256, 784) float32 tensor,
forward and forward + backward, tapegrad (build/release/bench/bench_reduce) against PyTorch at 1
and 2 threads. Each round times both sides (the median of --calls calls each), the side that
goes first alternating from round to round; the table gives the median over rounds and the
ratio PyTorch time / tapegrad time (above 1: tapegrad faster), for wall-clock time and for
the process's CPU time (the better measure at one thread on a loaded machine; at two threads
it adds both threads' time).
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
    times, cpu = [], []
    for i in range(calls + 2):
        cpu_start = time.process_time()
        start = time.perf_counter()
        if mode == "backward":
            f().backward(seed)
        else:
            with torch.no_grad():
                f()
        stop = time.perf_counter()
        cpu_stop = time.process_time()
        x.grad = None
        if i >= 2:
            times.append(stop - start)
            cpu.append(cpu_stop - cpu_start)
    return statistics.median(times), statistics.median(cpu)


def ours_time(binary, op, dim, mode, threads, calls):
    out = subprocess.run([binary, op, str(dim), mode, str(threads), str(calls)] + [str(s) for s in SHAPE],
                         check=True, capture_output=True, text=True).stdout
    wall, cpu = out.split()
    return float(wall), float(cpu)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=15)
    p.add_argument("--binary", default="build/release/bench/bench_reduce")
    p.add_argument("--only", nargs="*", default=None, help="ops to run (default: sum mean amax)")
    p.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    args = p.parse_args()
    print("%-5s %-4s %-9s %-2s %10s %10s %6s %10s %10s %6s" % ("op", "dim", "mode", "th", "ours ms", "torch ms", "ratio",
                                                                "ours cpu", "torch cpu", "ratio"))
    for threads in args.threads:
        for op in args.only or ("sum", "mean", "amax"):
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
                    o, t = statistics.median(w for w, _ in ours), statistics.median(w for w, _ in theirs)
                    oc, tc = statistics.median(c for _, c in ours), statistics.median(c for _, c in theirs)
                    print("%-5s %-4d %-9s %-2d %10.3f %10.3f %6.2f %10.3f %10.3f %6.2f" %
                          (op, dim, mode, threads, o * 1e3, t * 1e3, t / o, oc * 1e3, tc * 1e3, tc / oc), flush=True)


if __name__ == "__main__":
    main()
