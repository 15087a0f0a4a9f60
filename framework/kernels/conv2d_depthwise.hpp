// Depthwise convolution (groups == C, O = C·m): output channel o reads input channel o / m
// alone, so a direct sliding window over each plane replaces im2col and the GEMMs of M = m,
// K = kh·kw that would do the same work slowly. conv2d.cpp's drivers call these when
// depthwise_applies(); conv2d.hpp's reference twins are what the tests hold them to.
#pragma once

#include <cstdint>

#include "framework/kernels/window2d.hpp"

namespace tapegrad::kernels {

// groups == C > 1 and O a multiple of C; any kernel, stride, padding and dilation. (C = 1 is
// a plain convolution of one channel and stays on the GEMM path.)
bool depthwise_applies(int64_t C, int64_t O, int64_t groups);

// How many threads the three passes run on: each plane (of y, of dx) or output channel (dW)
// is one thread's task, so every result is the same bits at any count.
int depthwise_threads(int64_t N, int64_t O, const Window2d& g);

// y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, 1, kh, kw)) + b (O, or null): per plane,
//   y[n, o, oh, ow] = b[o] + Σ_{i,j} w[o, i, j] · x[n, o/m, oh·sh − ph + i·dil_h, ow·sw − pw + j·dil_w],
// the taps added in the order (i, j). Every element of y is written.
template <typename T>
void conv2d_depthwise_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                              const Window2d& g, int threads);

// dx (N, C, H, W) (+)= the adjoint: each dy[n, o, oh, ow] · w[o, i, j] goes back to the input
// position its tap read, per input plane (c's m output channels in order, each tap in order).
template <typename T>
void conv2d_depthwise_backward_data(T* dx, const T* dy, const T* w, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                    int threads, bool accumulate);

// dw[o, i, j] (+)= Σ_n Σ_{oh,ow} dy[n, o, oh, ow] · x[n, o/m, tap (i, j) of (oh, ow)], in double.
template <typename T>
void conv2d_depthwise_backward_weight(T* dw, const T* dy, const T* x, int64_t N, int64_t C, int64_t O,
                                      const Window2d& g, int threads, bool accumulate);

}  // namespace tapegrad::kernels
