// BasicNormBase<T>: what BatchNorm and InstanceNorm share (PyTorch's _NormBase): the
// per-channel affine parameters γ ("weight", ones) and β ("bias", zeros) when affine, and the
// buffers running_mean (zeros), running_var (ones) and num_batches_tracked (an int64 0-d
// count) when track_running_stats; resetting them; and the printed options. The subclasses
// decide in forward() which statistics a call uses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicNormBase : public BasicModule<T> {
  public:
    // running_mean to zeros, running_var to ones, num_batches_tracked to 0.
    void reset_running_stats();
    // reset_running_stats(), and γ back to ones and β to zeros.
    void reset_parameters();

    // Undefined tensors when affine (weight, bias) or track_running_stats (the rest) is false.
    BasicTensor<T> weight() const { return weight_; }
    BasicTensor<T> bias() const { return bias_; }
    BasicTensor<T> running_mean() const { return running_mean_; }
    BasicTensor<T> running_var() const { return running_var_; }
    LongTensor num_batches_tracked() const { return num_batches_tracked_; }

    // "16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True" (momentum=None
    // when unset).
    std::string extra_repr() const override;

  protected:
    struct Settings {
        int64_t num_features;
        double eps;
        std::optional<double> momentum;  // unset: the cumulative average (BatchNorm only)
        bool affine;
        bool track_running_stats;
    };
    // Registers the parameters and buffers. Throws std::invalid_argument, naming the layer
    // (`name`), for num_features <= 0, eps < 0 or a momentum outside [0, 1].
    BasicNormBase(const std::string& name, const Settings& settings);

    const Settings& settings() const { return settings_; }

    BasicTensor<T> weight_, bias_, running_mean_, running_var_;
    LongTensor num_batches_tracked_;

  private:
    Settings settings_;
};

}  // namespace tapegrad
