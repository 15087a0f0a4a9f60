// Pooling layers over (N, C, H, W) input: MaxPool2d, AvgPool2d (count_include_pad=True) and
// AdaptiveAvgPool2d, as torch.nn's; no dilation, ceil_mode or unbatched input. No parameters;
// the computations are framework/ops/pooling. stride defaults to kernel_size.
#pragma once

#include <optional>

#include "framework/ops/size2.hpp"
#include "layers/module.hpp"

namespace tapegrad {

// Sizes print as PyTorch prints an int argument ("2") when height and width agree, else as a
// tuple ("(2, 3)"): a square size given as a pair prints as an int, unlike PyTorch.
template <typename T>
class BasicMaxPool2d : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for kernel or stride < 1, or padding < 0 or > kernel / 2.
    explicit BasicMaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    Size2 kernel_size() const { return kernel_size_; }
    Size2 stride() const { return stride_; }
    Size2 padding() const { return padding_; }

    std::string type_name() const override { return "MaxPool2d"; }
    // "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False"
    std::string extra_repr() const override;

  private:
    Size2 kernel_size_, stride_, padding_;
};

template <typename T>
class BasicAvgPool2d : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for kernel or stride < 1, or padding < 0 or > kernel / 2.
    explicit BasicAvgPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    Size2 kernel_size() const { return kernel_size_; }
    Size2 stride() const { return stride_; }
    Size2 padding() const { return padding_; }

    std::string type_name() const override { return "AvgPool2d"; }
    // "kernel_size=2, stride=2, padding=0"
    std::string extra_repr() const override;

  private:
    Size2 kernel_size_, stride_, padding_;
};

template <typename T>
class BasicAdaptiveAvgPool2d : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for output_size < 1.
    explicit BasicAdaptiveAvgPool2d(Size2 output_size);
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    Size2 output_size() const { return output_size_; }

    std::string type_name() const override { return "AdaptiveAvgPool2d"; }
    // "output_size=1"
    std::string extra_repr() const override;

  private:
    Size2 output_size_;
};

using MaxPool2d = BasicMaxPool2d<float>;
using AvgPool2d = BasicAvgPool2d<float>;
using AdaptiveAvgPool2d = BasicAdaptiveAvgPool2d<float>;

}  // namespace tapegrad
