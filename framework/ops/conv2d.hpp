// conv2d: torch.nn.functional.conv2d with stride and zero padding (dilation 1, groups 1),
// on (N, C, H, W) input only. Forward is im2col + GEMM per sample (1×1 kernels with stride 1
// and no padding skip im2col); backward is GEMM + col2im for dx, GEMM for dW, sums for db.
#pragma once

#include "framework/ops/size2.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

// x (N, C, H, W), weight (O, C, kh, kw), bias (O) or undefined → (N, O, OH, OW) with
// OH = ⌊(H + 2·padding.h − kh) / stride.h⌋ + 1 (likewise OW). Throws std::invalid_argument,
// naming the shapes, for a non-4-D input or weight, a channel mismatch, a bias that is not
// (O), stride < 1, padding < 0, or a kernel larger than the padded input.
template <typename T>
BasicTensor<T> conv2d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias = {},
                      Size2 stride = 1, Size2 padding = 0);

}  // namespace tapegrad
