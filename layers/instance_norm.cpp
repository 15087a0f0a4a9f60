// InstanceNorm layers; see instance_norm.hpp. The computation is framework/ops/instance_norm;
// this file keeps the buffers and decides, as torch.nn.modules.instancenorm._InstanceNorm
// does, which statistics a call uses.
#include "layers/instance_norm.hpp"

#include <stdexcept>
#include <string>

#include "framework/ops/instance_norm.hpp"
#include "framework/ops/shape.hpp"

namespace tapegrad {

template <typename T>
BasicInstanceNorm<T>::BasicInstanceNorm(const InstanceNormOptions& options, int spatial_dims)
    : BasicNormBase<T>(
          "InstanceNorm" + std::to_string(spatial_dims) + "d",
          {options.num_features, options.eps, options.momentum, options.affine, options.track_running_stats}),
      options_(options),
      spatial_dims_(spatial_dims) {}

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
    const BasicTensor<T> y = instance_norm(input, this->running_mean_, this->running_var_, this->weight_, this->bias_,
                                           use_input_stats, options_.momentum, options_.eps);
    return unbatched ? reshape(y, x.shape()) : y;
}

template class BasicInstanceNorm<float>;
template class BasicInstanceNorm<double>;

}  // namespace tapegrad
