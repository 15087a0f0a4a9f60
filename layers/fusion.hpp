// Fusion of adjacent modules: a table of pairs of module types (first, then second) whose
// composition has a faster op of its own, and forward_chain, which applies modules one after
// another and runs each adjacent pair found in the table as that op. Sequential::forward is
// forward_chain over its modules; a user's Module whose forward applies children in sequence
// gets the same fusion by calling forward_chain, and a new pair is one register_fusion call.
// (A forward that calls pool(relu(x)) itself is not fused: only a chain says that the first
// module's output goes nowhere but into the second.)
//
// Why a pass over the chain rather than a declared fused module (PyTorch's intrinsic
// ConvReLU2d style): the model keeps PyTorch's structure. A ReLUMaxPool2d module would take one
// Sequential index where torch.nn.Sequential has two (nn.ReLU, nn.MaxPool2d), so every later
// parameter would be named differently ("3.weight" for PyTorch's "4.weight"), and a model's
// state_dict, its checkpoints and safetensors from PyTorch would no longer match; and a model
// written as PyTorch writes it would quietly run the slow way. With the pass, the children, their
// names, the printing and the state_dict are the unfused ones, and only forward changes.
// Pairs match by exact dynamic type (a subclass of ReLU may forward differently, so it is not
// fused in ReLU's place); the table, not the containers, is the one place that knows the types.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <span>
#include <typeindex>
#include <typeinfo>
#include <utility>

#include "layers/module.hpp"

namespace tapegrad {

// Runs `first` then `second` on x as one op. It must give what second(first(x)) gives, bit
// for bit, forward and backward: fusion may change speed, never results.
template <typename T>
using FusedForward =
    std::function<BasicTensor<T>(BasicModule<T>& first, BasicModule<T>& second, const BasicTensor<T>& x)>;

// Adds (first, second) → fused to the table of T's modules; forward_chain uses it from its next
// call. The table starts with (ReLU, MaxPool2d) → relu_max_pool2d (float and double). Throws
// std::invalid_argument, naming both types, when the pair is already in the table or fused is
// empty. Safe to call while other threads run forward_chain.
template <typename T>
void register_fusion(std::type_index first, std::type_index second, FusedForward<T> fused);

namespace detail {
template <typename T>
T module_value_type(const BasicModule<T>*);  // declared only: deduces the T of a module type
template <typename M>
using module_value_t = decltype(module_value_type(static_cast<const M*>(nullptr)));
}  // namespace detail

// Typed form: register_fusion<MyNorm, ReLU>([](MyNorm& norm, ReLU&, const Tensor& x) { … }).
// clang-format off: clang-format 14 misplaces C++20 requires-clauses
template <typename First, typename Second, typename F>
    requires std::derived_from<Second, BasicModule<detail::module_value_t<First>>>
void register_fusion(F fused) {
    using T = detail::module_value_t<First>;
    // The table matched the exact dynamic types, so the casts are to what the modules are.
    register_fusion<T>(typeid(First), typeid(Second),
                       [f = std::move(fused)](BasicModule<T>& a, BasicModule<T>& b, const BasicTensor<T>& x) {
                           return f(static_cast<First&>(a), static_cast<Second&>(b), x);
                       });
}
// clang-format on

// The table's entry for `first` followed by `second` (their dynamic types), or nullptr.
template <typename T>
const FusedForward<T>* find_fusion(const BasicModule<T>& first, const BasicModule<T>& second);

// x through each module in order, each output the next one's input (no modules: x itself).
// Left to right, a module and the next one that form a pair in the table run as its fused op
// and the chain goes on after both.
template <typename T>
BasicTensor<T> forward_chain(std::span<const std::shared_ptr<BasicModule<T>>> modules, const BasicTensor<T>& x);
template <typename T>
BasicTensor<T> forward_chain(std::span<BasicModule<T>* const> modules, const BasicTensor<T>& x);
// forward_chain(x, *conv_, *relu_, *pool_): the same for modules named one by one.
// clang-format off: clang-format 14 misplaces C++20 requires-clauses
template <typename T, typename... Ms>
    requires(sizeof...(Ms) > 0 && (std::derived_from<Ms, BasicModule<T>> && ...))
BasicTensor<T> forward_chain(const BasicTensor<T>& x, Ms&... modules) {
    BasicModule<T>* const chain[] = {&modules...};
    return forward_chain<T>(std::span<BasicModule<T>* const>(chain), x);
}
// clang-format on

}  // namespace tapegrad
