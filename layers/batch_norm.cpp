// BatchNorm layers; see batch_norm.hpp. The computation is framework/ops/batch_norm; this
// file keeps the buffers and decides, as torch.nn.modules.batchnorm._BatchNorm.forward does,
// which statistics a call uses and with what weight the running ones are updated.
#include "layers/batch_norm.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "framework/format.hpp"
#include "framework/ops/batch_norm.hpp"

namespace tapegrad {

template <typename T>
BasicBatchNorm<T>::BasicBatchNorm(const BatchNormOptions& options, const char* name) : options_(options) {
    const std::string who = name;
    if (options.num_features <= 0)
        throw std::invalid_argument(who + ": expected num_features to be positive, but got num_features=" +
                                    std::to_string(options.num_features));
    if (!(options.eps >= 0.0)) throw std::invalid_argument(who + ": expected eps >= 0, but got eps=" + python_float_repr(options.eps));
    if (options.momentum && !(*options.momentum >= 0.0 && *options.momentum <= 1.0))
        throw std::invalid_argument(who + ": expected momentum in [0, 1] or unset, but got momentum=" +
                                    python_float_repr(*options.momentum));
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
void BasicBatchNorm<T>::reset_running_stats() {
    if (!options_.track_running_stats) return;
    std::fill_n(running_mean_.data(), running_mean_.numel(), T(0));
    std::fill_n(running_var_.data(), running_var_.numel(), T(1));
    num_batches_tracked_.data()[0] = 0;
}

template <typename T>
void BasicBatchNorm<T>::reset_parameters() {
    reset_running_stats();
    if (!options_.affine) return;
    std::fill_n(weight_.data(), weight_.numel(), T(1));
    std::fill_n(bias_.data(), bias_.numel(), T(0));
}

template <typename T>
BasicTensor<T> BasicBatchNorm<T>::forward(const BasicTensor<T>& x) {
    check_input_dim(x);
    const bool training = this->is_training();
    const bool tracking = training && options_.track_running_stats;
    // The weight of this batch in the running statistics: momentum, or with momentum unset
    // 1/(batches seen, this one included), the cumulative average.
    double factor = options_.momentum.value_or(0.0);
    if (tracking && !options_.momentum) factor = 1.0 / static_cast<double>(num_batches_tracked_.data()[0] + 1);
    // Evaluation uses the running statistics when there are any, else the batch's.
    const bool batch_stats = training || !options_.track_running_stats;
    const BasicTensor<T> rm = options_.track_running_stats ? running_mean_ : BasicTensor<T>{};
    const BasicTensor<T> rv = options_.track_running_stats ? running_var_ : BasicTensor<T>{};
    BasicTensor<T> y = batch_norm(x, rm, rv, weight_, bias_, batch_stats, factor, options_.eps);
    // Counted once the batch is accepted (PyTorch counts before F.batch_norm's checks, so a
    // rejected batch still counts there).
    if (tracking) ++num_batches_tracked_.data()[0];
    return y;
}

template <typename T>
std::string BasicBatchNorm<T>::extra_repr() const {
    return std::to_string(options_.num_features) + ", eps=" + python_float_repr(options_.eps) +
           ", momentum=" + (options_.momentum ? python_float_repr(*options_.momentum) : std::string("None")) +
           ", affine=" + (options_.affine ? "True" : "False") +
           ", track_running_stats=" + (options_.track_running_stats ? "True" : "False");
}

// PyTorch's _check_input_dim messages (ValueError there).
template <typename T>
void BasicBatchNorm1d<T>::check_input_dim(const BasicTensor<T>& x) const {
    if (x.dim() != 2 && x.dim() != 3)
        throw std::invalid_argument("expected 2D or 3D input (got " + std::to_string(x.dim()) + "D input)");
}

template <typename T>
void BasicBatchNorm2d<T>::check_input_dim(const BasicTensor<T>& x) const {
    if (x.dim() != 4) throw std::invalid_argument("expected 4D input (got " + std::to_string(x.dim()) + "D input)");
}

template class BasicBatchNorm<float>;
template class BasicBatchNorm<double>;
template class BasicBatchNorm1d<float>;
template class BasicBatchNorm1d<double>;
template class BasicBatchNorm2d<float>;
template class BasicBatchNorm2d<double>;

}  // namespace tapegrad
