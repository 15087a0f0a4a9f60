// Linear layer; see linear.hpp. The computation is framework/ops/linalg's linear; input of
// rank other than 2 is reshaped to (−1, in_features) and back.
#include "layers/linear.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "framework/core/checked.hpp"
#include "framework/ops/linalg.hpp"
#include "framework/ops/shape.hpp"
#include "layers/init.hpp"

namespace tapegrad {

template <typename T>
BasicLinear<T>::BasicLinear(int64_t in_features, int64_t out_features, bool bias, Generator* gen)
    : BasicLinear(LinearOptions{in_features, out_features, bias}, gen) {}

template <typename T>
BasicLinear<T>::BasicLinear(const LinearOptions& options, Generator* gen) : options_(options) {
    if (options.in_features < 0 || options.out_features < 0)
        throw std::invalid_argument("Linear: expected in_features >= 0 and out_features >= 0, but got in_features=" +
                                    std::to_string(options.in_features) +
                                    " and out_features=" + std::to_string(options.out_features));
    const auto given = [&] {
        return "Linear: parameters for in_features=" + std::to_string(options.in_features) +
               " and out_features=" + std::to_string(options.out_features);
    };
    checked_bytes(Shape{options.out_features, options.in_features}, sizeof(T), given);
    if (options.bias) checked_bytes(Shape{options.out_features}, sizeof(T), given);
    weight_ = this->register_parameter("weight", BasicTensor<T>(Shape{options.out_features, options.in_features}));
    if (options.bias) bias_ = this->register_parameter("bias", BasicTensor<T>(Shape{options.out_features}));
    reset_parameters(gen);
}

template <typename T>
void BasicLinear<T>::reset_parameters(Generator* gen) {
    kaiming_uniform_(weight_, std::sqrt(5.0), FanMode::fan_in, gen);
    if (bias_.defined()) {
        const int64_t fan_in = options_.in_features;
        const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
        uniform_(bias_, -bound, bound, gen);
    }
}

template <typename T>
BasicTensor<T> BasicLinear<T>::forward(const BasicTensor<T>& x) {
    if (x.dim() < 1 || x.size(-1) != options_.in_features)
        throw std::invalid_argument("Linear: expected input of shape (*, " + std::to_string(options_.in_features) +
                                    ") for weight of shape " + to_string(weight_.shape()) +
                                    ", but got input of shape " + to_string(x.shape()));
    if (x.dim() == 2) return linear(x, weight_, bias_);
    Shape out_shape = x.shape();
    out_shape.back() = options_.out_features;
    const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
    return reshape(linear(reshape(x, Shape{rows, options_.in_features}), weight_, bias_), out_shape);
}

template <typename T>
std::string BasicLinear<T>::extra_repr() const {
    return "in_features=" + std::to_string(options_.in_features) +
           ", out_features=" + std::to_string(options_.out_features) + ", bias=" + (options_.bias ? "True" : "False");
}

template class BasicLinear<float>;
template class BasicLinear<double>;

}  // namespace tapegrad
