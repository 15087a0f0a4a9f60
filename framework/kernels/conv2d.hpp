// 2-D convolution lowered to GEMM: im2col unrolls one sample's receptive fields into a
// column matrix, col2im folds a column matrix back, adding; conv2d_forward / conv2d_backward
// run a batch on them, one GEMM per group. Stride, zero padding, dilation (in Window2d) and
// groups, as torch.nn.functional.conv2d. Stride-1 kernels of 3×3 to 9×9 with enough channels run
// as Winograd instead (conv2d_winograd.hpp; the plans choose). The `_reference` twins
// compute the convolution directly, for tests.
#pragma once

#include <cstdint>

#include "framework/kernels/conv2d_depthwise.hpp"
#include "framework/kernels/conv2d_winograd.hpp"
#include "framework/kernels/window2d.hpp"

namespace tapegrad::kernels {

// col (C·kh·kw, OH·OW) ← x (C, H, W): row (c, i, j), column (oh, ow) holds
// x[c, oh·sh − ph + i·dil_h, ow·sw − pw + j·dil_w], or 0 where that lands in the padding.
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
// Groups need no workspace of their own: the rows of one sample's column matrix are ordered by
// channel, so each group's column matrix is a block of them.
// `winograd`: a stride-1 kernel of 3×3 to 9×9 runs as Winograd (conv2d_winograd.hpp) with
// the plans in forward / data / weight, each using the start of the workspace in turn.
// `depthwise`: groups == C runs as a direct sliding window per plane (conv2d_depthwise.hpp) on
// `threads` threads, with no workspace.
struct Conv2dPlan {
    int threads = 1;
    bool direct = false;
    bool winograd = false;
    bool depthwise = false;
    WinogradPlan forward, data, weight;
    int64_t col_size = 0;   // elements of one column matrix (C·kh·kw, OH·OW); 0 when direct
    int64_t workspace = 0;  // elements of scratch the call needs (uninitialised is fine)
};
// `groups` (>= 1) divides C and O; the caller checks it.
Conv2dPlan conv2d_forward_plan(int64_t N, int64_t C, int64_t O, int64_t groups, const Window2d& g);
// For a backward that computes dx (`dx`) and/or dW (`dw`).
Conv2dPlan conv2d_backward_plan(int64_t N, int64_t C, int64_t O, int64_t groups, const Window2d& g, bool dx, bool dw);

// y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, C/groups, kh, kw)) + b (O); b may be null.
// Output channels gi·O/groups … (gi+1)·O/groups − 1 see input channels gi·C/groups … (gi+1)·C/groups − 1
// alone (groups = C: depthwise). Every element of y is written. `workspace`: plan.workspace
// elements, plan from conv2d_forward_plan.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O, int64_t groups,
                    const Window2d& g, const Conv2dPlan& plan, T* workspace);

// The gradients of conv2d_forward from dy (N, O, OH, OW): dx (N, C, H, W), dw (O, C/groups,
// kh, kw) and db (O); each may be null to skip it, and each is added to (accumulate_*) or
// assigned (its buffer may then be uninitialised). Per sample and group gi, with col_gi group
// gi's rows of im2col(x[n]) and W_gi, dy_gi its rows of W and dy[n]:
//   dW_gi += dy_gi·col_giᵀ,   dcol_gi = W_giᵀ·dy_gi,   dx[n] (+)= col2im(dcol),   db[o] += Σ_l dy[n, o, l].
// `workspace`: plan.workspace elements, plan from conv2d_backward_plan(dx != null, dw != null).
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C, int64_t O,
                     int64_t groups, const Window2d& g, const Conv2dPlan& plan, T* workspace, bool accumulate_dx,
                     bool accumulate_dw, bool accumulate_db);

// The direct convolution, one output at a time, in double: what conv2d_forward must equal.
template <typename T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O, int64_t groups,
                              const Window2d& g);

// Accumulates (+=) into dx, dw, db; any of them may be null to skip it.
template <typename T>
void conv2d_backward_reference(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C,
                               int64_t O, int64_t groups, const Window2d& g);

}  // namespace tapegrad::kernels
