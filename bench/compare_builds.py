#!/usr/bin/env python3
"""Our side only, two builds against each other: is build B any slower than build A?

For a refactoring that must not change speed: builds A and B (say, the commit
before and the commit after, each configured with -DTAPEGRAD_BUILD_BENCH=ON) run
bench_group_norm and bench_cnn_throughput in alternating order, round after round, on the
same machine; the script prints the medians and B's time relative to A's per benchmark.

  git worktree add /tmp/before <rev> && cmake -S /tmp/before -B /tmp/before/build -G Ninja \\
      -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_BENCH=ON -DTAPEGRAD_BUILD_TESTS=OFF && \\
      cmake --build /tmp/before/build --target bench_group_norm bench_cnn_throughput
  python3 bench/compare_builds.py /tmp/before/build build/release --rounds 3
"""
import argparse
import json
import re
import statistics
import subprocess


def group_norm(build):
    out = subprocess.run([f"{build}/bench/bench_group_norm", "--benchmark_format=json",
                          "--benchmark_min_time=0.2"], check=True, capture_output=True, text=True).stdout
    return {b["name"].replace("/real_time", ""): b["real_time"] / 1e6 if b["time_unit"] == "ns" else b["real_time"]
            for b in json.loads(out)["benchmarks"]}


def cnn(build, threads, steps):
    out = subprocess.run([f"{build}/bench/bench_cnn_throughput", "--threads", str(threads), "--steps", str(steps)],
                         check=True, capture_output=True, text=True).stdout
    last = json.loads(out.strip().splitlines()[-1])
    return {f"cnn images/s, {threads} thread(s)": float(last["train_images_per_s"])}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="build directory A (the baseline)")
    p.add_argument("b", help="build directory B")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.*)", cpu)
    print(f"CPU: {model.group(1) if model else 'unknown'}; {args.rounds} rounds, A and B alternating")
    runs = {"A": [], "B": []}
    for r in range(args.rounds):
        order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
        for side in order:
            build = args.a if side == "A" else args.b
            res = group_norm(build)
            for t in (1, 2):
                res.update(cnn(build, t, args.steps))
            runs[side].append(res)
    print(f"| benchmark | A | B | B / A |")
    print(f"|---|---|---|---|")
    ratios = []
    for name in runs["A"][0]:
        a = statistics.median(r[name] for r in runs["A"])
        b = statistics.median(r[name] for r in runs["B"])
        images = "images/s" in name
        # B / A as a time ratio: above 1 means B is slower.
        ratio = a / b if images else b / a
        ratios.append(ratio)
        unit = "" if images else " ms"
        print(f"| {name} | {a:.4g}{unit} | {b:.4g}{unit} | {ratio:.3f} |")
    print(f"B's time relative to A's: median {statistics.median(ratios):.3f}, "
          f"min {min(ratios):.3f}, max {max(ratios):.3f} (above 1: B slower)")


if __name__ == "__main__":
    main()
