// layer_norm: the functional form of LayerNorm (torch.nn.functional.layer_norm). Checks
// shapes, runs the kernels in framework/kernels/layer_norm, and records the hand-derived
// backward, which reuses the mean and rstd saved by the forward.
#pragma once

#include "framework/tensor.hpp"

namespace tapegrad {

// Normalises x over its trailing dimensions, which must equal normalized_shape (at least one
// dimension); weight and bias have shape normalized_shape (one value per element) or are
// undefined (no affine transform). Throws std::invalid_argument with PyTorch's messages.
template <typename T>
BasicTensor<T> layer_norm(const BasicTensor<T>& x, const Shape& normalized_shape, const BasicTensor<T>& weight = {},
                          const BasicTensor<T>& bias = {}, double eps = 1e-5);

}  // namespace tapegrad
