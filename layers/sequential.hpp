// Sequential: torch.nn.Sequential, a chain of modules applied in order, registered as
// children "0", "1", … (so parameters are named "0.weight", "1.bias", …). Modules are held by
// shared_ptr: add() takes a module by value (moved in; a copy shares its parameters with the
// original, since tensors are handles) or a shared_ptr to one already built.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicSequential : public BasicModule<T> {
  public:
    BasicSequential() = default;
    // Sequential(Conv2d(1, 32, 3), ReLU(), …): add() of each module, in order.
    template <typename... Ms>
        requires(sizeof...(Ms) > 0 && (std::derived_from<std::remove_cvref_t<Ms>, BasicModule<T>> && ...) &&
                 !(sizeof...(Ms) == 1 && (std::same_as<std::remove_cvref_t<Ms>, BasicSequential> && ...)))
    explicit BasicSequential(Ms&&... modules) {
        (add(std::forward<Ms>(modules)), ...);
    }

    // Appends a module (registered as child std::to_string(size())) and returns it.
    template <typename M>
        requires std::derived_from<std::remove_cvref_t<M>, BasicModule<T>>
    std::shared_ptr<std::remove_cvref_t<M>> add(M&& module) {
        return add(std::make_shared<std::remove_cvref_t<M>>(std::forward<M>(module)));
    }
    // Appends a module built elsewhere (shared, not copied); throws std::invalid_argument if null.
    template <typename M>
        requires std::derived_from<M, BasicModule<T>>
    std::shared_ptr<M> add(std::shared_ptr<M> module) {
        this->register_module(std::to_string(modules_.size()), module);
        modules_.push_back(module);
        return module;
    }

    size_t size() const { return modules_.size(); }
    bool empty() const { return modules_.empty(); }
    // The i-th module; throws std::out_of_range past the end.
    BasicModule<T>& operator[](size_t i) const;

    // Each module's output is the next one's input; an empty Sequential returns x. Adjacent
    // modules that form a pair of the fusion table run as its fused op (layers/fusion.hpp).
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "Sequential"; }

  private:
    std::vector<std::shared_ptr<BasicModule<T>>> modules_;
};

using Sequential = BasicSequential<float>;

}  // namespace tapegrad
