// Residual; see residual.hpp. Composed of recorded ops (add, relu), so its backward is theirs.
#include "layers/residual.hpp"

#include <stdexcept>
#include <string>

#include "framework/ops/elementwise.hpp"

namespace tapegrad {

template <typename T>
BasicResidual<T>::BasicResidual(std::shared_ptr<BasicModule<T>> body, std::shared_ptr<BasicModule<T>> shortcut)
    : body_(std::move(body)), shortcut_(std::move(shortcut)) {
    if (!body_) throw std::invalid_argument("Residual: expected a body module, but got a null pointer");
    this->register_module("body", body_);
    if (shortcut_) this->register_module("shortcut", shortcut_);
}

template <typename T>
BasicTensor<T> BasicResidual<T>::forward(const BasicTensor<T>& x) {
    const BasicTensor<T> main = body_->forward(x);
    const BasicTensor<T> skip = shortcut_ ? shortcut_->forward(x) : x;
    if (main.shape() != skip.shape())
        throw std::invalid_argument(
            "Residual: the body's output of shape " + to_string(main.shape()) + " and the shortcut's of shape " +
            to_string(skip.shape()) + " (for input of shape " + to_string(x.shape()) + ") must match" +
            (shortcut_ ? "" : "; give a shortcut module (e.g. a 1x1 Conv2d) when the body changes the shape"));
    return relu(add(main, skip));
}

template class BasicResidual<float>;
template class BasicResidual<double>;

}  // namespace tapegrad
