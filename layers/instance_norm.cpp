// InstanceNorm layers; see instance_norm.hpp. The computation is framework/ops/instance_norm;
// this file keeps the buffers and decides, as torch.nn.modules.instancenorm._InstanceNorm
// does, which statistics a call uses.
#include "layers/instance_norm.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "framework/format.hpp"
#include "framework/ops/instance_norm.hpp"
#include "framework/ops/shape.hpp"

namespace tapegrad {

template <typename T>
BasicInstanceNorm<T>::BasicInstanceNorm(const InstanceNormOptions& options, int spatial_dims)
    : options_(options), spatial_dims_(spatial_dims) {
    const std::string who = "InstanceNorm" + std::to_string(spatial_dims) + "d";
    if (options.num_features <= 0)
        throw std::invalid_argument(who + ": expected num_features to be positive, but got num_features=" +
                                    std::to_string(options.num_features));
    if (!(options.eps >= 0.0)) throw std::invalid_argument(who + ": expected eps >= 0, but got eps=" + python_float_repr(options.eps));
    if (!(options.momentum >= 0.0 && options.momentum <= 1.0))
        throw std::invalid_argument(who + ": expected momentum in [0, 1], but got momentum=" + python_float_repr(options.momentum));
    const Shape c{options.num_features};
    if (options.affine) {
        weight_ = this->register_parameter("weight", ones<T>(c));
        bias_ = this->register_parameter("bias", zeros<T>(c));
    }
    if (options.track_running_stats) {
        running_mean_ = this->register_buffer("running_mean", zeros<T>(c));
        running_var_ = this->register_buffer("running_var", ones<T>(c));
        num_batches_tracked_ = this->register_buffer("num_batches_tracked", zeros<int64_t>({}));
    }
}

template <typename T>
void BasicInstanceNorm<T>::reset_running_stats() {
    if (!options_.track_running_stats) return;
    std::fill_n(running_mean_.data(), running_mean_.numel(), T(0));
    std::fill_n(running_var_.data(), running_var_.numel(), T(1));
    num_batches_tracked_.data()[0] = 0;
}

template <typename T>
void BasicInstanceNorm<T>::reset_parameters() {
    reset_running_stats();
    if (!options_.affine) return;
    std::fill_n(weight_.data(), weight_.numel(), T(1));
    std::fill_n(bias_.data(), bias_.numel(), T(0));
}

template <typename T>
BasicTensor<T> BasicInstanceNorm<T>::forward(const BasicTensor<T>& x) {
    // PyTorch's _check_input_dim: with or without the batch dimension.
    const int64_t rank = x.dim(), batched = spatial_dims_ + 2;
    if (rank != batched && rank != batched - 1)
        throw std::invalid_argument("expected " + std::to_string(batched - 1) + "D or " + std::to_string(batched) +
                                    "D input (got " + std::to_string(rank) + "D input)");
    const bool unbatched = rank == batched - 1;
    BasicTensor<T> input = x;
    if (unbatched) {
        Shape one{1};
        one.insert(one.end(), x.shape().begin(), x.shape().end());
        input = reshape(x, one);
    }
    // The running statistics when there are any: updated in training, used in evaluation.
    const bool use_input_stats = this->is_training() || !options_.track_running_stats;
    const BasicTensor<T> y = instance_norm(input, running_mean_, running_var_, weight_, bias_, use_input_stats,
                                           options_.momentum, options_.eps);
    return unbatched ? reshape(y, x.shape()) : y;
}

template <typename T>
std::string BasicInstanceNorm<T>::extra_repr() const {
    return std::to_string(options_.num_features) + ", eps=" + python_float_repr(options_.eps) +
           ", momentum=" + python_float_repr(options_.momentum) + ", affine=" + (options_.affine ? "True" : "False") +
           ", track_running_stats=" + (options_.track_running_stats ? "True" : "False");
}

template class BasicInstanceNorm<float>;
template class BasicInstanceNorm<double>;

}  // namespace tapegrad
