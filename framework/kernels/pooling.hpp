// 2-D pooling kernels over NC independent (H, W) planes: max (saving each output's argmax),
// average with count_include_pad (the divisor is always kh·kw: without ceil_mode no window
// reaches past the padding), and adaptive average (PyTorch's floor/ceil window bounds).
// The general loops take any window and are plain scalar code, each its own reference; the
// 2×2, stride-2, unpadded window (MaxPool2d(2), AvgPool2d(2)) has branch-free SIMD kernels
// that give the same bits as the general loops on that window, which are their reference
// (tests/test_pooling_kernels.cpp).
#pragma once

#include <cstdint>

#include "framework/kernels/window2d.hpp"

namespace tapegrad::kernels {

// y (NC, OH, OW) = max over each window of x (NC, H, W); argmax (NC, OH, OW) gets the
// position (h·W + w) in its plane of the first maximum in row-major window order (a NaN
// beats any number; of several NaNs the last wins, as in PyTorch). Padding never wins.
template <typename T>
void max_pool2d_forward(T* y, int64_t* argmax, const T* x, int64_t NC, const Window2d& g);

// dx (NC, H, W) += dy scattered to each output's argmax.
template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const int64_t* argmax, int64_t NC, const Window2d& g);

// y (NC, OH, OW) = Σ window / (kh·kw), padding counting as zeros. The sum is taken in double,
// in row-major window order from 0.0.
template <typename T>
void avg_pool2d_forward(T* y, const T* x, int64_t NC, const Window2d& g);

// dx (NC, H, W) += T(dy / (kh·kw)) spread over each window's in-plane elements.
template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, int64_t NC, const Window2d& g);

// The window the kernels below are for: 2×2, stride 2, no padding.
constexpr bool is_2x2_stride2(const Window2d& g) {
    return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
}

// y (NC, H/2, W/2) = max of each 2×2 window of x (NC, H, W), by max_pool2d_forward's rule;
// which (NC, H/2, W/2) = where in its window the max is: 0, 1 on the top row, 2, 3 below
// (one byte where max_pool2d_forward saves an int64). An odd last row or column is in no window.
template <typename T>
void max_pool2d_2x2_forward(T* y, uint8_t* which, const T* x, int64_t NC, int64_t H, int64_t W);

// max_pool2d_2x2_forward of relu(x), in one pass: y = the max of each window's relu'd values
// (v > 0 ? v : 0), and which = 4 (no position) where that max is 0, so that
// max_pool2d_2x2_backward gives exactly the gradient of the composition.
template <typename T>
void relu_max_pool2d_2x2_forward(T* y, uint8_t* which, const T* x, int64_t NC, int64_t H, int64_t W);

// dx (NC, H, W) gets dy (NC, H/2, W/2) where `which` names the max of each window and nothing
// elsewhere, written once per element: with accumulate, dx += that (elements that get nothing
// keep their value); without, dx may hold anything before and becomes 0 + that (so −0 becomes
// +0, as when adding into a zeroed gradient), and an odd last row or column becomes 0.
template <typename T>
void max_pool2d_2x2_backward(T* dx, const T* dy, const uint8_t* which, int64_t NC, int64_t H, int64_t W,
                             bool accumulate);

// y (NC, H/2, W/2) = the mean of each 2×2 window of x (NC, H, W), the same bits as
// avg_pool2d_forward: summed in double lanes in the same order.
template <typename T>
void avg_pool2d_2x2_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W);

// dx (NC, H, W) gets dy / 4 at the 4 elements of each window; accumulate as in
// max_pool2d_2x2_backward.
template <typename T>
void avg_pool2d_2x2_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, bool accumulate);

// y (NC, OH, OW): output (a, b) averages rows [⌊a·H/OH⌋, ⌈(a+1)·H/OH⌉) and likewise columns.
template <typename T>
void adaptive_avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW);

// dx (NC, H, W) += each dy spread evenly over its window.
template <typename T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW);

}  // namespace tapegrad::kernels
