// Dropout layer; see dropout.hpp. The computation is framework/ops/dropout.
#include "layers/dropout.hpp"

#include <stdexcept>

#include "framework/format.hpp"
#include "framework/ops/dropout.hpp"

namespace tapegrad {

template <typename T>
BasicDropout<T>::BasicDropout(double p, Generator* gen) : p_(p), gen_(gen) {
    if (!(p >= 0.0 && p < 1.0))
        throw std::invalid_argument("Dropout: expected probability p in [0, 1), but got p=" + python_float_repr(p));
}

template <typename T>
BasicTensor<T> BasicDropout<T>::forward(const BasicTensor<T>& x) {
    return dropout(x, p_, this->is_training(), gen_);
}

template <typename T>
std::string BasicDropout<T>::extra_repr() const {
    return "p=" + python_float_repr(p_) + ", inplace=False";
}

template class BasicDropout<float>;
template class BasicDropout<double>;

}  // namespace tapegrad
