#!/usr/bin/python3
"""PyTorch -> safetensors with python3-torch and the standard library only (Debian's PyTorch has
no `safetensors` package). save_safetensors() writes a state_dict as huggingface's
safetensors.torch.save_file does: an 8-byte little-endian header length, the JSON header
{name: {"dtype", "shape", "data_offsets"}} (plus "__metadata__", strings only) padded with
spaces to a multiple of 8, then the raw little-endian data, largest elements first.

Run as a script, it trains the reference CNN (reference_cnn() below, the PyTorch twin of
tapegrad's bench/reference_cnn.hpp; bench/torch_cnn.py times the same model) in PyTorch for one short epoch on part of
Fashion-MNIST, prints its test accuracy and writes its weights, which tapegrad loads with
`pytorch_interop --load FILE` (see docs/io.md, "Exchanging weights with PyTorch"):

    /usr/bin/python3 examples/pytorch_interop/torch_to_safetensors.py --out runs/pytorch_interop/torch_cnn.safetensors
"""
import argparse
import ctypes
import gzip
import json
import os
import sys
import time

import torch
import torch.nn as nn

# The dtypes tapegrad reads; it writes the first three.
DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64",
               torch.bfloat16: "BF16", torch.float16: "F16"}


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} (e.g. model.state_dict()) to `path`, replacing it atomically."""
    if sys.byteorder != "little":
        raise RuntimeError("this writer copies memory as it is, so it needs a little-endian machine")
    header = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("safetensors metadata holds strings only, but %r: %r is not" % (key, value))
        header["__metadata__"] = dict(metadata)
    blobs = {}
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("a tensor cannot be called __metadata__")
        if t.dtype not in DTYPE_NAMES:
            raise TypeError("%s: dtype %s is none of %s" % (name, t.dtype, ", ".join(DTYPE_NAMES.values())))
        t = t.detach().cpu().contiguous()
        blobs[name] = ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape)}
    # Largest elements first (sorted() is stable), so every tensor is aligned to its element size.
    at = 0
    order = sorted(blobs, key=lambda name: -tensors[name].element_size())
    for name in order:
        header[name]["data_offsets"] = [at, at + len(blobs[name])]
        at += len(blobs[name])
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    temp = "%s.tmp.%d" % (path, os.getpid())
    with open(temp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name in order:
            f.write(blobs[name])
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


# --- the reference CNN on Fashion-MNIST, shared with safetensors_to_torch.py ------------------

def reference_cnn():
    """conv 1->32 3x3 pad 1, GroupNorm(8, 32), ReLU, maxpool 2; conv 32->64, GroupNorm(16, 64),
    ReLU, maxpool 2; flatten; linear 3136->128, ReLU; linear 128->10: state_dict keys 0.weight,
    0.bias, 1.weight, ..., 11.bias, as tapegrad's Sequential of the same layers names them."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.GroupNorm(16, 64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def load_fashion_mnist(split, root="/usr/share/datasets/fashion-mnist"):
    """(images (N, 1, 28, 28) normalised as tapegrad's Loader does, labels (N)) from Debian's
    dataset-fashion-mnist files."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(root, prefix + "-images-idx3-ubyte.gz")) as f:
        images = f.read()
    with gzip.open(os.path.join(root, prefix + "-labels-idx1-ubyte.gz")) as f:
        labels = f.read()
    if images[:4] != b"\x00\x00\x08\x03" or labels[:4] != b"\x00\x00\x08\x01":
        raise ValueError("%s: not the IDX files of Fashion-MNIST" % root)
    x = torch.frombuffer(bytearray(images[16:]), dtype=torch.uint8).reshape(-1, 1, 28, 28)
    y = torch.frombuffer(bytearray(labels[8:]), dtype=torch.uint8).long()
    return (x.float() / 255.0 - 0.2860) / 0.3530, y


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(y), 1000))
    return correct / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the .safetensors file to write")
    ap.add_argument("--train-limit", type=int, default=12000, help="train on this many images (shuffled)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_train, y_train = load_fashion_mnist("train", a.data_dir)
    x_test, y_test = load_fashion_mnist("test", a.data_dir)
    model = reference_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(y_train))[:a.train_limit]
        for i in range(0, len(order) - a.batch_size + 1, a.batch_size):
            batch = order[i:i + a.batch_size]
            opt.zero_grad()
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            opt.step()
    acc = accuracy(model, x_test, y_test)
    print("PyTorch %s: trained %d epoch(s) on %d images in %.1f s; test accuracy %.4f (%d/%d)"
          % (torch.__version__, a.epochs, min(a.train_limit, len(y_train)), time.perf_counter() - start,
             acc, round(acc * len(y_test)), len(y_test)))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    save_safetensors(model.state_dict(), a.out,
                     {"producer": "PyTorch " + torch.__version__, "test_accuracy": "%.4f" % acc})
    print("wrote %s (%d tensors)" % (a.out, len(model.state_dict())))


if __name__ == "__main__":
    main()
