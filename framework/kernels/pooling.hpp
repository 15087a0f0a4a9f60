// 2-D pooling kernels over NC independent (H, W) planes: max (saving each output's argmax),
// average with count_include_pad (the divisor is always kh·kw: without ceil_mode no window
// reaches past the padding), and adaptive average (PyTorch's floor/ceil window bounds).
// Plain scalar loops: each is its own reference.
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

// y (NC, OH, OW) = Σ window / (kh·kw), padding counting as zeros.
template <typename T>
void avg_pool2d_forward(T* y, const T* x, int64_t NC, const Window2d& g);

// dx (NC, H, W) += dy / (kh·kw) spread over each window's in-plane elements.
template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, int64_t NC, const Window2d& g);

// y (NC, OH, OW): output (a, b) averages rows [⌊a·H/OH⌋, ⌈(a+1)·H/OH⌉) and likewise columns.
template <typename T>
void adaptive_avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW);

// dx (NC, H, W) += each dy spread evenly over its window.
template <typename T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW);

}  // namespace tapegrad::kernels
