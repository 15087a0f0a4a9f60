// BatchNorm layers; see batch_norm.hpp. The computation is framework/ops/batch_norm; this
// file keeps the buffers and decides, as torch.nn.modules.batchnorm._BatchNorm.forward does,
// which statistics a call uses and with what weight the running ones are updated.
#include "layers/batch_norm.hpp"

#include <stdexcept>
#include <string>

#include "framework/ops/batch_norm.hpp"

namespace tapegrad {

template <typename T>
BasicBatchNorm<T>::BasicBatchNorm(const BatchNormOptions& options, const char* name)
    : BasicNormBase<T>(
          name, {options.num_features, options.eps, options.momentum, options.affine, options.track_running_stats}),
      options_(options) {
    if (options.virtual_batch_size && *options.virtual_batch_size <= 0)
        throw std::invalid_argument(std::string(name) + ": expected virtual_batch_size > 0, but got " +
                                    std::to_string(*options.virtual_batch_size));
}

template <typename T>
std::string BasicBatchNorm<T>::extra_repr() const {
    std::string s = BasicNormBase<T>::extra_repr();
    if (options_.virtual_batch_size) s += ", virtual_batch_size=" + std::to_string(*options_.virtual_batch_size);
    return s;
}

template <typename T>
BasicTensor<T> BasicBatchNorm<T>::forward(const BasicTensor<T>& x) {
    check_input_dim(x);
    const bool training = this->is_training();
    const bool tracking = training && options_.track_running_stats;
    // The weight of this batch in the running statistics: momentum, or with momentum unset
    // 1/(batches seen, this one included), the cumulative average.
    double factor = options_.momentum.value_or(0.0);
    if (tracking && !options_.momentum) factor = 1.0 / static_cast<double>(this->num_batches_tracked_.data()[0] + 1);
    // Evaluation uses the running statistics when there are any, else the batch's.
    const bool batch_stats = training || !options_.track_running_stats;
    const std::optional<int64_t> group = options_.virtual_batch_size;
    if (batch_stats && group && x.size(0) % *group != 0)
        throw std::invalid_argument(this->type_name() + ": virtual_batch_size " + std::to_string(*group) +
                                    " does not divide the batch of " + std::to_string(x.size(0)));
    // (Undefined without track_running_stats.)
    BasicTensor<T> y = batch_norm(x, this->running_mean_, this->running_var_, this->weight_, this->bias_, batch_stats,
                                  factor, options_.eps, group);
    // Counted once the batch is accepted (PyTorch counts before F.batch_norm's checks, so a
    // rejected batch still counts there).
    if (tracking) ++this->num_batches_tracked_.data()[0];
    return y;
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
