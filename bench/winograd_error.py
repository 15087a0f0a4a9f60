#!/usr/bin/env python3
"""The float32 error of Winograd minimal-filtering schemes F(m×m, r×r), in a NumPy model.

A probe for choosing the next scheme of framework/kernels/conv2d_winograd.cpp, not a benchmark of
it: each scheme's matrices are built from its interpolation points (Toom-Cook: G and Aᵀ from the
points, Bᵀ solved so that the 1-D correlation is exact), a 2-D convolution is computed through
them in float64 (to check the matrices, ~1e-14) and in float32 (transforms and products rounded
to float32, kernel transform in float64 as the library does), and the float32 result's largest
error is printed relative to the largest value of the float64 direct convolution: the measure
docs/numerics.md gives for the library's F(4×4, 3×3). Inputs are ReLU-like, weights
Kaiming-scaled, as in the library's test.

    python3 bench/winograd_error.py            # the default schemes on a 48 → 16 channel, 14×14 output case
    python3 bench/winograd_error.py --channels 96 --size 28
"""
import argparse

import numpy as np

# The points of α = m + r − 1 = 6 (F(4, 3)) and 8 (F(2, 7), F(4, 5), F(6, 3)); ∞ is the last.
POINTS = {6: [0, 1, -1, 2, -2], 8: [0, 1, -1, 2, -2, 0.5, -0.5]}


def matrices(m, r):
    pts = POINTS[m + r - 1]
    a = len(pts) + 1
    f = [np.prod([pi - pk for k, pk in enumerate(pts) if k != i]) for i, pi in enumerate(pts)]
    G, AT = np.zeros((a, r)), np.zeros((m, a))
    for i, p in enumerate(pts):
        G[i] = [p**j / f[i] for j in range(r)]
        AT[:, i] = [p**k for k in range(m)]
    G[a - 1, r - 1] = AT[m - 1, a - 1] = 1
    # Bᵀ from Σ_i Aᵀ[k, i]·G[i, j]·Bᵀ[i, l] = [l = k + j] for every k < m, j < r, l < α.
    eqs, rhs = [], []
    for k in range(m):
        for j in range(r):
            for l in range(a):
                row = np.zeros((a, a))
                row[:, l] = AT[k, :] * G[:, j]
                eqs.append(row.ravel())
                rhs.append(float(l == k + j))
    BT = np.linalg.lstsq(np.array(eqs), np.array(rhs), rcond=None)[0].reshape(a, a)
    return AT, G, BT


def direct(x, w):
    """Valid correlation of x (C, H, W) with w (O, C, r, r), in float64."""
    r = w.shape[2]
    H, W = x.shape[1] - r + 1, x.shape[2] - r + 1
    y = np.zeros((w.shape[0], H, W))
    for i in range(r):
        for j in range(r):
            y += np.einsum("oc,chw->ohw", w[:, :, i, j], x[:, i : i + H, j : j + W])
    return y


def winograd(x, w, m, dtype):
    O, C, r, _ = w.shape
    AT, G, BT = matrices(m, r)
    a = m + r - 1
    H, W = x.shape[1] - r + 1, x.shape[2] - r + 1
    th, tw = -(-H // m), -(-W // m)
    xp = np.zeros((C, th * m + r - 1, tw * m + r - 1), dtype)
    xp[:, : x.shape[1], : x.shape[2]] = x
    U = np.einsum("ai,ocij,bj->ocab", G, w, G).astype(dtype)  # in float64, then rounded
    ATd, BTd = AT.astype(dtype), BT.astype(dtype)
    y = np.zeros((O, th * m, tw * m), dtype)
    for ty in range(th):
        for tx in range(tw):
            V = np.einsum("ai,cij,bj->cab", BTd, xp[:, ty * m : ty * m + a, tx * m : tx * m + a], BTd)
            M = np.einsum("ocab,cab->oab", U, V.astype(dtype)).astype(dtype)
            y[:, ty * m : ty * m + m, tx * m : tx * m + m] = np.einsum("ia,oab,jb->oij", ATd, M, ATd)
    return y[:, :H, :W]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schemes", nargs="+", default=["4,3", "2,7", "4,5", "6,3"], help="m,r pairs")
    ap.add_argument("--channels", type=int, default=48, help="input channels C")
    ap.add_argument("--outputs", type=int, default=16, help="output channels O")
    ap.add_argument("--size", type=int, default=14, help="output extent (square)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    for scheme in args.schemes:
        m, r = (int(v) for v in scheme.split(","))
        if m + r - 1 not in POINTS:
            raise SystemExit(f"winograd_error.py: F({m}, {r}) has {m + r - 1} points; this knows 6 and 8")
        n = args.size + r - 1
        x = np.maximum(rng.standard_normal((args.channels, n, n)), 0)
        w = rng.standard_normal((args.outputs, args.channels, r, r)) * np.sqrt(2 / (args.channels * r * r))
        exact = direct(x, w)
        scale = np.abs(exact).max()
        check = np.abs(winograd(x, w, m, np.float64) - exact).max() / scale
        err = np.abs(winograd(x.astype(np.float32), w, m, np.float32) - exact).max() / scale
        print(f"F({m}x{m}, {r}x{r}): {m + r - 1} points, float64 {check:.1e} (the matrices), "
              f"float32 {err:.2e} of the result's scale")


if __name__ == "__main__":
    main()
