// Sequential; see sequential.hpp. Printing comes from BasicModule::repr ("(0): …" per child).
#include "layers/sequential.hpp"

#include <stdexcept>
#include <string>

#include "layers/fusion.hpp"

namespace tapegrad {

template <typename T>
BasicModule<T>& BasicSequential<T>::operator[](size_t i) const {
    if (i >= modules_.size())
        throw std::out_of_range("Sequential: index " + std::to_string(i) + " is out of range for a Sequential of " +
                                std::to_string(modules_.size()) + " modules");
    return *modules_[i];
}

// forward_chain runs the pairs of the fusion table (a ReLU then a MaxPool2d, …) as one op each.
template <typename T>
BasicTensor<T> BasicSequential<T>::forward(const BasicTensor<T>& x) {
    return forward_chain<T>(modules_, x);
}

template class BasicSequential<float>;
template class BasicSequential<double>;

}  // namespace tapegrad
