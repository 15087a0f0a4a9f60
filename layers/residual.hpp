// Residual: the building block of a ResNet, y = relu(body(x) + shortcut(x)) (He et al., 2016).
// The shortcut is the identity when none is given (body must then keep x's shape), or a
// module such as a 1×1 Conv2d with stride that matches body's output shape (the "projection"
// shortcut of a block that changes width or resolution). Children "body" and "shortcut"
// (when given), so parameters are named "body.0.weight", "shortcut.weight", …; gradients flow
// into both branches and, through both, into x.
//
//   auto block = tg::Residual(tg::Sequential(tg::Conv2d(16, 32, 3, 2, 1), tg::GroupNorm(4, 32), tg::ReLU(),
//                                            tg::Conv2d(32, 32, 3, 1, 1), tg::GroupNorm(4, 32)),
//                             tg::Conv2d(16, 32, 1, /*stride=*/2));
#pragma once

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicResidual : public BasicModule<T> {
  public:
    // Shares the modules given (throws std::invalid_argument if body is null); a null
    // shortcut is the identity.
    explicit BasicResidual(std::shared_ptr<BasicModule<T>> body, std::shared_ptr<BasicModule<T>> shortcut = nullptr);
    // Takes modules by value (moved in, as Sequential::add does).
    template <typename B>
        requires std::derived_from<std::remove_cvref_t<B>, BasicModule<T>> &&
                 (!std::same_as<std::remove_cvref_t<B>, BasicResidual>)
    explicit BasicResidual(B&& body)
        : BasicResidual(std::make_shared<std::remove_cvref_t<B>>(std::forward<B>(body))) {}
    template <typename B, typename S>
        requires std::derived_from<std::remove_cvref_t<B>, BasicModule<T>> &&
                 std::derived_from<std::remove_cvref_t<S>, BasicModule<T>>
    BasicResidual(B&& body, S&& shortcut)
        : BasicResidual(std::make_shared<std::remove_cvref_t<B>>(std::forward<B>(body)),
                        std::make_shared<std::remove_cvref_t<S>>(std::forward<S>(shortcut))) {}

    // relu(body(x) + shortcut(x)); throws std::invalid_argument naming both shapes when the
    // branches' outputs differ.
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "Residual"; }

    BasicModule<T>& body() const { return *body_; }
    // Null for the identity shortcut.
    BasicModule<T>* shortcut() const { return shortcut_.get(); }

  private:
    std::shared_ptr<BasicModule<T>> body_;
    std::shared_ptr<BasicModule<T>> shortcut_;
};

using Residual = BasicResidual<float>;

}  // namespace tapegrad
