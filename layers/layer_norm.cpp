// LayerNorm layer; see layer_norm.hpp. The computation is framework/ops/layer_norm.
#include "layers/layer_norm.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "framework/format.hpp"
#include "framework/ops/layer_norm.hpp"

namespace tapegrad {

template <typename T>
BasicLayerNorm<T>::BasicLayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : BasicLayerNorm(LayerNormOptions{std::move(normalized_shape), eps, elementwise_affine}) {}

template <typename T>
BasicLayerNorm<T>::BasicLayerNorm(const LayerNormOptions& options) : options_(options) {
    for (int64_t d : options.normalized_shape)
        if (d < 0)
            throw std::invalid_argument(
                "LayerNorm: expected normalized_shape of non-negative extents, but got normalized_shape=" +
                to_string(options.normalized_shape));
    if (!(options.eps >= 0.0))
        throw std::invalid_argument("LayerNorm: expected eps >= 0, but got eps=" + python_float_repr(options.eps));
    if (options.elementwise_affine) {
        // ones/zeros check the size (shape_numel) before allocating.
        weight_ = this->register_parameter("weight", ones<T>(options.normalized_shape));
        bias_ = this->register_parameter("bias", zeros<T>(options.normalized_shape));
    }
}

template <typename T>
void BasicLayerNorm<T>::reset_parameters() {
    if (!options_.elementwise_affine) return;
    std::fill(weight_.data(), weight_.data() + weight_.numel(), T(1));
    std::fill(bias_.data(), bias_.data() + bias_.numel(), T(0));
}

template <typename T>
BasicTensor<T> BasicLayerNorm<T>::forward(const BasicTensor<T>& x) {
    return layer_norm(x, options_.normalized_shape, weight_, bias_, options_.eps);
}

template <typename T>
std::string BasicLayerNorm<T>::extra_repr() const {
    // A Python tuple of ints: "(4, 5)", "(4,)", "()".
    std::string shape = "(";
    for (size_t i = 0; i < options_.normalized_shape.size(); ++i)
        shape += (i ? ", " : "") + std::to_string(options_.normalized_shape[i]);
    shape += options_.normalized_shape.size() == 1 ? ",)" : ")";
    return shape + ", eps=" + python_float_repr(options_.eps) +
           ", elementwise_affine=" + (options_.elementwise_affine ? "True" : "False");
}

template class BasicLayerNorm<float>;
template class BasicLayerNorm<double>;

}  // namespace tapegrad
