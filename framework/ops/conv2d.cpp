// conv2d; see conv2d.hpp. Checks the shapes, allocates the output and the kernels'
// workspace, and calls kernels::conv2d_forward / conv2d_backward (kernels/conv2d.hpp, which
// says how a batch is split over the threads), recording the backward.
#include "framework/ops/conv2d.hpp"

#include <stdexcept>
#include <string>

#include "framework/allocator.hpp"
#include "framework/core/checked.hpp"
#include "framework/kernels/conv2d.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

std::string shapes_of(const Shape& x, const Shape& w) {
    return "input of shape " + to_string(x) + " and weight of shape " + to_string(w);
}

}  // namespace

template <typename T>
BasicTensor<T> conv2d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias, Size2 stride,
                      Size2 padding, Size2 dilation, int64_t groups) {
    if (x.dim() != 4)
        throw std::invalid_argument("conv2d: expected 4-D input (N, C, H, W), but got input of shape " +
                                    to_string(x.shape()));
    if (weight.dim() != 4)
        throw std::invalid_argument(
            "conv2d: expected 4-D weight (out_channels, in_channels / groups, kH, kW), but got weight of shape " +
            to_string(weight.shape()));
    // In PyTorch's order: groups, then the window's sizes, then the shapes against each other.
    if (groups < 1)
        throw std::invalid_argument(
            "conv2d: non-positive groups is not supported (expected groups >= 1), but got groups=" +
            std::to_string(groups));
    if (stride.h < 1 || stride.w < 1 || padding.h < 0 || padding.w < 0 || dilation.h < 1 || dilation.w < 1)
        throw std::invalid_argument(
            "conv2d: expected stride >= 1, padding >= 0 and dilation >= 1, but got stride=" + to_string(stride) +
            ", padding=" + to_string(padding) + " and dilation=" + to_string(dilation));
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t O = weight.size(0), kh = weight.size(2), kw = weight.size(3);
    const std::string given_groups = "given groups=" + std::to_string(groups);
    if (O % groups != 0)
        throw std::invalid_argument("conv2d: " + given_groups + ", expected weight's size " + std::to_string(O) +
                                    " at dimension 0 (out_channels) to be divisible by " + std::to_string(groups) +
                                    ", but got weight of shape " + to_string(weight.shape()));
    // C == weight.size(1)·groups, by division: the product could wrap.
    if (C % groups != 0 || C / groups != weight.size(1))
        throw std::invalid_argument("conv2d: " + given_groups + ", weight of shape " + to_string(weight.shape()) +
                                    " expects input with " + std::to_string(saturating_mul(weight.size(1), groups)) +
                                    " channels, but got input of shape " + to_string(x.shape()) + " (" +
                                    std::to_string(C) + " channels)");
    if (bias.defined() && bias.shape() != Shape{O})
        throw std::invalid_argument("conv2d: expected bias of shape " + to_string(Shape{O}) +
                                    " (one per output channel of weight " + to_string(weight.shape()) +
                                    "), but got bias of shape " + to_string(bias.shape()));
    // Sizes are counted with core/checked.hpp: one that does not fit in int64 is
    // std::length_error naming the shapes, never a wrapped number.
    const auto given = [&] {
        return shapes_of(x.shape(), weight.shape()) + ", stride=" + to_string(stride) +
               ", padding=" + to_string(padding) + ", dilation=" + to_string(dilation) +
               ", groups=" + std::to_string(groups);
    };
    const auto padded_what = [&] { return "conv2d: padded input size for " + given(); };
    const int64_t padded_h = kernels::padded_extent(H, padding.h, padded_what);
    const int64_t padded_w = kernels::padded_extent(W, padding.w, padded_what);
    if (kh < 1 || kw < 1)
        throw std::invalid_argument("conv2d: expected a kernel size of at least (1 x 1), but got weight of shape " +
                                    to_string(weight.shape()));
    const auto dilated_what = [&] { return "conv2d: dilated kernel size for " + given(); };
    const int64_t span_h = kernels::dilated_extent(kh, dilation.h, dilated_what);
    const int64_t span_w = kernels::dilated_extent(kw, dilation.w, dilated_what);
    if (padded_h < span_h || padded_w < span_w) {
        const std::string kernel = "(" + std::to_string(kh) + " x " + std::to_string(kw) + ")";
        const std::string dilated = "(" + std::to_string(span_h) + " x " + std::to_string(span_w) + ")";
        throw std::invalid_argument(
            "conv2d: kernel size " + kernel +
            (dilation == Size2(1) ? "" : " dilated by " + to_string(dilation) + " to " + dilated) +
            " can't be greater than the padded input size (" + std::to_string(padded_h) + " x " +
            std::to_string(padded_w) + "); " + shapes_of(x.shape(), weight.shape()) +
            ", padding=" + to_string(padding));
    }

    const kernels::Window2d g{H,
                              W,
                              kh,
                              kw,
                              stride.h,
                              stride.w,
                              padding.h,
                              padding.w,
                              kernels::window_output_extent(H, kh, stride.h, padding.h, dilation.h),
                              kernels::window_output_extent(W, kw, stride.w, padding.w, dilation.w),
                              dilation.h,
                              dilation.w};
    const Shape y_shape{N, O, g.OH, g.OW};
    checked_bytes(y_shape, sizeof(T), [&] { return "conv2d: output for " + given(); });

    BasicTensor<T> y = empty<T>(y_shape);  // every element is written by the kernel
    const kernels::Conv2dPlan plan = kernels::conv2d_forward_plan(N, C, O, groups, g);
    ScratchBuffer<T> workspace(static_cast<size_t>(plan.workspace));
    kernels::conv2d_forward<T>(y.data(), x.data(), weight.data(), bias.defined() ? bias.data() : nullptr, N, C, O,
                               groups, g, plan, workspace.data());

    record_op("conv2d", y, any_requires_grad(x, weight, bias),
              [x, weight, bias, g, N, C, O, groups](const T* dy) mutable {
                  // A gradient allocated just now is uninitialised (accumulate = false): the kernel assigns it.
                  const GradBuffer<T> dx = grad_buffer_or_none(x);
                  const GradBuffer<T> dw = grad_buffer_or_none(weight);
                  const GradBuffer<T> db = grad_buffer_or_none(bias);
                  const kernels::Conv2dPlan plan =
                      kernels::conv2d_backward_plan(N, C, O, groups, g, dx.data != nullptr, dw.data != nullptr);
                  ScratchBuffer<T> workspace(static_cast<size_t>(plan.workspace));
                  kernels::conv2d_backward<T>(dx.data, dw.data, db.data, dy, x.data(), weight.data(), N, C, O, groups,
                                              g, plan, workspace.data(), dx.accumulate, dw.accumulate, db.accumulate);
              });
    return y;
}

template BasicTensor<float> conv2d(const BasicTensor<float>&, const BasicTensor<float>&, const BasicTensor<float>&,
                                   Size2, Size2, Size2, int64_t);
template BasicTensor<double> conv2d(const BasicTensor<double>&, const BasicTensor<double>&, const BasicTensor<double>&,
                                    Size2, Size2, Size2, int64_t);

}  // namespace tapegrad
