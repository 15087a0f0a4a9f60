// BasicNormBase; see norm_base.hpp.
#include "layers/norm_base.hpp"

#include <algorithm>
#include <stdexcept>

#include "framework/format.hpp"

namespace tapegrad {

template <typename T>
BasicNormBase<T>::BasicNormBase(const std::string& name, const Settings& s) : settings_(s) {
    if (s.num_features <= 0)
        throw std::invalid_argument(name + ": expected num_features to be positive, but got num_features=" +
                                    std::to_string(s.num_features));
    if (!(s.eps >= 0.0))
        throw std::invalid_argument(name + ": expected eps >= 0, but got eps=" + python_float_repr(s.eps));
    if (s.momentum && !(*s.momentum >= 0.0 && *s.momentum <= 1.0))
        throw std::invalid_argument(
            name + ": expected momentum in [0, 1], but got momentum=" + python_float_repr(*s.momentum));
    const Shape c{s.num_features};
    if (s.affine) {
        weight_ = this->register_parameter("weight", ones<T>(c));
        bias_ = this->register_parameter("bias", zeros<T>(c));
    }
    if (s.track_running_stats) {
        running_mean_ = this->register_buffer("running_mean", zeros<T>(c));
        running_var_ = this->register_buffer("running_var", ones<T>(c));
        num_batches_tracked_ = this->register_buffer("num_batches_tracked", zeros<int64_t>({}));
    }
}

template <typename T>
void BasicNormBase<T>::reset_running_stats() {
    if (!settings_.track_running_stats) return;
    std::fill_n(running_mean_.data(), running_mean_.numel(), T(0));
    std::fill_n(running_var_.data(), running_var_.numel(), T(1));
    num_batches_tracked_.data()[0] = 0;
}

template <typename T>
void BasicNormBase<T>::reset_parameters() {
    reset_running_stats();
    if (!settings_.affine) return;
    std::fill_n(weight_.data(), weight_.numel(), T(1));
    std::fill_n(bias_.data(), bias_.numel(), T(0));
}

template <typename T>
std::string BasicNormBase<T>::extra_repr() const {
    const Settings& s = settings_;
    return std::to_string(s.num_features) + ", eps=" + python_float_repr(s.eps) +
           ", momentum=" + (s.momentum ? python_float_repr(*s.momentum) : std::string("None")) +
           ", affine=" + (s.affine ? "True" : "False") +
           ", track_running_stats=" + (s.track_running_stats ? "True" : "False");
}

template class BasicNormBase<float>;
template class BasicNormBase<double>;

}  // namespace tapegrad
