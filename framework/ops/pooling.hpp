// 2-D pooling on (N, C, H, W) input, as torch.nn.functional's: max_pool2d (gradient to the
// first maximum of each window), avg_pool2d (count_include_pad=True) and adaptive_avg_pool2d.
// No dilation, no ceil_mode, no unbatched (C, H, W) input.
#pragma once

#include <optional>

#include "framework/ops/size2.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

// Output extent ⌊(H + 2·padding − kernel) / stride⌋ + 1 per dimension; stride defaults to the
// kernel size. Throws std::invalid_argument for non-4-D input, kernel or stride < 1, padding
// < 0 or more than half the kernel (PyTorch's rule), or an output with no elements.
template <typename T>
BasicTensor<T> max_pool2d(const BasicTensor<T>& x, Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                          Size2 padding = 0);
template <typename T>
BasicTensor<T> avg_pool2d(const BasicTensor<T>& x, Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                          Size2 padding = 0);

// max_pool2d(relu(x), ...), with the same values and gradients, in one pass over x where the
// window is 2×2 with stride 2 and no padding (the relu'd tensor is never made); other windows
// compose the two ops. The layers' fusion table (layers/fusion.hpp) runs it for a ReLU followed
// by a MaxPool2d. An existing gradient of x keeps a −0 where the composition's relu backward
// would add +0 to it.
template <typename T>
BasicTensor<T> relu_max_pool2d(const BasicTensor<T>& x, Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                               Size2 padding = 0);

// (N, C, H, W) → (N, C, OH, OW), output (a, b) averaging rows ⌊a·H/OH⌋ .. ⌈(a+1)·H/OH⌉ − 1 and
// the matching columns; output_size 1 is the global average. output_size must be >= 1.
template <typename T>
BasicTensor<T> adaptive_avg_pool2d(const BasicTensor<T>& x, Size2 output_size);

}  // namespace tapegrad
