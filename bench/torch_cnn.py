#!/usr/bin/python3
"""PyTorch CPU training throughput of the reference CNN (float32): PyTorch's side of
bench_cnn_throughput (bench/cnn_throughput.cpp), step for step.
The network is bench/reference_cnn.hpp's, layer for layer (reference_cnn below); SGD with lr
0.05, momentum 0.9 and weight decay 5e-4; cross-entropy loss; batch 64.
Method: torch.set_num_threads(--threads) and torch.manual_seed(0); 5 warm-up steps on the first
batch, then --steps timed steps (time.perf_counter around all of them) on consecutive batches of
--batch in index order, starting again at the first when the full batches run out. A step is
zero_grad, forward, loss, backward, optimizer step. Prints one JSON line: threads, batch,
train_images_per_s, and the process's peak RSS in MB (compare.py reads it with wait4 as well).

The data: Fashion-MNIST's training split (bench_cnn_throughput loads no other) from
$TAPEGRAD_FASHION_MNIST_DIR when set and not empty, else from Debian's dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist): the directory tapegrad's load_fashion_mnist reads. It is
held as one float32 tensor, scaled to [0, 1] and normalised with mean 0.2860 and std 0.3530
up front, the usual way in PyTorch; bench_cnn_throughput keeps the bytes and its Loader
normalises each batch with the same constants, so PyTorch's peak RSS includes the 188 MB
float copy and ours does not.

Usage: bench/torch_cnn.py [--threads 1] [--steps 100] [--batch 64]"""
import argparse, gzip, json, os, resource, time
import numpy as np, torch, torch.nn as nn

SGD = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)
MEAN, STD = 0.2860, 0.3530
WARMUP_STEPS = 5


def reference_cnn():
    """bench/reference_cnn.hpp, layer for layer."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.GroupNorm(16, 64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def data_dir():
    return os.environ.get("TAPEGRAD_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"


def load_train(root):
    """Fashion-MNIST's training split: (N, 1, 28, 28) float32 normalised, (N,) int64 labels."""
    paths = [os.path.join(root, f) for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")]
    for p in paths:
        if not os.path.exists(p):
            raise SystemExit(f"torch_cnn.py: Fashion-MNIST file {p} not found (install Debian's "
                             "dataset-fashion-mnist, or point TAPEGRAD_FASHION_MNIST_DIR at a directory holding it)")
    with gzip.open(paths[0]) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)  # IDX header: magic, count, rows, cols
    with gzip.open(paths[1]) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)  # magic, count
    x = (x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0 - MEAN) / STD
    if len(x) != len(y):
        raise SystemExit(f"torch_cnn.py: {len(x)} images but {len(y)} labels in {root}")
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100, help="SGD steps timed")
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    if min(a.threads, a.steps, a.batch) < 1:
        ap.error(f"expected positive --threads, --steps and --batch, got {a.threads}, {a.steps}, {a.batch}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = load_train(data_dir())
    batches = len(x) // a.batch  # full batches only, as the Loader's drop_last
    if batches == 0:
        ap.error(f"--batch {a.batch} is larger than the {len(x)} training images")
    net = reference_cnn()
    opt = torch.optim.SGD(net.parameters(), **SGD)
    loss_fn = nn.CrossEntropyLoss()

    def step(i):
        j = (i % batches) * a.batch
        opt.zero_grad()
        loss_fn(net(x[j:j + a.batch]), y[j:j + a.batch]).backward()
        opt.step()

    for _ in range(WARMUP_STEPS):
        step(0)
    start = time.perf_counter()
    for i in range(a.steps):
        step(i)
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    print(json.dumps(dict(threads=a.threads, batch=a.batch, train_images_per_s=round(a.steps * a.batch / seconds, 1),
                          max_rss_mb=round(rss_mb, 1))), flush=True)


if __name__ == "__main__":
    main()
