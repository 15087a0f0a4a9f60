// Activation layers; see activation.hpp.
#include "layers/activation.hpp"

#include "framework/ops/elementwise.hpp"

namespace tapegrad {

template <typename T>
BasicTensor<T> BasicReLU<T>::forward(const BasicTensor<T>& x) {
    return relu(x);
}

template class BasicReLU<float>;
template class BasicReLU<double>;

}  // namespace tapegrad
