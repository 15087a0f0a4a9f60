// 2-D convolution lowered to GEMM: im2col unrolls one sample's receptive fields into a
// column matrix, col2im folds a column matrix back, adding; conv2d_forward / conv2d_backward
// run a batch on them. Stride and zero padding only (no dilation, no groups). The
// `_reference` twins compute the convolution directly, for tests.
#pragma once

#include <cstdint>

#include "framework/kernels/conv2d_winograd.hpp"
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

// How a batch runs: its samples split over `threads` OpenMP threads (Work::multiply_adds,
// parallel.hpp), each thread with its own column matrix in the caller's workspace and, in
// the backward, its own dW partial sum (the partials are added in thread order, so results
// do not depend on timing). With one sample the loop stays serial and GEMM takes the threads
// instead. The GEMMs inside a parallel loop run on their calling thread (gemm.hpp).
// `direct`: a 1×1 kernel with stride 1 and no padding sees x[n] (C, H·W) as its column matrix.
// `winograd`: a 3×3 stride-1 kernel runs as Winograd F(4×4, 3×3) (conv2d_winograd.hpp) with
// the plans in forward / data / weight, each using the start of the workspace in turn.
struct Conv2dPlan {
    int threads = 1;
    bool direct = false;
    bool winograd = false;
    WinogradPlan forward, data, weight;
    int64_t col_size = 0;   // elements of one column matrix (C·kh·kw, OH·OW); 0 when direct
    int64_t workspace = 0;  // elements of scratch the call needs (uninitialised is fine)
};
Conv2dPlan conv2d_forward_plan(int64_t N, int64_t C, int64_t O, const Window2d& g);
// For a backward that computes dx (`dx`) and/or dW (`dw`).
Conv2dPlan conv2d_backward_plan(int64_t N, int64_t C, int64_t O, const Window2d& g, bool dx, bool dw);

// y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, C, kh, kw)) + b (O); b may be null. Every
// element of y is written. `workspace`: plan.workspace elements, plan from conv2d_forward_plan.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O, const Window2d& g,
                    const Conv2dPlan& plan, T* workspace);

// The gradients of conv2d_forward from dy (N, O, OH, OW): dx (N, C, H, W), dw (O, C, kh, kw)
// and db (O); each may be null to skip it, and each is added to (accumulate_*) or assigned
// (its buffer may then be uninitialised). Per sample, with col = im2col(x[n]):
//   dW += dy[n]·colᵀ,   dcol = Wᵀ·dy[n],   dx[n] (+)= col2im(dcol),   db[o] += Σ_l dy[n, o, l].
// `workspace`: plan.workspace elements, plan from conv2d_backward_plan(dx != null, dw != null).
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C, int64_t O,
                     const Window2d& g, const Conv2dPlan& plan, T* workspace, bool accumulate_dx, bool accumulate_dw,
                     bool accumulate_db);

// The direct convolution, one output at a time, in double: what conv2d_forward must equal.
template <typename T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                              const Window2d& g);

// Accumulates (+=) into dx, dw, db; any of them may be null to skip it.
template <typename T>
void conv2d_backward_reference(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C,
                               int64_t O, const Window2d& g);

}  // namespace tapegrad::kernels
