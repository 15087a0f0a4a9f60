// Activation layers; see activation.hpp.
#include "layers/activation.hpp"

#include <stdexcept>
#include <utility>

#include "framework/ops/elementwise.hpp"
#include "framework/ops/math.hpp"

namespace tapegrad {

template <typename T>
BasicTensor<T> BasicReLU<T>::forward(const BasicTensor<T>& x) {
    return relu(x);
}

template <typename T>
BasicTensor<T> BasicSiLU<T>::forward(const BasicTensor<T>& x) {
    return silu(x);
}

template <typename T>
BasicGELU<T>::BasicGELU(std::string approximate) : approximate_(std::move(approximate)) {
    if (approximate_ != "none" && approximate_ != "tanh")
        throw std::invalid_argument("approximate argument must be either none or tanh.");
}

template <typename T>
BasicTensor<T> BasicGELU<T>::forward(const BasicTensor<T>& x) {
    return gelu(x, approximate_);
}

template <typename T>
BasicTensor<T> BasicSigmoid<T>::forward(const BasicTensor<T>& x) {
    return sigmoid(x);
}

template <typename T>
BasicTensor<T> BasicTanh<T>::forward(const BasicTensor<T>& x) {
    return tanh(x);
}

template <typename T>
BasicTensor<T> BasicLeakyReLU<T>::forward(const BasicTensor<T>& x) {
    return leaky_relu(x, negative_slope_);
}

#define TAPEGRAD_INSTANTIATE(T)        \
    template class BasicReLU<T>;      \
    template class BasicSiLU<T>;      \
    template class BasicGELU<T>;      \
    template class BasicSigmoid<T>;   \
    template class BasicTanh<T>;      \
    template class BasicLeakyReLU<T>; \
    template class BasicIdentity<T>;
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
