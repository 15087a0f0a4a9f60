// BatchNorm1d / BatchNorm2d: torch.nn.BatchNorm1d and torch.nn.BatchNorm2d in C++.
// Normalises each channel c of (N, C) or (N, C, L) input (1d) or (N, C, H, W) input (2d) over
// the batch and every spatial position, then applies a learnable per-channel scale γ
// ("weight", ones) and shift β ("bias", zeros).
//
// In training mode (the default) the statistics are the batch's own: the mean and the biased
// variance over the N·L (or N·H·W) values of each channel. With track_running_stats the
// module also keeps the buffers running_mean (zeros), running_var (ones) and
// num_batches_tracked (an int64 0-d tensor), updated on every training forward as PyTorch
// does:
//   running = (1 − f)·running + f·batch,   f = momentum, or 1/num_batches_tracked when
//                                           momentum is unset (a cumulative average),
// with the UNBIASED batch variance (n/(n − 1)) going into running_var. In evaluation mode
// the running statistics normalise instead, and the layer is then a per-channel affine map.
// Without track_running_stats there are no buffers and batch statistics are used always.
//
// virtual_batch_size B ("ghost batches", Keras's BatchNormalization(virtual_batch_size=B)):
// wherever batch statistics are used, a batch of N = W·B samples is normalised as W independent
// groups, the contiguous chunks [g·B, (g+1)·B) — each exactly as this layer on that chunk alone
// (the same bits, forward and backward) — and B must divide N (std::invalid_argument naming
// both, as Keras refuses it). The running statistics are updated ONCE per training call, with
// the W groups' batch means and unbiased variances AVERAGED (Keras's rule; num_batches_tracked
// += 1), not once per group in order: then, the update being linear, they are exactly the
// average of the running statistics of W data-parallel replicas that each see one chunk and
// start from the same buffers, whereas W updates in order would weigh the last chunk most and
// depend on the order. (framework/distributed broadcasts buffers once and never reduces them:
// there each rank's running statistics are its own chunks', and their average over the ranks
// is what this layer holds; outputs, loss and averaged gradients are equal as they are.)
// Evaluation with running statistics is per sample, so there B changes nothing; without
// track_running_stats evaluation uses each group's statistics, as training does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "layers/norm_base.hpp"

namespace tapegrad {

struct BatchNormOptions {
    int64_t num_features;
    double eps = 1e-5;
    // PyTorch's momentum=None is std::nullopt: the cumulative moving average.
    std::optional<double> momentum = 0.1;
    bool affine = true;
    bool track_running_stats = true;
    // Ghost batches of this many samples (> 0, dividing every batch that uses batch statistics);
    // unset: the whole batch is one group. Only here, not in the convenience constructors:
    // BatchNorm2d(BatchNormOptions{.num_features = C, .virtual_batch_size = B}).
    std::optional<int64_t> virtual_batch_size;
};

// The shared implementation; use BatchNorm1d or BatchNorm2d, which differ only in the ranks
// they accept (PyTorch's _check_input_dim). weight(), bias(), the buffers, reset_parameters()
// and reset_running_stats() come from BasicNormBase.
template <typename T>
class BasicBatchNorm : public BasicNormBase<T> {
  public:
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    const BatchNormOptions& options() const { return options_; }
    // PyTorch's, then ", virtual_batch_size=B" when set.
    std::string extra_repr() const override;

  protected:
    // Throws std::invalid_argument for num_features <= 0, eps < 0, a momentum outside [0, 1] or
    // a virtual_batch_size <= 0.
    BasicBatchNorm(const BatchNormOptions& options, const char* name);
    // The ranks the subclass accepts, and how PyTorch words the error for others.
    virtual void check_input_dim(const BasicTensor<T>& x) const = 0;

  private:
    BatchNormOptions options_;
};

template <typename T>
class BasicBatchNorm1d : public BasicBatchNorm<T> {
  public:
    explicit BasicBatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                              bool affine = true, bool track_running_stats = true)
        : BasicBatchNorm1d(BatchNormOptions{num_features, eps, momentum, affine, track_running_stats, std::nullopt}) {}
    explicit BasicBatchNorm1d(const BatchNormOptions& options) : BasicBatchNorm<T>(options, "BatchNorm1d") {}
    std::string type_name() const override { return "BatchNorm1d"; }

  protected:
    // (N, C) or (N, C, L).
    void check_input_dim(const BasicTensor<T>& x) const override;
};

template <typename T>
class BasicBatchNorm2d : public BasicBatchNorm<T> {
  public:
    explicit BasicBatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                              bool affine = true, bool track_running_stats = true)
        : BasicBatchNorm2d(BatchNormOptions{num_features, eps, momentum, affine, track_running_stats, std::nullopt}) {}
    explicit BasicBatchNorm2d(const BatchNormOptions& options) : BasicBatchNorm<T>(options, "BatchNorm2d") {}
    std::string type_name() const override { return "BatchNorm2d"; }

  protected:
    // (N, C, H, W).
    void check_input_dim(const BasicTensor<T>& x) const override;
};

using BatchNorm1d = BasicBatchNorm1d<float>;
using BatchNorm2d = BasicBatchNorm2d<float>;

}  // namespace tapegrad
