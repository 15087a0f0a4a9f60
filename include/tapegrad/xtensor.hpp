// <tapegrad/xtensor.hpp>: the opt-in bridge for users who work with xtensor expressions; the
// umbrella <tapegrad/tapegrad.hpp> stays free of xtensor, and including this costs xtensor's
// templates in that translation unit only.
//
//   auto v  = tapegrad::as_xtensor(t);       // xt::adapt view of t's values, t's shape
//   auto dv = tapegrad::grad_as_xtensor(t);  // the same over t's gradient
//   auto u  = tapegrad::from_xtensor(expr);  // a new tensor holding any xexpression's values
//
// Views are zero-copy, row-major `xt::xarray_adaptor`s over the tensor's storage: writes go to
// the tensor, and data() sees them. A view of a const tensor is read-only. A view does not keep
// the storage alive: it is valid while the tensor (or, for the gradient, its current gradient)
// lives, so a gradient view dangles after zero_grad(), and after the tape releases the gradient
// of a non-leaf. Views of temporaries do not compile. Writing through a view is not recorded on
// any tape. grad_as_xtensor throws std::invalid_argument when no gradient has been accumulated.
//
// from_xtensor evaluates the expression once, in row-major order, straight into the new
// tensor's storage (its shape is the expression's, broadcasting included). The element type is
// the expression's value_type, or T when given (from_xtensor<float>(xt::arange(6))): float or
// double. Like the other factories it takes requires_grad last, and records nothing.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xexpression.hpp>
#include <xtensor/xnoalias.hpp>

#include "framework/tensor.hpp"

namespace tapegrad {

namespace detail {
inline std::vector<std::size_t> xtensor_shape(const Shape& shape) { return {shape.begin(), shape.end()}; }

// An adaptor over `data` (a prvalue pointer, so that the view holds the pointer by value).
template <typename P>
auto adapt_row_major(P data, const Shape& shape) {
    const auto extents = xtensor_shape(shape);
    return xt::adapt<xt::layout_type::row_major>(static_cast<P&&>(data), static_cast<std::size_t>(shape_numel(shape)),
                                                 xt::no_ownership(), extents);
}

template <typename T>
BasicTensor<T> defined_grad(const BasicTensor<T>& t) {
    BasicTensor<T> g = t.grad();
    if (!g.defined())
        throw std::invalid_argument("grad_as_xtensor: the tensor of shape " + to_string(t.shape()) +
                                    " has no gradient (it is allocated by the first backward that reaches it, "
                                    "or by accumulate_grad)");
    return g;
}
}  // namespace detail

// The values of t, as an xt::xarray_adaptor of t's shape (writes go to t).
template <typename T>
auto as_xtensor(BasicTensor<T>& t) {
    return detail::adapt_row_major<T*>(t.data(), t.shape());
}
template <typename T>
auto as_xtensor(const BasicTensor<T>& t) {
    return detail::adapt_row_major<const T*>(t.data(), t.shape());
}
template <typename T> void as_xtensor(const BasicTensor<T>&&) = delete;

// The gradient of t, as an xt::xarray_adaptor of t's shape (writes go to the gradient).
template <typename T>
auto grad_as_xtensor(BasicTensor<T>& t) {
    BasicTensor<T> g = detail::defined_grad(t);
    return detail::adapt_row_major<T*>(g.data(), g.shape());
}
template <typename T>
auto grad_as_xtensor(const BasicTensor<T>& t) {
    const BasicTensor<T> g = detail::defined_grad(t);
    return detail::adapt_row_major<const T*>(g.data(), g.shape());
}
template <typename T> void grad_as_xtensor(const BasicTensor<T>&&) = delete;

// A new tensor with the values and shape of `expr`.
template <typename T = void, class E>
auto from_xtensor(const xt::xexpression<E>& expr, bool requires_grad = false) {
    using V = std::conditional_t<std::is_void_v<T>, std::decay_t<typename E::value_type>, T>;
    static_assert(std::is_same_v<V, float> || std::is_same_v<V, double>,
                  "from_xtensor makes float or double tensors: name the type, e.g. from_xtensor<float>(expr)");
    const E& e = expr.derived_cast();
    BasicTensor<V> out = empty<V>(Shape(e.shape().begin(), e.shape().end()), requires_grad);
    auto values = as_xtensor(out);
    // noalias: the new storage cannot alias the expression, so no temporary is evaluated first.
    xt::noalias(values) = e;
    return out;
}

}  // namespace tapegrad
