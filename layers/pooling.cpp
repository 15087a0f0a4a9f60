// Pooling layers; see pooling.hpp. The window arguments are validated once, here, so that a
// bad layer fails where it is built rather than at its first forward.
#include "layers/pooling.hpp"

#include <stdexcept>
#include <string>

#include "framework/ops/pooling.hpp"

namespace tapegrad {

namespace {

void check_window(const char* layer, Size2 kernel, Size2 stride, Size2 padding) {
    const std::string given = "kernel_size=" + to_string(kernel) + ", stride=" + to_string(stride) +
                              ", padding=" + to_string(padding);
    if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1 || padding.h < 0 || padding.w < 0)
        throw std::invalid_argument(std::string(layer) +
                                    ": expected kernel_size >= 1, stride >= 1 and padding >= 0, but got " + given);
    if (padding.h > kernel.h / 2 || padding.w > kernel.w / 2)  // 2·padding > kernel, without the doubling wrapping
        throw std::invalid_argument(std::string(layer) +
                                    ": padding should be at most half of the kernel size, but got " + given);
}

}  // namespace

template <typename T>
BasicMaxPool2d<T>::BasicMaxPool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding)
    : kernel_size_(kernel_size), stride_(stride.value_or(kernel_size)), padding_(padding) {
    check_window("MaxPool2d", kernel_size_, stride_, padding_);
}

template <typename T>
BasicTensor<T> BasicMaxPool2d<T>::forward(const BasicTensor<T>& x) {
    return max_pool2d(x, kernel_size_, stride_, padding_);
}

template <typename T>
std::string BasicMaxPool2d<T>::extra_repr() const {
    return "kernel_size=" + to_compact_string(kernel_size_) + ", stride=" + to_compact_string(stride_) +
           ", padding=" + to_compact_string(padding_) + ", dilation=1, ceil_mode=False";
}

template <typename T>
BasicAvgPool2d<T>::BasicAvgPool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding)
    : kernel_size_(kernel_size), stride_(stride.value_or(kernel_size)), padding_(padding) {
    check_window("AvgPool2d", kernel_size_, stride_, padding_);
}

template <typename T>
BasicTensor<T> BasicAvgPool2d<T>::forward(const BasicTensor<T>& x) {
    return avg_pool2d(x, kernel_size_, stride_, padding_);
}

template <typename T>
std::string BasicAvgPool2d<T>::extra_repr() const {
    return "kernel_size=" + to_compact_string(kernel_size_) + ", stride=" + to_compact_string(stride_) +
           ", padding=" + to_compact_string(padding_);
}

template <typename T>
BasicAdaptiveAvgPool2d<T>::BasicAdaptiveAvgPool2d(Size2 output_size) : output_size_(output_size) {
    if (output_size.h < 1 || output_size.w < 1)
        throw std::invalid_argument("AdaptiveAvgPool2d: expected output_size >= 1, but got output_size=" +
                                    to_string(output_size));
}

template <typename T>
BasicTensor<T> BasicAdaptiveAvgPool2d<T>::forward(const BasicTensor<T>& x) {
    return adaptive_avg_pool2d(x, output_size_);
}

template <typename T>
std::string BasicAdaptiveAvgPool2d<T>::extra_repr() const {
    return "output_size=" + to_compact_string(output_size_);
}

template class BasicMaxPool2d<float>;
template class BasicMaxPool2d<double>;
template class BasicAvgPool2d<float>;
template class BasicAvgPool2d<double>;
template class BasicAdaptiveAvgPool2d<float>;
template class BasicAdaptiveAvgPool2d<double>;

}  // namespace tapegrad
