// 2-D convolution lowered to GEMM: im2col unrolls one sample's receptive fields into a
// column matrix, col2im folds a column matrix back, adding. Stride and zero padding only
// (no dilation, no groups). The `_reference` twins compute the convolution directly, for tests.
#pragma once

#include <cstdint>

#include "framework/kernels/window2d.hpp"

namespace tapegrad::kernels {

// col (C·kh·kw, OH·OW) ← x (C, H, W): row (c, i, j), column (oh, ow) holds
// x[c, oh·sh − ph + i, ow·sw − pw + j], or 0 where that lands in the padding.
template <typename T>
void im2col(T* col, const T* x, int64_t C, const Window2d& g);

// dx (C, H, W) += the fold of col (C·kh·kw, OH·OW): the adjoint of im2col. col is scratch:
// entries whose tap falls in the padding may be overwritten with zeros.
template <typename T>
void col2im(T* dx, T* col, int64_t C, const Window2d& g);

// y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, C, kh, kw)) + b (O); b may be null.
template <typename T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                              const Window2d& g);

// Accumulates (+=) into dx, dw, db; any of them may be null to skip it.
template <typename T>
void conv2d_backward_reference(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C,
                               int64_t O, const Window2d& g);

}  // namespace tapegrad::kernels
