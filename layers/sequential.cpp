// Sequential; see sequential.hpp. Printing comes from BasicModule::repr ("(0): …" per child).
#include "layers/sequential.hpp"

#include <stdexcept>
#include <string>
#include <typeinfo>

#include "framework/ops/pooling.hpp"
#include "layers/activation.hpp"
#include "layers/pooling.hpp"

namespace tapegrad {

template <typename T>
BasicModule<T>& BasicSequential<T>::operator[](size_t i) const {
    if (i >= modules_.size())
        throw std::out_of_range("Sequential: index " + std::to_string(i) + " is out of range for a Sequential of " +
                                std::to_string(modules_.size()) + " modules");
    return *modules_[i];
}

// A ReLU followed by a MaxPool2d (exactly those types, not subclasses that may forward
// differently) runs as one relu_max_pool2d: the same values and gradients, without making
// the relu'd tensor and without its two passes.
template <typename T>
BasicTensor<T> BasicSequential<T>::forward(const BasicTensor<T>& x) {
    BasicTensor<T> y = x;
    for (size_t i = 0; i < modules_.size(); ++i) {
        if (i + 1 < modules_.size() && typeid(*modules_[i]) == typeid(BasicReLU<T>) &&
            typeid(*modules_[i + 1]) == typeid(BasicMaxPool2d<T>)) {
            const auto& pool = static_cast<const BasicMaxPool2d<T>&>(*modules_[i + 1]);
            y = relu_max_pool2d(y, pool.kernel_size(), pool.stride(), pool.padding());
            ++i;
            continue;
        }
        y = modules_[i]->forward(y);
    }
    return y;
}

template class BasicSequential<float>;
template class BasicSequential<double>;

}  // namespace tapegrad
