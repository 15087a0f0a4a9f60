#!/usr/bin/python3
"""safetensors -> PyTorch with python3-torch and the standard library only. load_safetensors()
reads a file that tapegrad (or huggingface's safetensors) wrote into {name: tensor} and its
metadata, checking it as tapegrad's reader does: a bounded header length, known dtypes, byte
ranges that fit dtype x shape and cover the data exactly.

Run as a script, it loads a reference-CNN file that tapegrad exported
(`pytorch_interop --export FILE`) into PyTorch's model, strictly (every name and shape must
match), and prints PyTorch's Fashion-MNIST test accuracy next to the one tapegrad measured:

    /usr/bin/python3 examples/pytorch_interop/safetensors_to_torch.py runs/pytorch_interop/tapegrad_cnn.safetensors
"""
import argparse
import json
import sys
from collections import OrderedDict

import torch

from torch_to_safetensors import accuracy, load_fashion_mnist, reference_cnn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64,
          "BF16": torch.bfloat16, "F16": torch.float16}
MAX_HEADER_BYTES = 100_000_000  # as safetensors' own reader


def load_safetensors(path):
    """({name: tensor} in the header's order, {key: value} of "__metadata__")."""
    if sys.byteorder != "little":
        raise RuntimeError("this reader maps the bytes as they are, so it needs a little-endian machine")
    with open(path, "rb") as f:
        data = f.read()
    def fail(what):
        raise ValueError("cannot load %s: %s" % (path, what))
    if len(data) < 8:
        fail("shorter than the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        fail("header length %d is over 100 MB or past the end of the file" % n)
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            fail("the header names a key twice")
        return OrderedDict(pairs)
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    body = memoryview(data)[8 + n:]
    metadata = header.pop("__metadata__", {})
    if not all(isinstance(v, str) for v in metadata.values()):
        fail("__metadata__ holds a value that is not a string")
    tensors, spans = OrderedDict(), []
    for name, info in header.items():
        dtype = DTYPES.get(info.get("dtype"))
        if dtype is None:
            fail("tensor %s: unknown dtype %r" % (name, info.get("dtype")))
        shape, (begin, end) = info["shape"], info["data_offsets"]
        numel = 1
        for extent in shape:
            numel *= extent
        if not 0 <= begin <= end <= len(body) or end - begin != numel * torch.empty((), dtype=dtype).element_size():
            fail("tensor %s: data_offsets [%d, %d] do not hold shape %s of %s" % (name, begin, end, shape, info["dtype"]))
        spans.append((begin, end, name))
        tensors[name] = (torch.frombuffer(bytearray(body[begin:end]), dtype=dtype).reshape(shape) if numel
                         else torch.empty(shape, dtype=dtype))
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            fail("tensor %s: data_offsets [%d, %d] overlap another tensor or leave a gap" % (name, begin, end))
        at = end
    if at != len(body):
        fail("%d bytes of data belong to no tensor" % (len(body) - at))
    return tensors, metadata


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="a .safetensors file of the reference CNN")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tensors, metadata = load_safetensors(a.file)
    model = reference_cnn()
    model.load_state_dict(tensors, strict=True)
    x_test, y_test = load_fashion_mnist("test", a.data_dir)
    acc = accuracy(model, x_test, y_test)
    print("PyTorch %s: loaded %d tensors from %s; test accuracy %.4f (%d/%d)"
          % (torch.__version__, len(tensors), a.file, acc, round(acc * len(y_test)), len(y_test)))
    if "test_accuracy" in metadata:
        print("the file says %s measured %s" % (metadata.get("producer", "its writer"), metadata["test_accuracy"]))


if __name__ == "__main__":
    main()
