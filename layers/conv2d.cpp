// Conv2d layer; see conv2d.hpp. The computation is framework/ops/conv2d.
#include "layers/conv2d.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "framework/core/checked.hpp"
#include "framework/ops/conv2d.hpp"
#include "layers/init.hpp"

namespace tapegrad {

template <typename T>
BasicConv2d<T>::BasicConv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride, Size2 padding,
                            bool bias, Generator* gen)
    : BasicConv2d(Conv2dOptions{.in_channels = in_channels,
                                .out_channels = out_channels,
                                .kernel_size = kernel_size,
                                .stride = stride,
                                .padding = padding,
                                .bias = bias},
                  gen) {}

template <typename T>
BasicConv2d<T>::BasicConv2d(const Conv2dOptions& options, Generator* gen) : options_(options) {
    const Conv2dOptions& o = options;
    if (o.in_channels < 1 || o.out_channels < 1)
        throw std::invalid_argument("Conv2d: expected in_channels >= 1 and out_channels >= 1, but got in_channels=" +
                                    std::to_string(o.in_channels) +
                                    " and out_channels=" + std::to_string(o.out_channels));
    if (o.kernel_size.h < 1 || o.kernel_size.w < 1 || o.stride.h < 1 || o.stride.w < 1 || o.padding.h < 0 ||
        o.padding.w < 0 || o.dilation.h < 1 || o.dilation.w < 1)
        throw std::invalid_argument(
            "Conv2d: expected kernel_size >= 1, stride >= 1, padding >= 0 and dilation >= 1, but got kernel_size=" +
            to_string(o.kernel_size) + ", stride=" + to_string(o.stride) + ", padding=" + to_string(o.padding) +
            " and dilation=" + to_string(o.dilation));
    // PyTorch's words (torch.nn.Conv2d's ValueErrors), with the values.
    if (o.groups < 1)
        throw std::invalid_argument("Conv2d: groups must be a positive integer, but got groups=" +
                                    std::to_string(o.groups));
    if (o.in_channels % o.groups != 0)
        throw std::invalid_argument("Conv2d: in_channels must be divisible by groups, but got in_channels=" +
                                    std::to_string(o.in_channels) + " and groups=" + std::to_string(o.groups));
    if (o.out_channels % o.groups != 0)
        throw std::invalid_argument("Conv2d: out_channels must be divisible by groups, but got out_channels=" +
                                    std::to_string(o.out_channels) + " and groups=" + std::to_string(o.groups));
    const Shape weight_shape{o.out_channels, o.in_channels / o.groups, o.kernel_size.h, o.kernel_size.w};
    checked_bytes(weight_shape, sizeof(T), [&] {
        return "Conv2d: weight for in_channels=" + std::to_string(o.in_channels) +
               ", out_channels=" + std::to_string(o.out_channels) + ", kernel_size=" + to_string(o.kernel_size) +
               " and groups=" + std::to_string(o.groups);
    });
    weight_ = this->register_parameter("weight", BasicTensor<T>(weight_shape));
    if (o.bias) bias_ = this->register_parameter("bias", BasicTensor<T>(Shape{o.out_channels}));
    reset_parameters(gen);
}

template <typename T>
void BasicConv2d<T>::reset_parameters(Generator* gen) {
    kaiming_uniform_(weight_, std::sqrt(5.0), FanMode::fan_in, gen);
    if (bias_.defined()) {
        const int64_t fan_in = calculate_fan_in_and_fan_out(weight_.shape()).first;
        const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
        uniform_(bias_, -bound, bound, gen);
    }
}

template <typename T>
BasicTensor<T> BasicConv2d<T>::forward(const BasicTensor<T>& x) {
    return conv2d(x, weight_, bias_, options_.stride, options_.padding, options_.dilation, options_.groups);
}

template <typename T>
std::string BasicConv2d<T>::extra_repr() const {
    std::string s = std::to_string(options_.in_channels) + ", " + std::to_string(options_.out_channels) +
                    ", kernel_size=" + to_string(options_.kernel_size) + ", stride=" + to_string(options_.stride);
    if (options_.padding != Size2(0)) s += ", padding=" + to_string(options_.padding);
    if (options_.dilation != Size2(1)) s += ", dilation=" + to_string(options_.dilation);
    if (options_.groups != 1) s += ", groups=" + std::to_string(options_.groups);
    if (!options_.bias) s += ", bias=False";
    return s;
}

template class BasicConv2d<float>;
template class BasicConv2d<double>;

}  // namespace tapegrad
