// constant_, uniform_, kaiming_uniform_ and the fan computation; see init.hpp. Bounds are computed in
// double exactly as torch.nn.init does, then each draw is rounded once to T.
#include "layers/init.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "framework/generator.hpp"

namespace tapegrad {

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Shape& shape) {
    if (shape.size() < 2)
        throw std::invalid_argument(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions, but got shape " +
            to_string(shape));
    int64_t receptive_field = 1;
    for (size_t d = 2; d < shape.size(); ++d) receptive_field *= shape[d];
    return {shape[1] * receptive_field, shape[0] * receptive_field};
}

template <typename T>
BasicTensor<T> constant_(BasicTensor<T> t, double value) {
    const T v = static_cast<T>(value);
    for (T& x : t.values()) x = v;
    return t;
}

template <typename T>
BasicTensor<T> uniform_(BasicTensor<T> t, double low, double high, Generator* gen) {
    if (!(low <= high))
        throw std::invalid_argument("uniform_: expected low <= high, but got low=" + std::to_string(low) +
                                    " and high=" + std::to_string(high) + " for a tensor of shape " +
                                    to_string(t.shape()));
    Generator& g = gen ? *gen : default_generator();
    for (T& v : t.values()) v = static_cast<T>(low + (high - low) * g.uniform());
    return t;
}

template <typename T>
BasicTensor<T> kaiming_uniform_(BasicTensor<T> t, double a, FanMode mode, Generator* gen) {
    const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t.shape());
    if (t.numel() == 0) return t;  // torch warns "Initializing zero-element tensors is a no-op"
    const int64_t fan = mode == FanMode::fan_in ? fan_in : fan_out;
    // The operations of torch.nn.init.calculate_gain and kaiming_uniform_, in their order.
    const double gain = std::sqrt(2.0 / (1.0 + a * a));
    const double std_dev = gain / std::sqrt(static_cast<double>(fan));
    const double bound = std::sqrt(3.0) * std_dev;
    return uniform_(t, -bound, bound, gen);
}

template BasicTensor<float> constant_(BasicTensor<float>, double);
template BasicTensor<double> constant_(BasicTensor<double>, double);
template BasicTensor<float> uniform_(BasicTensor<float>, double, double, Generator*);
template BasicTensor<double> uniform_(BasicTensor<double>, double, double, Generator*);
template BasicTensor<float> kaiming_uniform_(BasicTensor<float>, double, FanMode, Generator*);
template BasicTensor<double> kaiming_uniform_(BasicTensor<double>, double, FanMode, Generator*);

}  // namespace tapegrad
