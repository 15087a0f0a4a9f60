// Stride-1 convolution by Winograd's minimal filtering (Lavin & Gray, 2016). F(4×4, 3×3): each
// 4×4 block of output comes from a 6×6 tile of input with 36 multiplications per (input, output
// channel) pair instead of 144. A larger kernel (up to 9×9) is cut into 3×3 pieces, each applied
// to the input shifted by its offset, their products summed before the output transform: a 5×5
// kernel takes 4·36 multiplications per block instead of 400. A 7×7 kernel runs as F(2×2, 7×7)
// instead: each 2×2 block from an 8×8 tile with 64 multiplications instead of 196 (nine 3×3
// pieces would take 9·36 per 4×4 block, and transform each tile nine times).
// The forward, the input gradient and the weight gradient all run in the transformed domain as
// one GEMM per transformed point (36 or 64) per chunk of tiles; conv2d.cpp's drivers call these
// for the geometries winograd_applies() accepts. conv2d.hpp's direct reference twins are what the
// tests hold them to (float32 error: docs/numerics.md).
#pragma once

#include <cstdint>

#include "framework/kernels/window2d.hpp"

namespace tapegrad::kernels {

// A kernel of 3×3 to 9×9 with stride 1, no dilation and padding under the kernel's extent (so the
// input gradient is again such a convolution), and enough channels on both sides that the
// transforms pay for themselves.
bool winograd_applies(int64_t C, int64_t O, const Window2d& g);

// How a batch runs: tiles (one output block of one sample) are taken in chunks of `chunk`
// across the samples; each chunk is transformed, multiplied and transformed back by one of
// `threads` threads in its own slice of the workspace. The chunks do not depend on the thread
// count, so the forward and the input gradient are the same bits at any thread count; the
// weight gradient sums one partial per thread, in thread order.
struct WinogradPlan {
    int threads = 1;
    int64_t tiles_h = 0, tiles_w = 0;  // tiles per sample, down and across
    int64_t tiles = 0;                 // N·tiles_h·tiles_w
    int64_t chunk = 0;                 // tiles per chunk
    int64_t workspace = 0;             // elements the call needs (uninitialised is fine)
};
// For conv2d_winograd_forward (x (N, C, H, W) → y (N, O, OH, OW)).
WinogradPlan winograd_forward_plan(int64_t N, int64_t C, int64_t O, const Window2d& g);
// For conv2d_winograd_backward_data, which is the forward of dy (N, O, OH, OW) → dx.
WinogradPlan winograd_backward_data_plan(int64_t N, int64_t C, int64_t O, const Window2d& g);
WinogradPlan winograd_backward_weight_plan(int64_t N, int64_t C, int64_t O, const Window2d& g);

// y (N, O, OH, OW) = conv(x, w (O, C, kh, kw)) + b (O, or null); every element written.
template <typename T>
void conv2d_winograd_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                             const Window2d& g, const WinogradPlan& plan, T* workspace);

// dx (N, C, H, W) (+)= the input gradient for dy (N, O, OH, OW): the convolution of dy with w
// turned 180° and its channels swapped, padded by kernel − 1 − padding.
template <typename T>
void conv2d_winograd_backward_data(T* dx, const T* dy, const T* w, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                   const WinogradPlan& plan, T* workspace, bool accumulate);

// dw (O, C, kh, kw) (+)= the weight gradient for dy, x: in the transformed domain,
// dU_ξ = Σ_tiles dM_ξ · V_ξᵀ with dM the adjoint of the output transform of dy's tiles and V
// the input transform of x's; then dw = the adjoint of the kernel transform of dU.
template <typename T>
void conv2d_winograd_backward_weight(T* dw, const T* dy, const T* x, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                     const WinogradPlan& plan, T* workspace, bool accumulate);

}  // namespace tapegrad::kernels
