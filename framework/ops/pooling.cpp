// max_pool2d, avg_pool2d and adaptive_avg_pool2d; see pooling.hpp. Shape checks here, loops in
// framework/kernels/pooling. max_pool2d saves where each output's max is: one byte per output
// for 2×2 windows with stride 2 and no padding, which have their own kernels, otherwise the
// argmax position (one int64). The 2×2 backwards assign a gradient allocated for them (no
// zero fill first) and add into one that exists.
#include "framework/ops/pooling.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "framework/allocator.hpp"
#include "framework/core/checked.hpp"
#include "framework/kernels/pooling.hpp"
#include "framework/ops/autograd.hpp"
#include "framework/ops/elementwise.hpp"

namespace tapegrad {

namespace {

template <typename T>
void check_4d(const char* op, const BasicTensor<T>& x) {
    if (x.dim() != 4)
        throw std::invalid_argument(std::string(op) + ": expected 4-D input (N, C, H, W), but got input of shape " +
                                    to_string(x.shape()));
}

// Validates the window of max_pool2d / avg_pool2d over x and returns its geometry.
template <typename T>
kernels::Window2d pool_window(const char* op, const BasicTensor<T>& x, Size2 kernel, std::optional<Size2> stride_opt,
                              Size2 padding) {
    check_4d(op, x);
    const Size2 stride = stride_opt.value_or(kernel);
    const std::string given = "kernel_size=" + to_string(kernel) + ", stride=" + to_string(stride) +
                              ", padding=" + to_string(padding);
    if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1 || padding.h < 0 || padding.w < 0)
        throw std::invalid_argument(std::string(op) +
                                    ": expected kernel_size >= 1, stride >= 1 and padding >= 0, but got " + given);
    // padding > kernel / 2 is 2·padding > kernel without the doubling, which could wrap.
    if (padding.h > kernel.h / 2 || padding.w > kernel.w / 2)
        throw std::invalid_argument(std::string(op) + ": padding should be at most half of the kernel size, but got " +
                                    given);
    const int64_t H = x.size(2), W = x.size(3);
    const auto padded_what = [&] {
        return std::string(op) + ": padded input size for input of shape " + to_string(x.shape()) + " with " + given;
    };
    kernels::padded_extent(H, padding.h, padded_what);
    kernels::padded_extent(W, padding.w, padded_what);
    const int64_t OH = kernels::window_output_extent(H, kernel.h, stride.h, padding.h);
    const int64_t OW = kernels::window_output_extent(W, kernel.w, stride.w, padding.w);
    if (OH < 1 || OW < 1)
        throw std::invalid_argument(std::string(op) + ": output size is too small: input of shape " +
                                    to_string(x.shape()) + " with " + given + " gives an output of (" +
                                    std::to_string(OH) + " x " + std::to_string(OW) + ")");
    return {H, W, kernel.h, kernel.w, stride.h, stride.w, padding.h, padding.w, OH, OW};
}

// The 2×2, stride 2, unpadded max pool of x (of relu(x) when `relu`), saving one byte per output.
template <typename T>
BasicTensor<T> max_pool2d_2x2(const char* op, const BasicTensor<T>& x, const kernels::Window2d& g, bool relu) {
    const int64_t NC = x.size(0) * x.size(1);
    BasicTensor<T> y = empty<T>(Shape{x.size(0), x.size(1), g.OH, g.OW});  // the kernel writes every element
    auto which = std::make_shared<ScratchBuffer<uint8_t>>(static_cast<size_t>(y.numel()));
    if (relu)
        kernels::relu_max_pool2d_2x2_forward<T>(y.data(), which->data(), x.data(), NC, g.H, g.W);
    else
        kernels::max_pool2d_2x2_forward<T>(y.data(), which->data(), x.data(), NC, g.H, g.W);
    // y = x[argmax]: each output's gradient goes to the one input it copied (none where the
    // relu'd max is 0).
    record_op(op, y, any_requires_grad(x), [x, which, NC, g](const T* dy) {
        const GradBuffer<T> dx = x.grad_buffer();  // uninitialised unless accumulate: the kernel writes every element
        kernels::max_pool2d_2x2_backward<T>(dx.data, dy, which->data(), NC, g.H, g.W, dx.accumulate);
    });
    return y;
}

}  // namespace

template <typename T>
BasicTensor<T> relu_max_pool2d(const BasicTensor<T>& x, Size2 kernel_size, std::optional<Size2> stride, Size2 padding) {
    const kernels::Window2d g = pool_window("max_pool2d", x, kernel_size, stride, padding);
    if (kernels::is_2x2_stride2(g)) return max_pool2d_2x2("relu_max_pool2d", x, g, /*relu=*/true);
    return max_pool2d(relu(x), kernel_size, stride, padding);
}

template <typename T>
BasicTensor<T> max_pool2d(const BasicTensor<T>& x, Size2 kernel_size, std::optional<Size2> stride, Size2 padding) {
    const kernels::Window2d g = pool_window("max_pool2d", x, kernel_size, stride, padding);
    if (kernels::is_2x2_stride2(g)) return max_pool2d_2x2("max_pool2d", x, g, /*relu=*/false);
    const int64_t NC = x.size(0) * x.size(1);
    BasicTensor<T> y = empty<T>(Shape{x.size(0), x.size(1), g.OH, g.OW});  // the kernel writes every element
    auto argmax = std::make_shared<ScratchBuffer<int64_t>>(static_cast<size_t>(y.numel()));
    kernels::max_pool2d_forward<T>(y.data(), argmax->data(), x.data(), NC, g);
    // y = x[argmax]: each output's gradient goes to the one input it copied.
    record_op("max_pool2d", y, any_requires_grad(x), [x, argmax, NC, g](const T* dy) mutable {
        kernels::max_pool2d_backward<T>(x.grad_data_for_accumulation(), dy, argmax->data(), NC, g);
    });
    return y;
}

template <typename T>
BasicTensor<T> avg_pool2d(const BasicTensor<T>& x, Size2 kernel_size, std::optional<Size2> stride, Size2 padding) {
    const kernels::Window2d g = pool_window("avg_pool2d", x, kernel_size, stride, padding);
    // The divisor is the whole window, kh·kw elements (count_include_pad).
    checked_mul(g.kh, g.kw, [&] {
        return "avg_pool2d: kernel window of kernel_size=" + to_string(kernel_size) + " for input of shape " +
               to_string(x.shape());
    });
    const int64_t NC = x.size(0) * x.size(1);
    BasicTensor<T> y = empty<T>(Shape{x.size(0), x.size(1), g.OH, g.OW});  // the kernel writes every element
    // y = Σ window / (kh·kw): each input in the window gets dy / (kh·kw).
    if (kernels::is_2x2_stride2(g)) {
        kernels::avg_pool2d_2x2_forward<T>(y.data(), x.data(), NC, g.H, g.W);
        record_op("avg_pool2d", y, any_requires_grad(x), [x, NC, g](const T* dy) {
            const GradBuffer<T> dx =
                x.grad_buffer();  // uninitialised unless accumulate: the kernel writes every element
            kernels::avg_pool2d_2x2_backward<T>(dx.data, dy, NC, g.H, g.W, dx.accumulate);
        });
        return y;
    }
    kernels::avg_pool2d_forward<T>(y.data(), x.data(), NC, g);
    record_op("avg_pool2d", y, any_requires_grad(x), [x, NC, g](const T* dy) mutable {
        kernels::avg_pool2d_backward<T>(x.grad_data_for_accumulation(), dy, NC, g);
    });
    return y;
}

template <typename T>
BasicTensor<T> adaptive_avg_pool2d(const BasicTensor<T>& x, Size2 output_size) {
    check_4d("adaptive_avg_pool2d", x);
    if (output_size.h < 1 || output_size.w < 1)
        throw std::invalid_argument("adaptive_avg_pool2d: expected output_size >= 1, but got output_size=" +
                                    to_string(output_size));
    const int64_t H = x.size(2), W = x.size(3), OH = output_size.h, OW = output_size.w;
    if (H < 1 || W < 1)
        throw std::invalid_argument(
            "adaptive_avg_pool2d: expected input with non-empty H and W, but got input of shape " +
            to_string(x.shape()));
    // The output, and the window bounds ((a + 1)·H + OH − 1 at most, kernels/pooling.cpp's
    // window_end), must be countable in int64.
    const auto given = [&] {
        return "adaptive_avg_pool2d: output for input of shape " + to_string(x.shape()) + " and output_size=" +
               to_string(output_size);
    };
    const Shape y_shape{x.size(0), x.size(1), OH, OW};
    checked_bytes(y_shape, sizeof(T), given);
    checked_add(checked_mul(OH, H, given), OH - 1, given);
    checked_add(checked_mul(OW, W, given), OW - 1, given);
    const int64_t NC = x.size(0) * x.size(1);
    BasicTensor<T> y = empty<T>(y_shape);  // the kernel writes every element
    kernels::adaptive_avg_pool2d_forward<T>(y.data(), x.data(), NC, H, W, OH, OW);
    // y = mean of a window: each input in it gets dy / (window size).
    record_op("adaptive_avg_pool2d", y, any_requires_grad(x), [x, NC, H, W, OH, OW](const T* dy) mutable {
        kernels::adaptive_avg_pool2d_backward<T>(x.grad_data_for_accumulation(), dy, NC, H, W, OH, OW);
    });
    return y;
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                     \
    template BasicTensor<T> max_pool2d(const BasicTensor<T>&, Size2, std::optional<Size2>, Size2);                  \
    template BasicTensor<T> avg_pool2d(const BasicTensor<T>&, Size2, std::optional<Size2>, Size2);                  \
    template BasicTensor<T> relu_max_pool2d(const BasicTensor<T>&, Size2, std::optional<Size2>, Size2);             \
    template BasicTensor<T> adaptive_avg_pool2d(const BasicTensor<T>&, Size2);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
