// Conv2d: torch.nn.Conv2d with stride, zero padding, dilation and groups (padding_mode
// "zeros"), on (N, C, H, W) input. weight (out, in/groups, kh, kw) is Kaiming-uniform with a =
// sqrt(5) and bias U(−1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups·kh·kw, as PyTorch's.
#pragma once

#include <cstdint>

#include "framework/ops/size2.hpp"
#include "layers/module.hpp"

namespace tapegrad {

class Generator;

// In torch.nn.Conv2d's order. Dilation and groups are set here: the positional constructor
// below keeps (stride, padding, bias), as a bool in a size's place would convert silently.
struct Conv2dOptions {
    int64_t in_channels;
    int64_t out_channels;
    Size2 kernel_size;
    Size2 stride = 1;
    Size2 padding = 0;
    Size2 dilation = 1;
    int64_t groups = 1;  // divides in_channels and out_channels; = in_channels: depthwise
    bool bias = true;
};

template <typename T>
class BasicConv2d : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for channels < 1, kernel, stride or dilation < 1, padding < 0,
    // groups < 1, or channels not divisible by groups.
    BasicConv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride = 1, Size2 padding = 0,
                bool bias = true, Generator* gen = nullptr);
    explicit BasicConv2d(const Conv2dOptions& options, Generator* gen = nullptr);
    // A generator in the bias position would become bias = true: pass the bias flag first.
    BasicConv2d(int64_t, int64_t, Size2, Size2, Size2, Generator*) = delete;

    // x (N, in_channels, H, W) → (N, out_channels, OH, OW); see framework/ops/conv2d.hpp.
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    // Draws weight and bias afresh, as the constructor did.
    void reset_parameters(Generator* gen = nullptr);

    const Conv2dOptions& options() const { return options_; }
    BasicTensor<T> weight() const { return weight_; }
    // Undefined when bias is false.
    BasicTensor<T> bias() const { return bias_; }

    std::string type_name() const override { return "Conv2d"; }
    // "1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)": padding, dilation and groups
    // only when not their defaults, ", bias=False" only without bias, as PyTorch prints it.
    std::string extra_repr() const override;

  private:
    Conv2dOptions options_;
    BasicTensor<T> weight_;
    BasicTensor<T> bias_;
};

using Conv2d = BasicConv2d<float>;

}  // namespace tapegrad
