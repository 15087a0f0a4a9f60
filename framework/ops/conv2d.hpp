// conv2d: torch.nn.functional.conv2d — stride, zero padding, dilation and groups — on
// (N, C, H, W) input only. Forward is im2col + one GEMM per sample and group (1×1 kernels with
// stride 1 and no padding skip im2col); backward is GEMM + col2im for dx, GEMM for dW, sums for db.
#pragma once

#include <cstdint>

#include "framework/ops/size2.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

// x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O) or undefined → (N, O, OH, OW) with
// OH = ⌊(H + 2·padding.h − dilation.h·(kh − 1) − 1) / stride.h⌋ + 1 (likewise OW); the
// arguments in F.conv2d's order. Output channel o sees only the C/groups input channels of its
// group, o / (O/groups) (groups = C: depthwise). Throws std::invalid_argument, naming what was
// expected and given, for a non-4-D input or weight, groups < 1, stride < 1, padding < 0,
// dilation < 1, O not divisible by groups, C != weight.size(1)·groups, a bias that is not
// (O), or a dilated kernel (dilation·(k − 1) + 1) larger than the padded input.
template <typename T>
BasicTensor<T> conv2d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias = {},
                      Size2 stride = 1, Size2 padding = 0, Size2 dilation = 1, int64_t groups = 1);

}  // namespace tapegrad
