// Flatten layer; see flatten.hpp. The computation is framework/ops/shape's flatten.
#include "layers/flatten.hpp"

#include <string>

#include "framework/ops/shape.hpp"

namespace tapegrad {

template <typename T>
BasicTensor<T> BasicFlatten<T>::forward(const BasicTensor<T>& x) {
    return flatten(x, start_dim_, end_dim_);
}

template <typename T>
std::string BasicFlatten<T>::extra_repr() const {
    return "start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_);
}

template class BasicFlatten<float>;
template class BasicFlatten<double>;

}  // namespace tapegrad
