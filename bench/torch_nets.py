#!/usr/bin/python3
"""PyTorch CPU training throughput of several networks (float32): PyTorch's side of bench_nets
(bench/nets.cpp), net for net, step for step.
The networks are bench/nets.cpp's, layer for layer (NETS below; the reference CNN is
torch_cnn.py's): a convolution followed by GroupNorm has no bias; GroupNorm's eps is the default
1e-5 on both sides. SGD with lr 0.01, momentum 0.9, weight decay 5e-4; a fixed random batch
(torch.manual_seed(0)), reused every step: inputs from randn, and for the classifiers labels
drawn from 0..9 and cross-entropy, for the diffusion block mse_loss to a random target.
Method: torch.set_num_threads(--threads); --warmup untimed steps, then --steps timed steps, or
with --steps 0 as many as start within --seconds (time.perf_counter around them). A step is
zero_grad, forward, loss, backward, optimizer step. Prints one JSON line: net, threads, batch,
the number of parameters (compare.py checks it against bench_nets'), steps, seconds,
images_per_s, the loss of the first warm-up step and of the last timed step, and the process's
peak RSS in MB (compare.py reads it with wait4 as well).

Usage: bench/torch_nets.py --net NAME [--threads 1] [--batch 0] [--seconds 3] [--steps 0] [--warmup 2]"""
import argparse, json, resource, time
import torch, torch.nn as nn, torch.nn.functional as F

from torch_cnn import reference_cnn

SGD = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)


def conv_no_bias(cin, cout, k, stride=1, padding=0, groups=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=padding, groups=groups, bias=False)


class BasicBlock(nn.Module):
    """tg::Residual(body, shortcut): relu(body(x) + shortcut(x)), the identity without a shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(conv_no_bias(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.ReLU(),
                                  conv_no_bias(cout, cout, 3, 1, 1), nn.GroupNorm(8, cout))
        self.shortcut = None if cin == cout and stride == 1 else nn.Sequential(
            conv_no_bias(cin, cout, 1, stride, 0), nn.GroupNorm(8, cout))

    def forward(self, x):
        return F.relu(self.body(x) + (x if self.shortcut is None else self.shortcut(x)))


def resnet():
    layers = [conv_no_bias(1, 16, 3, 1, 1), nn.GroupNorm(8, 16), nn.ReLU()]
    cin = 16
    for width in (16, 32, 64):
        for b in range(3):
            layers.append(BasicBlock(cin, width, 2 if b == 0 and width != 16 else 1))
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def vgg():
    layers, cin = [], 1
    for width in (64, 128, 256):
        if width != 64:
            layers.append(nn.MaxPool2d(2))
        for _ in range(2):
            layers += [conv_no_bias(cin, width, 3, 1, 1), nn.GroupNorm(32, width), nn.ReLU()]
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def wide_kernels():
    return nn.Sequential(
        conv_no_bias(1, 48, 5, 1, 2), nn.GroupNorm(8, 48), nn.ReLU(), nn.MaxPool2d(2),
        conv_no_bias(48, 96, 7, 1, 3), nn.GroupNorm(8, 96), nn.ReLU(), nn.AvgPool2d(2),
        conv_no_bias(96, 128, 3, 1, 1), nn.GroupNorm(8, 128), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(128, 10))


class DiffusionBlock(nn.Module):
    """x + conv3x3(SiLU(GN(conv3x3(SiLU(GN(x)))))), convolutions with bias, nothing after the sum."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.GroupNorm(32, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x):
        return self.body(x) + x


def depthwise():
    layers = [conv_no_bias(1, 32, 3, 1, 1), nn.GroupNorm(8, 32), nn.ReLU()]
    for c in (32, 64, 128):
        layers += [conv_no_bias(c, c, 3, 1 if c == 32 else 2, 1, groups=c), nn.GroupNorm(8, c), nn.ReLU(),
                   conv_no_bias(c, 2 * c, 1), nn.GroupNorm(8, 2 * c), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


# name: (builder, one sample's shape, default batch, classifier)
NETS = {
    "reference": (reference_cnn, (1, 28, 28), 64, True),
    "resnet": (resnet, (1, 28, 28), 64, True),
    "vgg": (vgg, (1, 28, 28), 64, True),
    "wide_kernels": (wide_kernels, (1, 28, 28), 64, True),
    "diffusion": (lambda: DiffusionBlock(128), (128, 64, 64), 4, False),
    "depthwise": (depthwise, (1, 28, 28), 64, True),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", required=True, choices=list(NETS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=0, help="0: the net's own (64; the diffusion block 4)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds (with --steps 0)")
    ap.add_argument("--steps", type=int, default=0, help="timed steps instead of --seconds (0: by time)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    a = ap.parse_args()
    if a.threads < 1 or a.warmup < 1 or a.batch < 0 or a.steps < 0 or not a.seconds > 0:
        ap.error(f"expected --threads >= 1, --warmup >= 1, --batch >= 0, --steps >= 0 and --seconds > 0, got "
                 f"{a.threads}, {a.warmup}, {a.batch}, {a.steps} and {a.seconds}")
    build, sample, default_batch, classifier = NETS[a.net]
    batch = a.batch or default_batch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = build()
    x = torch.randn(batch, *sample)
    if classifier:
        labels = torch.randint(0, 10, (batch,))
        loss_of = lambda out: F.cross_entropy(out, labels)
    else:
        with torch.no_grad():
            target = torch.randn(net(x).shape)
        loss_of = lambda out: F.mse_loss(out, target)
    opt = torch.optim.SGD(net.parameters(), **SGD)

    def step():
        opt.zero_grad()
        loss = loss_of(net(x))
        loss.backward()
        opt.step()
        return loss.item()

    loss_first = step()
    for _ in range(a.warmup - 1):
        step()
    done, loss_last = 0, loss_first
    start = time.perf_counter()
    while done < a.steps if a.steps else done == 0 or time.perf_counter() - start < a.seconds:
        loss_last = step()
        done += 1
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    parameters = sum(p.numel() for p in net.parameters())
    print(json.dumps(dict(net=a.net, threads=a.threads, batch=batch, parameters=parameters, steps=done,
                          seconds=round(seconds, 3),
                          images_per_s=round(done * batch / seconds, 2), loss_first=loss_first, loss_last=loss_last,
                          max_rss_mb=round(rss_mb, 1))), flush=True)


if __name__ == "__main__":
    main()
