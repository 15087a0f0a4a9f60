// GroupNorm layer; see group_norm.hpp. The computation is framework/ops/group_norm.
#include "layers/group_norm.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "framework/core/checked.hpp"
#include "framework/format.hpp"
#include "framework/ops/group_norm.hpp"

namespace tapegrad {

template <typename T>
BasicGroupNorm<T>::BasicGroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : BasicGroupNorm(GroupNormOptions{num_groups, num_channels, eps, affine}) {}

template <typename T>
BasicGroupNorm<T>::BasicGroupNorm(const GroupNormOptions& options) : options_(options) {
    if (options.num_groups <= 0)
        throw std::invalid_argument("GroupNorm: expected num_groups > 0, but got num_groups=" +
                                    std::to_string(options.num_groups));
    if (options.num_channels <= 0)
        throw std::invalid_argument("GroupNorm: expected num_channels > 0, but got num_channels=" +
                                    std::to_string(options.num_channels));
    if (options.num_channels % options.num_groups != 0)
        throw std::invalid_argument("GroupNorm: num_channels must be divisible by num_groups, but got num_channels=" +
                                    std::to_string(options.num_channels) +
                                    " and num_groups=" + std::to_string(options.num_groups));
    if (!(options.eps >= 0.0))
        throw std::invalid_argument("GroupNorm: expected eps >= 0, but got eps=" + python_float_repr(options.eps));
    if (options.affine) {
        checked_bytes(options.num_channels, sizeof(T), [&] {
            return "GroupNorm: weight and bias for num_channels=" + std::to_string(options.num_channels);
        });
        weight_ = this->register_parameter("weight", ones<T>({options.num_channels}));
        bias_ = this->register_parameter("bias", zeros<T>({options.num_channels}));
    }
}

template <typename T>
void BasicGroupNorm<T>::reset_parameters() {
    if (!options_.affine) return;
    std::fill(weight_.data(), weight_.data() + weight_.numel(), T(1));
    std::fill(bias_.data(), bias_.data() + bias_.numel(), T(0));
}

template <typename T>
BasicTensor<T> BasicGroupNorm<T>::forward(const BasicTensor<T>& x) {
    if (x.dim() >= 2 && x.size(1) != options_.num_channels)
        throw std::invalid_argument("GroupNorm: expected input with " + std::to_string(options_.num_channels) +
                                    " channels (dimension 1), but got input of shape " + to_string(x.shape()));
    return group_norm(x, options_.num_groups, weight_, bias_, options_.eps);
}

template <typename T>
std::string BasicGroupNorm<T>::extra_repr() const {
    return std::to_string(options_.num_groups) + ", " + std::to_string(options_.num_channels) +
           ", eps=" + python_float_repr(options_.eps) + ", affine=" + (options_.affine ? "True" : "False");
}

template class BasicGroupNorm<float>;
template class BasicGroupNorm<double>;

}  // namespace tapegrad
