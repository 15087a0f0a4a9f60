// Softmax layer; see softmax.hpp.
#include "layers/softmax.hpp"

#include <string>

#include "framework/ops/reduction.hpp"

namespace tapegrad {

template <typename T>
BasicTensor<T> BasicSoftmax<T>::forward(const BasicTensor<T>& x) {
    return softmax(x, dim_);
}

template <typename T>
std::string BasicSoftmax<T>::extra_repr() const {
    return "dim=" + std::to_string(dim_);
}

template class BasicSoftmax<float>;
template class BasicSoftmax<double>;

}  // namespace tapegrad
