// GroupNorm: torch.nn.GroupNorm in C++. Normalises (N, C, *) input over groups of C/G
// channels per sample, then applies a learnable per-channel scale γ ("weight", ones) and
// shift β ("bias", zeros). The same computation in training and evaluation.
#pragma once

#include <cstdint>

#include "layers/module.hpp"

namespace tapegrad {

struct GroupNormOptions {
    int64_t num_groups;
    int64_t num_channels;
    double eps = 1e-5;
    bool affine = true;
};

template <typename T>
class BasicGroupNorm : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for num_groups <= 0, num_channels <= 0, or num_channels
    // not divisible by num_groups.
    BasicGroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
    explicit BasicGroupNorm(const GroupNormOptions& options);

    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    // γ back to ones and β to zeros.
    void reset_parameters();

    const GroupNormOptions& options() const { return options_; }
    // Undefined tensors when affine is false.
    BasicTensor<T> weight() const { return weight_; }
    BasicTensor<T> bias() const { return bias_; }

    std::string type_name() const override { return "GroupNorm"; }
    // "3, 6, eps=1e-05, affine=True"
    std::string extra_repr() const override;

  private:
    GroupNormOptions options_;
    BasicTensor<T> weight_;
    BasicTensor<T> bias_;
};

using GroupNorm = BasicGroupNorm<float>;

}  // namespace tapegrad
