// Binary element-wise ops with PyTorch's broadcasting: shapes are right-aligned, a missing
// leading dim counts as 1, and a size-1 dim stretches to the other operand's; anything else is
// std::invalid_argument "The size of tensor a (3) must match the size of tensor b (4) at
// non-singleton dimension 1". The gradient of a stretched operand is summed back to its shape.
// Also relu, the comparisons (0/1 tensors, never recorded), where, and sum_to_size.
#pragma once

#include <type_traits>

#include "framework/ops/math.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

template <typename T> BasicTensor<T> add(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> sub(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> mul(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> div(const BasicTensor<T>& a, const BasicTensor<T>& b);
// a^b; ∂/∂a is 0 where b = 0 and ∂/∂b is 0 where a = 0 and b >= 0, as PyTorch.
template <typename T> BasicTensor<T> pow(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> pow(const BasicTensor<T>& x, std::type_identity_t<T> exponent);
template <typename T> BasicTensor<T> pow(std::type_identity_t<T> base, const BasicTensor<T>& x);
// Element-wise max / min, NaN propagating; on ties each side gets half the gradient (torch 1.13).
template <typename T> BasicTensor<T> maximum(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> minimum(const BasicTensor<T>& a, const BasicTensor<T>& b);

// Comparisons: 1 where true, 0 where false, in T; the result never requires grad.
template <typename T> BasicTensor<T> eq(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> ne(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> lt(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> le(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> gt(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> ge(const BasicTensor<T>& a, const BasicTensor<T>& b);

// mask != 0 ? a : b, the three broadcast together; the mask gets no gradient.
template <typename T>
BasicTensor<T> where(const BasicTensor<T>& mask, const BasicTensor<T>& a, const BasicTensor<T>& b);

// The sum of x over the dims where `shape` has 1 (or lacks them), giving `shape`
// (Tensor.sum_to_size): the gradient of broadcasting. std::invalid_argument "size {[3]} is
// not expandable to size {[2, 4]}." when x's shape is not a broadcast of `shape`.
template <typename T> BasicTensor<T> sum_to_size(const BasicTensor<T>& x, const Shape& shape);

template <typename T> BasicTensor<T> relu(const BasicTensor<T>& x);

// A scalar as a one-element tensor of shape [] (not requiring grad).
template <typename T> BasicTensor<T> scalar_tensor(T value);

// Operators, with scalars on either side.
template <typename T> using scalar_of = std::type_identity_t<T>;
template <typename T> BasicTensor<T> operator+(const BasicTensor<T>& a, const BasicTensor<T>& b) { return add(a, b); }
template <typename T> BasicTensor<T> operator-(const BasicTensor<T>& a, const BasicTensor<T>& b) { return sub(a, b); }
template <typename T> BasicTensor<T> operator*(const BasicTensor<T>& a, const BasicTensor<T>& b) { return mul(a, b); }
template <typename T> BasicTensor<T> operator/(const BasicTensor<T>& a, const BasicTensor<T>& b) { return div(a, b); }
template <typename T>
BasicTensor<T> operator+(const BasicTensor<T>& a, scalar_of<T> s) {
    return add(a, scalar_tensor<T>(s));
}
template <typename T>
BasicTensor<T> operator-(const BasicTensor<T>& a, scalar_of<T> s) {
    return sub(a, scalar_tensor<T>(s));
}
template <typename T>
BasicTensor<T> operator*(const BasicTensor<T>& a, scalar_of<T> s) {
    return mul(a, scalar_tensor<T>(s));
}
template <typename T>
BasicTensor<T> operator/(const BasicTensor<T>& a, scalar_of<T> s) {
    return div(a, scalar_tensor<T>(s));
}
template <typename T>
BasicTensor<T> operator+(scalar_of<T> s, const BasicTensor<T>& a) {
    return add(scalar_tensor<T>(s), a);
}
template <typename T>
BasicTensor<T> operator-(scalar_of<T> s, const BasicTensor<T>& a) {
    return sub(scalar_tensor<T>(s), a);
}
template <typename T>
BasicTensor<T> operator*(scalar_of<T> s, const BasicTensor<T>& a) {
    return mul(scalar_tensor<T>(s), a);
}
template <typename T>
BasicTensor<T> operator/(scalar_of<T> s, const BasicTensor<T>& a) {
    return div(scalar_tensor<T>(s), a);
}
template <typename T> BasicTensor<T> operator-(const BasicTensor<T>& a) { return neg(a); }

}  // namespace tapegrad
