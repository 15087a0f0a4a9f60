// Upsample layer; see upsample.hpp.
#include "layers/upsample.hpp"

#include <cmath>
#include <stdexcept>

#include "framework/ops/upsample.hpp"

namespace tapegrad {

template <typename T>
BasicUpsample<T>::BasicUpsample(double scale_factor, const std::string& mode) : scale_(0), mode_(mode) {
    if (mode != "nearest")
        throw std::invalid_argument("Upsample: only mode='nearest' is supported, but got mode='" + mode + "'");
    // 2^31 keeps the cast exact and far above any image size; the op checks the output's.
    if (!(scale_factor >= 1.0 && scale_factor <= 2147483648.0) || std::floor(scale_factor) != scale_factor)
        throw std::invalid_argument("Upsample: expected a whole scale_factor >= 1, but got scale_factor=" +
                                    python_float_repr(scale_factor));
    scale_ = static_cast<int64_t>(scale_factor);
}

template <typename T>
BasicTensor<T> BasicUpsample<T>::forward(const BasicTensor<T>& x) {
    return upsample_nearest2d(x, scale_);
}

template <typename T>
std::string BasicUpsample<T>::extra_repr() const {
    return "scale_factor=" + python_float_repr(scale_factor()) + ", mode=" + mode_;
}

template class BasicUpsample<float>;
template class BasicUpsample<double>;

}  // namespace tapegrad
