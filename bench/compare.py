#!/usr/bin/python3
"""Side-by-side speed of tapegrad and PyTorch on this machine, in one run:
  GroupNorm forward and forward+backward, float32, on bench_group_norm's shapes (the five
  reference shapes, then diffusion-model, (N, C, L) and 5-D inputs) against
  bench/torch_gn_shapes.py; STREAM copy bandwidth (bench/stream_bandwidth.c, compiled here) is
  the floor, measured at the benchmark's array size (that of 32x64x56x56) and at 1 GB per array;
  LayerNorm and BatchNorm2d (training mode) forward and forward+backward, float32, on
  bench_norms' shapes, against bench/torch_norm_shapes.py (the same method);
  training the reference CNN at batch 64 (bench_cnn_throughput against bench/torch_cnn.py),
  images/s and peak RSS of each process;
  ops forward and forward+backward, float32, on the rows of bench_ops against bench/torch_ops.py
  (the same method; one table row per expression): broadcast mul and add, sum, mean and amax
  along a dim, and GroupNorm composed from reshape, mean, var, rsqrt and the affine map;
  training several networks (bench_nets --net against bench/torch_nets.py: the reference CNN, a
  GroupNorm ResNet, a VGG, wide kernels, a diffusion residual block, a depthwise-separable net),
  images/s, peak RSS and the loss of each process, and a 3x3 convolution (bench_nets --conv)
  as a share of the float32 FMA peak its process measures.
First it prints where it ran: the CPU model, the core count, the SIMD level of tapegrad's
kernels, the PyTorch version and the thread counts timed. Then Markdown tables of medians, then
the project's speed targets, at each thread count timed (float32, same run, medians of the
rounds), each met or NOT MET:
  - GroupNorm forward: median speed-up over the shapes >= 2x PyTorch's, no shape below 1.3x;
  - GroupNorm forward+backward: the same, >= 2x, no shape below 1.3x;
  - GroupNorm forward on 32x64x56x56/32: >= 70% of STREAM copy at the same array size;
  - LayerNorm forward, and forward+backward: median speed-up over the shapes >= 1.5x PyTorch's;
  - BatchNorm2d forward, and forward+backward: the same, >= 1.5x;
  - training the reference CNN at batch 64: >= 1.5x PyTorch's images/s, peak RSS <= PyTorch's;
  - ops, forward and forward+backward: each row >= 1.0x PyTorch's;
  - networks: median images/s ratio over the nets >= 1.5x PyTorch's, no net below 1.25x; our
    peak RSS <= PyTorch's on each net; every net of bench_nets --list timed;
  - Conv2d 3x3 64->64 on 32x64x56x56, forward+backward: >= 60% of the measured FMA peak.
Targets are meant to be judged with --rounds 3 or more.

Usage: bench/compare.py --build BUILD_DIR [--rounds 3] [--threads 1 2] [--steps 100]
       [--net-seconds 3] [--conv-seconds 3] [--only gn ln bn cnn ops nets]
(--only: one or more of the comparisons; all six without it)
Each round runs both sides once per thread count, back to back, and alternates which side
goes first, so that the machine's slow drifts (this 2-core VM's speed wanders by +-15% over
minutes) hit both sides alike; the tables show the median over rounds of each side's own median.
"""
import argparse, hashlib, json, math, os, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# "The benchmark's array size": the elements of the 32x64x56x56 reference shape, whose forward
# is held to a share of STREAM copy at this size. STREAM is also run once per thread count at
# 1 GB per array, a size no cache holds: the same-size figure may be partly cache, and a
# kernel above 100% of it is running from cache, not beating memory.
BANDWIDTH_SHAPE = "32x64x56x56/32"
STREAM_SAME_SIZE = 32 * 64 * 56 * 56  # 6,422,528 floats, 25.7 MB per array
STREAM_1GB = 1 << 28  # 268,435,456 floats, 1.07 GB per array (stream_bandwidth.c allocates 3)


def run(cmd, env=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def run_with_rss(cmd):
    """(stdout, peak RSS in MB) of one child process."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed with status {status}")
    return out, usage.ru_maxrss / 1024.0


def stream_copy_gbps(threads, elements):
    """STREAM copy GB/s with `threads` OpenMP threads on arrays of `elements` floats
    (bench/stream_bandwidth.c, compiled into the temp dir under a name that carries a hash of
    its source and compiler flags: a changed source, or another checkout's, gets its own binary)."""
    src = os.path.join(HERE, "stream_bandwidth.c")
    flags = ["-O3", "-march=native", "-fopenmp"]
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read() + " ".join(flags).encode()).hexdigest()[:16]
    exe = os.path.join(tempfile.gettempdir(), f"tapegrad_stream_bandwidth_{digest}")
    if not os.path.exists(exe):
        tmp = f"{exe}.{os.getpid()}"
        run(["gcc", *flags, src, "-o", tmp])
        os.replace(tmp, exe)  # atomic, should another compare.py be compiling it too
    out = run([exe, str(elements)], env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    return json.loads(out)["copy_GBps"]


def lscpu():
    """lscpu's fields as a dict ("Model name": ...), empty where lscpu is missing."""
    try:
        out = run(["lscpu"], env=dict(os.environ, LC_ALL="C"))
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def machine_line(info):
    """"Intel(R) Xeon(R) Processor (family 6, model 207), 2 cores": the CPU model, with its
    family and model numbers (a VM's model name is often generic), and its physical cores (and
    the hardware threads, where there are more)."""
    model = info.get("Model name", "unknown CPU")
    if "CPU family" in info and "Model" in info:
        model += f" (family {info['CPU family']}, model {info['Model']})"
    cpus = int(info.get("CPU(s)", os.cpu_count() or 0))
    try:
        cores = int(info["Core(s) per socket"]) * int(info["Socket(s)"])
    except (KeyError, ValueError):
        cores = cpus
    return f"{model}, {cores} cores" + (f" ({cpus} hardware threads)" if cpus != cores else "")


def gn_shapes_and_simd(bench):
    """(the benchmark's shape labels in its order, the SIMD level and OpenBLAS's kernel set in
    its JSON context), from a run of its forward at 1 thread short enough (~1 s) to be a query;
    (None, None, None) where the benchmark is not built."""
    if not os.path.exists(bench):
        return None, None, None
    d = json.loads(run([bench, "--benchmark_format=json", "--benchmark_min_time=0.001",
                        "--benchmark_filter=BM_GroupNormForward/.*/threads:1/"]))
    return [b["label"] for b in d["benchmarks"]], d["context"].get("simd", "unknown"), d["context"].get("blas", "unknown")


def elements_of(label):
    """"16x256x1024/32" -> 16 * 256 * 1024."""
    return math.prod(int(v) for v in label.split("/")[0].split("x"))


def ours(bench, threads, prefix=""):
    """{(shape, threads): {"fwd": ms, "fb": ms}} from one Google Benchmark run at `threads` threads
    of the benchmarks whose names start with `prefix` (BM_LayerNorm: its Forward and
    ForwardBackward)."""
    out = run([bench, "--benchmark_format=json", "--benchmark_min_time=0.3", f"--benchmark_filter=^{prefix}.*/threads:{threads}/",
               "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"])
    res = {}
    for b in json.loads(out)["benchmarks"] if out.strip() else []:  # no output: the filter matched nothing
        if b.get("aggregate_name") != "median":
            continue
        name = b["run_name"]  # BM_GroupNormForward/shape:0/threads:1/real_time
        kind = "fb" if "ForwardBackward" in name else "fwd"
        res.setdefault((b["label"], threads), {})[kind] = b["real_time"]  # ms (the benchmark's unit)
    if not res:
        sys.exit(f"compare.py: {bench} has no {prefix or 'runs'} at {threads} threads (it times 1 and 2)")
    return res


def torch(threads, labels):
    """The same for PyTorch at `threads` threads, on the shapes `labels` (bench_group_norm's):
    one run of bench/torch_gn_shapes.py."""
    out = run(["/usr/bin/python3", os.path.join(HERE, "torch_gn_shapes.py"), "--threads", str(threads),
               "--shapes", *labels])
    res = {}
    for line in out.splitlines():
        r = json.loads(line)
        label = "x".join(str(d) for d in r["shape"]) + f"/{r['groups']}"
        res[(label, r["threads"])] = {"fwd": r["fwd_ms"], "fb": r["fwd_ms"] + r["bwd_ms"]}
    return res


# The norms of bench_norms beside GroupNorm: their benchmark name prefix, and
# torch_norm_shapes.py's --kind.
NORMS = {"ln": ("LayerNorm", "BM_LayerNorm"), "bn": ("BatchNorm2d", "BM_BatchNorm2d")}
NORM_TARGET = 1.5  # median speed-up over the shapes, forward and forward+backward, each thread count


def norm_shapes(bench, prefix):
    """The shape labels of bench_norms' `prefix` benchmarks in its order (a ~1 s query run of
    their forward at 1 thread); [] where it has none, None where it is not built."""
    if not os.path.exists(bench):
        return None
    d = json.loads(run([bench, "--benchmark_format=json", "--benchmark_min_time=0.001",
                        f"--benchmark_filter=^{prefix}Forward/.*/threads:1/"]) or '{"benchmarks": []}')
    return [b["label"] for b in d["benchmarks"]]


def torch_norm(kind, threads, labels):
    """PyTorch's side of bench_norms at `threads` threads: one run of bench/torch_norm_shapes.py."""
    out = run(["/usr/bin/python3", os.path.join(HERE, "torch_norm_shapes.py"), "--kind", kind, "--threads", str(threads),
               "--shapes", *labels])
    res = {}
    for line in out.splitlines():
        r = json.loads(line)
        res[("x".join(str(d) for d in r["shape"]), r["threads"])] = {"fwd": r["fwd_ms"], "fb": r["fwd_ms"] + r["bwd_ms"]}
    return res


def sides_in_order(round_index):
    """Which side runs first alternates between rounds, so neither always runs on a machine
    the other has just warmed (or heated)."""
    return ("ours", "torch") if round_index % 2 == 0 else ("torch", "ours")


def cnn_table(build, threads, rounds, steps):
    ours_exe = os.path.join(build, "bench", "bench_cnn_throughput")
    results = {t: {"ours": [], "torch": [], "ours_rss": [], "torch_rss": []} for t in threads}
    commands = {"ours": lambda t: [ours_exe, "--threads", str(t), "--steps", str(steps)],
                "torch": lambda t: ["/usr/bin/python3", os.path.join(HERE, "torch_cnn.py"),
                                    "--threads", str(t), "--steps", str(steps)]}
    for i in range(rounds):
        for t in threads:
            for side in sides_in_order(i):
                out, rss = run_with_rss(commands[side](t))
                results[t][side].append(json.loads(out)["train_images_per_s"])
                results[t][side + "_rss"].append(rss)
    print(f"Training the reference CNN, batch 64, {steps} SGD steps, median of {rounds} round{'s' if rounds > 1 else ''}")
    print()
    print("| threads | ours images/s | PyTorch images/s | speed-up | ours peak RSS MB | PyTorch peak RSS MB |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for t in threads:
        r = medians[t] = {k: statistics.median(v) for k, v in results[t].items()}
        print(f"| {t} | {r['ours']:.0f} | {r['torch']:.0f} | {r['ours'] / r['torch']:.2f}× | {r['ours_rss']:.0f} | {r['torch_rss']:.0f} |")
    print()
    return medians


def print_targets(checks):
    """checks: (target, measured, met) rows, printed as a checklist; met None: a row for
    information, not a target."""
    print("Targets")
    print()
    print("| target | measured | |")
    print("|---|---|---|")
    for target, measured, met in checks:
        print(f"| {target} | {measured} | {'(information)' if met is None else 'met' if met else 'NOT MET'} |")
    print()


def gbps_cell(gbps, stream):
    """"38.6 (116%)"; n/a where the backward's time (fwd+bwd minus fwd) was not positive."""
    return "n/a" if math.isnan(gbps) else f"{gbps:.1f} ({100 * gbps / stream:.0f}%)"


def plural(t):
    return f"{t} thread{'s' if t > 1 else ''}"


def gn_comparison(a, gn_exe, labels):
    """GroupNorm: the rounds, STREAM, the table, and its targets as (target, measured, met) rows."""
    gn_checks = []
    # rounds[side][i]: round i's {(shape, threads): {"fwd": ms, "fb": ms}}, both thread counts.
    rounds = {"ours": [{} for _ in range(a.rounds)], "torch": [{} for _ in range(a.rounds)]}
    measure = {"ours": lambda t: ours(gn_exe, t), "torch": lambda t: torch(t, labels)}
    # STREAM copy at the benchmark's array size is measured in every round as well: on this VM
    # it moves between runs as much as the kernels do (38-65 GB/s at 2 threads), so one sample
    # would make the bandwidth target a draw.
    stream_runs = {t: [] for t in a.threads}
    for i in range(a.rounds):
        for t in a.threads:
            stream_runs[t].append(stream_copy_gbps(t, STREAM_SAME_SIZE))
            for side in sides_in_order(i):
                rounds[side][i].update(measure[side](t))
    stream = {t: statistics.median(v) for t, v in stream_runs.items()}
    # At 1 GB per array once per thread count, after the rounds, so that faulting in its
    # 3.2 GB disturbs none of them.
    stream_1gb = {t: stream_copy_gbps(t, STREAM_1GB) for t in a.threads}
    missing = [k for k in rounds["ours"][0] if k not in rounds["torch"][0]]
    if missing:
        sys.exit(f"compare.py: PyTorch's side has no timing of {missing}")

    def med(side, key, kind):
        return statistics.median(r[key][kind] for r in rounds[side])

    runs = f"median of {a.rounds} run{'s' if a.rounds > 1 else ''}"
    print("| STREAM copy, float32 | " + " | ".join(plural(t) for t in a.threads) + " |")
    print("|---|" + "---|" * len(a.threads))
    print(f"| at the benchmark's array size: {STREAM_SAME_SIZE:,} elements, {4 * STREAM_SAME_SIZE / 1e6:.1f} MB per array "
          f"(as {BANDWIDTH_SHAPE.split('/')[0]}), {runs} | " + " | ".join(f"{stream[t]:.1f} GB/s" for t in a.threads) + " |")
    print(f"| at 1 GB per array: {STREAM_1GB:,} elements, one run | " + " | ".join(f"{stream_1gb[t]:.1f} GB/s" for t in a.threads) + " |")
    print()
    print("% STREAM below, and the 70% target, are of the same-size figure. Above 100% means part of the data was "
          "still in cache; memory alone gives about the 1 GB figure.")
    print()
    print(f"GroupNorm float32, median of {a.rounds} round{'s' if a.rounds > 1 else ''}")
    print()
    print("| shape N×C×…/G | threads | fwd ours ms | fwd PyTorch ms | fwd speed-up | fwd+bwd ours ms | fwd+bwd PyTorch ms | fwd+bwd speed-up | fwd GB/s (% STREAM) | bwd GB/s (% STREAM) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios = {"fwd": {t: [] for t in a.threads}, "fb": {t: [] for t in a.threads}}
    bandwidth = {}  # threads: (fwd GB/s, bwd GB/s) on BANDWIDTH_SHAPE
    order = list(rounds["ours"][0])  # the benchmark's own order: shapes as listed, by thread count
    for key in sorted(order, key=lambda k: (k[1], order.index(k))):
        label, th = key
        o_f, o_fb = med("ours", key, "fwd"), med("ours", key, "fb")
        t_f, t_fb = med("torch", key, "fwd"), med("torch", key, "fb")
        e = elements_of(label)
        fwd_gbps = 8 * e / (o_f * 1e-3) / 1e9
        bwd_ms = o_fb - o_f
        bwd_gbps = 12 * e / (bwd_ms * 1e-3) / 1e9 if bwd_ms > 0 else float("nan")
        ratios["fwd"][th].append(t_f / o_f)
        ratios["fb"][th].append(t_fb / o_fb)
        if label == BANDWIDTH_SHAPE:
            bandwidth[th] = (fwd_gbps, bwd_gbps)
        print(f"| {label} | {th} | {o_f:.3f} | {t_f:.3f} | {t_f / o_f:.2f}× | {o_fb:.3f} | {t_fb:.3f} | {t_fb / o_fb:.2f}× "
              f"| {gbps_cell(fwd_gbps, stream[th])} | {gbps_cell(bwd_gbps, stream[th])} |")
    print()
    for t in a.threads:
        f, fb = ratios["fwd"][t], ratios["fb"][t]
        print(f"{plural(t)}: forward speed-up median {statistics.median(f):.2f}× (min {min(f):.2f}×), "
              f"forward+backward median {statistics.median(fb):.2f}× (min {min(fb):.2f}×)")
    print()

    for kind, name in (("fwd", "forward"), ("fb", "forward+backward")):
        for t in a.threads:
            r = ratios[kind][t]
            gn_checks.append((f"GroupNorm {name}: median speed-up over the {len(r)} shapes >= 2×, no shape below 1.3×, {plural(t)}",
                              f"median {statistics.median(r):.2f}×, min {min(r):.2f}×",
                              statistics.median(r) >= 2.0 and min(r) >= 1.3))
    if bandwidth:
        for t in a.threads:
            gbps = bandwidth[t][0]
            gn_checks.append((f"GroupNorm forward on {BANDWIDTH_SHAPE} >= 70% of STREAM copy at the same array size, {plural(t)}",
                              f"{gbps:.1f} GB/s = {100 * gbps / stream[t]:.0f}% of {stream[t]:.1f} "
                              f"({100 * gbps / stream_1gb[t]:.0f}% of {stream_1gb[t]:.1f} at 1 GB)", gbps >= 0.7 * stream[t]))
        for t in a.threads:
            gbps = bandwidth[t][1]
            gn_checks.append((f"GroupNorm backward on {BANDWIDTH_SHAPE}, share of STREAM copy at the same array size, {plural(t)}",
                              "n/a (fwd+bwd was not slower than fwd)" if math.isnan(gbps) else
                              f"{gbps:.1f} GB/s = {100 * gbps / stream[t]:.0f}% of {stream[t]:.1f} "
                              f"({100 * gbps / stream_1gb[t]:.0f}% of {stream_1gb[t]:.1f} at 1 GB)", None))
    else:
        gn_checks.append((f"GroupNorm forward on {BANDWIDTH_SHAPE} >= 70% of STREAM copy at the same array size",
                          "the benchmark has no such shape", False))
    return gn_checks


def norm_comparison(a, exe, key):
    """LayerNorm (key "ln") or BatchNorm2d ("bn") of bench_norms against torch_norm_shapes.py:
    the rounds, the table, and the two targets per thread count as (target, measured, met) rows."""
    name, prefix = NORMS[key]
    labels = norm_shapes(exe, prefix)
    if not labels:
        return [(f"{name}: forward and forward+backward >= {NORM_TARGET}× PyTorch's", f"{exe} has no {prefix} benchmarks", False)]
    rounds = {"ours": [{} for _ in range(a.rounds)], "torch": [{} for _ in range(a.rounds)]}
    measure = {"ours": lambda t: ours(exe, t, prefix), "torch": lambda t: torch_norm(key, t, labels)}
    for i in range(a.rounds):
        for t in a.threads:
            for side in sides_in_order(i):
                rounds[side][i].update(measure[side](t))
    missing = [k for k in rounds["ours"][0] if k not in rounds["torch"][0]]
    if missing:
        sys.exit(f"compare.py: PyTorch's side has no {name} timing of {missing}")

    def med(side, k, kind):
        return statistics.median(r[k][kind] for r in rounds[side])

    mode = " (training mode)" if key == "bn" else ", normalised over the last dimension"
    print(f"{name}{mode}, float32, median of {a.rounds} round{'s' if a.rounds > 1 else ''}")
    print()
    print("| shape | threads | fwd ours ms | fwd PyTorch ms | fwd speed-up | fwd+bwd ours ms | fwd+bwd PyTorch ms | fwd+bwd speed-up | fwd GB/s | bwd GB/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios = {"fwd": {t: [] for t in a.threads}, "fb": {t: [] for t in a.threads}}
    order = list(rounds["ours"][0])  # the benchmark's own order: shapes as listed, by thread count
    for k in sorted(order, key=lambda k: (k[1], order.index(k))):
        label, th = k
        o_f, o_fb = med("ours", k, "fwd"), med("ours", k, "fb")
        t_f, t_fb = med("torch", k, "fwd"), med("torch", k, "fb")
        e = elements_of(label)
        bwd_ms = o_fb - o_f
        bwd = f"{12 * e / (bwd_ms * 1e-3) / 1e9:.1f}" if bwd_ms > 0 else "n/a"
        ratios["fwd"][th].append(t_f / o_f)
        ratios["fb"][th].append(t_fb / o_fb)
        print(f"| {label} | {th} | {o_f:.3f} | {t_f:.3f} | {t_f / o_f:.2f}× | {o_fb:.3f} | {t_fb:.3f} | {t_fb / o_fb:.2f}× "
              f"| {8 * e / (o_f * 1e-3) / 1e9:.1f} | {bwd} |")
    print()
    for t in a.threads:
        f, fb = ratios["fwd"][t], ratios["fb"][t]
        print(f"{name}, {plural(t)}: forward speed-up median {statistics.median(f):.2f}× (min {min(f):.2f}×), "
              f"forward+backward median {statistics.median(fb):.2f}× (min {min(fb):.2f}×)")
    print()
    checks = []
    for kind, what in (("fwd", "forward"), ("fb", "forward+backward")):
        for t in a.threads:
            r = ratios[kind][t]
            checks.append((f"{name} {what}: median speed-up over the {len(r)} shapes >= {NORM_TARGET}×, {plural(t)}",
                           f"median {statistics.median(r):.2f}×, min {min(r):.2f}×", statistics.median(r) >= NORM_TARGET))
    return checks


OPS_TARGET = 1.0  # every row, forward and forward+backward, each thread count


def ops_labels(bench):
    """The row labels of bench_ops in its order (a short query run of their forward at 1
    thread); None where it is not built."""
    if not os.path.exists(bench):
        return None
    d = json.loads(run([bench, "--benchmark_format=json", "--benchmark_min_time=0.001",
                        "--benchmark_filter=^BM_OpsForward/.*/threads:1/"]) or '{"benchmarks": []}')
    return [b["label"] for b in d["benchmarks"]]


def torch_ops(threads, labels):
    """PyTorch's side of bench_ops at `threads` threads: one run of bench/torch_ops.py."""
    out = run(["/usr/bin/python3", os.path.join(HERE, "torch_ops.py"), "--threads", str(threads), "--labels", *labels])
    res = {}
    for line in out.splitlines():
        r = json.loads(line)
        res[(r["label"], r["threads"])] = {"fwd": r["fwd_ms"], "fb": r["fwd_ms"] + r["bwd_ms"]}
    return res


def ops_comparison(a, exe):
    """The ops of bench_ops against torch_ops.py: the rounds, the table, and the
    targets (every row >= OPS_TARGET, per kind and thread count) as (target, measured, met) rows."""
    labels = ops_labels(exe)
    if not labels:
        return [(f"ops: each row >= {OPS_TARGET}× PyTorch's", f"{exe} has no BM_Ops benchmarks", False)]
    rounds = {"ours": [{} for _ in range(a.rounds)], "torch": [{} for _ in range(a.rounds)]}
    measure = {"ours": lambda t: ours(exe, t, "BM_Ops"), "torch": lambda t: torch_ops(t, labels)}
    for i in range(a.rounds):
        for t in a.threads:
            for side in sides_in_order(i):
                rounds[side][i].update(measure[side](t))
    missing = [k for k in rounds["ours"][0] if k not in rounds["torch"][0]]
    if missing:
        sys.exit(f"compare.py: PyTorch's side (bench/torch_ops.py ROWS) has no row {missing}")

    def med(side, k, kind):
        return statistics.median(r[k][kind] for r in rounds[side])

    print(f"Ops, float32, gradients of every operand, median of {a.rounds} round{'s' if a.rounds > 1 else ''}; "
          "speed-up = PyTorch ms / ours ms")
    print()
    print("| expression | threads | fwd ours ms | fwd PyTorch ms | fwd speed-up | fwd+bwd ours ms | fwd+bwd PyTorch ms | fwd+bwd speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = {"fwd": {t: [] for t in a.threads}, "fb": {t: [] for t in a.threads}}
    order = list(rounds["ours"][0])
    for k in sorted(order, key=lambda k: (k[1], order.index(k))):
        label, th = k
        o_f, o_fb = med("ours", k, "fwd"), med("ours", k, "fb")
        t_f, t_fb = med("torch", k, "fwd"), med("torch", k, "fb")
        ratios["fwd"][th].append((t_f / o_f, label))
        ratios["fb"][th].append((t_fb / o_fb, label))
        print(f"| {label} | {th} | {o_f:.3f} | {t_f:.3f} | {t_f / o_f:.2f}× | {o_fb:.3f} | {t_fb:.3f} | {t_fb / o_fb:.2f}× |")
    print()
    checks = []
    for kind, what in (("fwd", "forward"), ("fb", "forward+backward")):
        for t in a.threads:
            worst, row = min(ratios[kind][t])
            checks.append((f"ops {what}: each of the {len(ratios[kind][t])} rows >= {OPS_TARGET}× PyTorch, {plural(t)}",
                           f"min {worst:.2f}× ({row})", worst >= OPS_TARGET))
    return checks


NETS_MEDIAN_TARGET, NETS_MIN_TARGET = 1.5, 1.25  # our images/s over PyTorch's, per thread count
CONV_PEAK_TARGET = 0.60  # the 3x3 convolution's forward+backward, as a share of the measured FMA peak


def nets_list(exe):
    """bench_nets --list: [{"net": name, "batch": b}] in its order."""
    return [json.loads(line) for line in run([exe, "--list"]).splitlines()]


def nets_comparison(a, exe):
    """The networks of bench_nets against bench/torch_nets.py (one process per net, thread count
    and side; images/s from its JSON line, peak RSS from wait4), then bench_nets --conv (the 3x3
    convolution beside the FMA peak its process measures first); tables and targets as
    (target, measured, met) rows."""
    listed = nets_list(exe)
    names = [n["net"] for n in listed]
    seconds = str(a.net_seconds)
    commands = {"ours": lambda net, t: [exe, "--net", net, "--threads", str(t), "--seconds", seconds],
                "torch": lambda net, t: ["/usr/bin/python3", os.path.join(HERE, "torch_nets.py"), "--net", net,
                                         "--threads", str(t), "--seconds", seconds]}
    runs = {(net, t): {"ours": [], "torch": []} for net in names for t in a.threads}
    convs = {t: [] for t in a.threads}
    for i in range(a.rounds):
        for t in a.threads:
            for net in names:
                for side in sides_in_order(i):
                    out, rss = run_with_rss(commands[side](net, t))
                    r = json.loads(out)
                    if not (math.isfinite(r["loss_first"]) and math.isfinite(r["loss_last"])):
                        sys.exit(f"compare.py: {side} {net} at {plural(t)} trained to a non-finite loss: {out.strip()}")
                    runs[(net, t)][side].append(dict(r, rss=rss))
                counts = {side: runs[(net, t)][side][-1]["parameters"] for side in ("ours", "torch")}
                if counts["ours"] != counts["torch"]:
                    sys.exit(f"compare.py: {net} has {counts['ours']} parameters in bench_nets but {counts['torch']} "
                             "in torch_nets.py: the two sides build different networks")
            convs[t].append(json.loads(run([exe, "--conv", "--threads", str(t), "--seconds", str(a.conv_seconds)])))

    def med(net, t, side, key):
        return statistics.median(r[key] for r in runs[(net, t)][side])

    rounds = f"median of {a.rounds} round{'s' if a.rounds > 1 else ''}"
    checks = []
    for t in a.threads:
        print(f"Training step throughput, float32, SGD, {plural(t)}, {a.net_seconds} s timed per run, {rounds}")
        print()
        print("| net | batch | ours images/s | PyTorch images/s | ratio | ours peak RSS MB | PyTorch peak RSS MB |")
        print("|---|---|---|---|---|---|---|")
        ratios, rss = [], []
        for net in names:
            o, p = med(net, t, "ours", "images_per_s"), med(net, t, "torch", "images_per_s")
            o_rss, p_rss = med(net, t, "ours", "rss"), med(net, t, "torch", "rss")
            ratios.append((o / p, net))
            rss.append((o_rss / p_rss, net, o_rss, p_rss))
            batch = runs[(net, t)]["ours"][0]["batch"]
            print(f"| {net} | {batch} | {o:.1f} | {p:.1f} | {o / p:.2f}× | {o_rss:.0f} | {p_rss:.0f} |")
        print()
        if not ratios:
            continue
        median = statistics.median(r for r, _ in ratios)
        worst, worst_net = min(ratios)
        checks.append((f"nets: median images/s ratio over the {len(ratios)} nets >= {NETS_MEDIAN_TARGET}×, "
                       f"no net below {NETS_MIN_TARGET}×, {plural(t)}",
                       f"median {median:.2f}×, min {worst:.2f}× ({worst_net})",
                       median >= NETS_MEDIAN_TARGET and worst >= NETS_MIN_TARGET))
        over = [f"{net} {o:.0f} vs {p:.0f} MB" for q, net, o, p in rss if q > 1]
        checks.append((f"nets: our peak RSS <= PyTorch's on each net, {plural(t)}",
                       "; ".join(over) if over else f"largest ours/PyTorch {max(rss)[0]:.2f} ({max(rss)[1]})", not over))

    # The loss of the first warm-up step and of the last timed step, first round: each side trains.
    print("Loss on the fixed batch, first step → last timed step (round 1)")
    print()
    print("| net | threads | ours | PyTorch |")
    print("|---|---|---|---|")
    for t in a.threads:
        for net in names:
            o, p = runs[(net, t)]["ours"][0], runs[(net, t)]["torch"][0]
            print(f"| {net} | {t} | {o['loss_first']:.4f} → {o['loss_last']:.4f} | {p['loss_first']:.4f} → {p['loss_last']:.4f} |")
    print()

    c0 = convs[a.threads[0]][0]
    print(f"Conv2d {c0['conv']}, float32, FLOPs of the direct convolution ({c0['fwd_gflop']:.2f} GFLOP forward, "
          f"{c0['fb_gflop']:.2f} forward+backward), against the FMA peak ({c0['peak']}) measured by the same process, {rounds}")
    print()
    print("| threads | FMA peak GFLOP/s | fwd ms | fwd GFLOP/s | fwd % of peak | fwd+bwd ms | fwd+bwd GFLOP/s | fwd+bwd % of peak |")
    print("|---|---|---|---|---|---|---|---|")
    for t in a.threads:
        m = {k: statistics.median(c[k] for c in convs[t])
             for k in ("peak_gflops", "fwd_s", "fwd_gflops", "fwd_of_peak", "fb_s", "fb_gflops", "fb_of_peak")}
        print(f"| {t} | {m['peak_gflops']:.1f} | {1e3 * m['fwd_s']:.1f} | {m['fwd_gflops']:.1f} | {100 * m['fwd_of_peak']:.0f}% "
              f"| {1e3 * m['fb_s']:.1f} | {m['fb_gflops']:.1f} | {100 * m['fb_of_peak']:.0f}% |")
        checks.append((f"Conv2d 3×3 64→64 on 32×64×56×56 forward+backward >= {100 * CONV_PEAK_TARGET:.0f}% of the FMA peak, "
                       f"{plural(t)}", f"{100 * m['fb_of_peak']:.0f}% ({m['fb_gflops']:.1f} of {m['peak_gflops']:.1f} GFLOP/s)",
                       m["fb_of_peak"] >= CONV_PEAK_TARGET))
    print()
    return checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="build directory configured with -DTAPEGRAD_BUILD_BENCH=ON")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=100, help="SGD steps timed per CNN run")
    ap.add_argument("--net-seconds", type=float, default=3.0, help="timed seconds per bench_nets / torch_nets.py run")
    ap.add_argument("--conv-seconds", type=float, default=3.0, help="timed seconds per bench_nets --conv run")
    ap.add_argument("--only", choices=["gn", "ln", "bn", "cnn", "ops", "nets"], nargs="+",
                    help="run only these comparisons (GroupNorm, LayerNorm, BatchNorm2d, the CNN, ops, the networks)")
    a = ap.parse_args()
    only = set(a.only or ["gn", "ln", "bn", "cnn", "ops", "nets"])
    gn_exe = os.path.join(a.build, "bench", "bench_group_norm")
    norms_exe = os.path.join(a.build, "bench", "bench_norms")
    ops_exe = os.path.join(a.build, "bench", "bench_ops")
    labels, simd, blas = gn_shapes_and_simd(gn_exe)
    if simd is None and os.path.exists(ops_exe):  # the SIMD level from the benchmark that is built
        simd = json.loads(run([ops_exe, "--benchmark_format=json", "--benchmark_min_time=0.001",
                               "--benchmark_filter=^BM_OpsForward/row:0/threads:1/"]))["context"].get("simd")
    nets_exe = os.path.join(a.build, "bench", "bench_nets")
    if simd is None and os.path.exists(nets_exe):
        info = json.loads(run([nets_exe, "--info"]))
        simd, blas = info["simd"], info["blas"]
    if labels is None and "gn" in only:
        sys.exit(f"compare.py: {gn_exe} is not built (configure with -DTAPEGRAD_BUILD_BENCH=ON)")
    cnn_exe = os.path.join(a.build, "bench", "bench_cnn_throughput")
    if not os.path.exists(cnn_exe) and "cnn" in only:
        sys.exit(f"compare.py: {cnn_exe} is not built (configure with -DTAPEGRAD_BUILD_BENCH=ON)")
    if not os.path.exists(norms_exe) and only & {"ln", "bn"}:
        sys.exit(f"compare.py: {norms_exe} is not built (configure with -DTAPEGRAD_BUILD_BENCH=ON)")
    if not os.path.exists(ops_exe) and "ops" in only:
        sys.exit(f"compare.py: {ops_exe} is not built (configure with -DTAPEGRAD_BUILD_BENCH=ON)")
    if not os.path.exists(nets_exe) and "nets" in only:
        sys.exit(f"compare.py: {nets_exe} is not built (configure with -DTAPEGRAD_BUILD_BENCH=ON)")
    print(f"CPU: {machine_line(lscpu())}")
    print(f"SIMD: {simd or 'unknown (bench_group_norm not built)'} (tapegrad's kernels, as compiled); "
          f"GEMM: OpenBLAS, {blas or 'unknown'} kernels")
    print(f"PyTorch {run(['/usr/bin/python3', '-c', 'import torch; print(torch.__version__)']).strip()}")
    print(f"threads timed: {', '.join(str(t) for t in a.threads)}")
    print()
    cnn_checks = []
    if "cnn" in only:
        cnn = cnn_table(a.build, a.threads, a.rounds, a.steps)
        for t, r in cnn.items():
            cnn_checks.append((f"CNN training at batch 64: images/s >= 1.5× PyTorch's, {plural(t)}",
                               f"{r['ours']:.0f} vs {r['torch']:.0f} ({r['ours'] / r['torch']:.2f}×)",
                               r["ours"] >= 1.5 * r["torch"]))
            cnn_checks.append((f"CNN training at batch 64: peak RSS <= PyTorch's, {plural(t)}",
                               f"{r['ours_rss']:.0f} vs {r['torch_rss']:.0f} MB", r["ours_rss"] <= r["torch_rss"]))
    gn_checks = gn_comparison(a, gn_exe, labels) if "gn" in only else []
    norm_checks = [c for key in ("ln", "bn") if key in only for c in norm_comparison(a, norms_exe, key)]
    ops_checks = ops_comparison(a, ops_exe) if "ops" in only else []
    nets_checks = nets_comparison(a, nets_exe) if "nets" in only else []
    print_targets(gn_checks + norm_checks + cnn_checks + ops_checks + nets_checks)

if __name__ == "__main__":
    main()
