// Sequential; see sequential.hpp. Printing comes from BasicModule::repr ("(0): …" per child).
#include "layers/sequential.hpp"

#include <stdexcept>
#include <string>

namespace tapegrad {

template <typename T>
BasicModule<T>& BasicSequential<T>::operator[](size_t i) const {
    if (i >= modules_.size())
        throw std::out_of_range("Sequential: index " + std::to_string(i) + " is out of range for a Sequential of " +
                                std::to_string(modules_.size()) + " modules");
    return *modules_[i];
}

template <typename T>
BasicTensor<T> BasicSequential<T>::forward(const BasicTensor<T>& x) {
    BasicTensor<T> y = x;
    for (const auto& m : modules_) y = m->forward(y);
    return y;
}

template class BasicSequential<float>;
template class BasicSequential<double>;

}  // namespace tapegrad
