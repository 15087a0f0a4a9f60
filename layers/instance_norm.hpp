// InstanceNorm1d / InstanceNorm2d: torch.nn.InstanceNorm1d and torch.nn.InstanceNorm2d in
// C++. Normalises each (sample, channel) of (N, C, L) or (C, L) input (1d), or (N, C, H, W) or
// (C, H, W) input (2d), over its spatial positions alone; with affine, then a learnable
// per-channel scale γ ("weight", ones) and shift β ("bias", zeros). Off by default, as in
// PyTorch: affine = false, track_running_stats = false.
//
// With track_running_stats the layer keeps running_mean and running_var, updated in training
// as BatchNorm's are but from the per-instance statistics averaged over the batch (PyTorch's
// instance_norm), and normalises with them in evaluation mode; and num_batches_tracked, which
// PyTorch 1.13's InstanceNorm keeps in its state dict but never counts (nor does this one).
// momentum must be a number: PyTorch's InstanceNorm takes None but its forward then fails.
// Without track_running_stats, evaluation normalises with each instance's own statistics.
// Unbatched input (no N) is normalised as a batch of one.
#pragma once

#include <cstdint>

#include "layers/norm_base.hpp"

namespace tapegrad {

struct InstanceNormOptions {
    int64_t num_features;
    double eps = 1e-5;
    double momentum = 0.1;
    bool affine = false;
    bool track_running_stats = false;
};

// The shared implementation; use InstanceNorm1d or InstanceNorm2d. weight(), bias(), the
// buffers, reset_parameters() and reset_running_stats() come from BasicNormBase.
template <typename T>
class BasicInstanceNorm : public BasicNormBase<T> {
  public:
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    const InstanceNormOptions& options() const { return options_; }

  protected:
    // spatial_dims: 1 for InstanceNorm1d, 2 for InstanceNorm2d. Throws std::invalid_argument
    // for num_features <= 0, eps < 0 or a momentum outside [0, 1].
    BasicInstanceNorm(const InstanceNormOptions& options, int spatial_dims);

  private:
    InstanceNormOptions options_;
    int spatial_dims_;
};

template <typename T>
class BasicInstanceNorm1d : public BasicInstanceNorm<T> {
  public:
    explicit BasicInstanceNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                                 bool affine = false, bool track_running_stats = false)
        : BasicInstanceNorm1d(InstanceNormOptions{num_features, eps, momentum, affine, track_running_stats}) {}
    explicit BasicInstanceNorm1d(const InstanceNormOptions& options) : BasicInstanceNorm<T>(options, 1) {}
    std::string type_name() const override { return "InstanceNorm1d"; }
};

template <typename T>
class BasicInstanceNorm2d : public BasicInstanceNorm<T> {
  public:
    explicit BasicInstanceNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                                 bool affine = false, bool track_running_stats = false)
        : BasicInstanceNorm2d(InstanceNormOptions{num_features, eps, momentum, affine, track_running_stats}) {}
    explicit BasicInstanceNorm2d(const InstanceNormOptions& options) : BasicInstanceNorm<T>(options, 2) {}
    std::string type_name() const override { return "InstanceNorm2d"; }
};

using InstanceNorm1d = BasicInstanceNorm1d<float>;
using InstanceNorm2d = BasicInstanceNorm2d<float>;

}  // namespace tapegrad
