// Element-wise ops: add, sub, mul, div with three shape rules — equal shapes, a scalar (a
// number or a one-element tensor), or a (C) vector broadcast over dimension 1 of (N, C, *) —
// and the unary relu, exp, log, neg. Anything else is std::invalid_argument naming both shapes.
#pragma once

#include <type_traits>

#include "framework/tensor.hpp"

namespace tapegrad {

template <typename T> BasicTensor<T> add(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> sub(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> mul(const BasicTensor<T>& a, const BasicTensor<T>& b);
template <typename T> BasicTensor<T> div(const BasicTensor<T>& a, const BasicTensor<T>& b);

template <typename T> BasicTensor<T> relu(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> exp(const BasicTensor<T>& x);
// Natural log; inputs <= 0 give -inf/NaN as in PyTorch.
template <typename T> BasicTensor<T> log(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> neg(const BasicTensor<T>& x);

// A scalar as a one-element tensor of shape [] (not requiring grad).
template <typename T> BasicTensor<T> scalar_tensor(T value);

// Operators, with scalars on either side.
template <typename T> using scalar_of = std::type_identity_t<T>;
template <typename T> BasicTensor<T> operator+(const BasicTensor<T>& a, const BasicTensor<T>& b) { return add(a, b); }
template <typename T> BasicTensor<T> operator-(const BasicTensor<T>& a, const BasicTensor<T>& b) { return sub(a, b); }
template <typename T> BasicTensor<T> operator*(const BasicTensor<T>& a, const BasicTensor<T>& b) { return mul(a, b); }
template <typename T> BasicTensor<T> operator/(const BasicTensor<T>& a, const BasicTensor<T>& b) { return div(a, b); }
template <typename T> BasicTensor<T> operator+(const BasicTensor<T>& a, scalar_of<T> s) { return add(a, scalar_tensor<T>(s)); }
template <typename T> BasicTensor<T> operator-(const BasicTensor<T>& a, scalar_of<T> s) { return sub(a, scalar_tensor<T>(s)); }
template <typename T> BasicTensor<T> operator*(const BasicTensor<T>& a, scalar_of<T> s) { return mul(a, scalar_tensor<T>(s)); }
template <typename T> BasicTensor<T> operator/(const BasicTensor<T>& a, scalar_of<T> s) { return div(a, scalar_tensor<T>(s)); }
template <typename T> BasicTensor<T> operator+(scalar_of<T> s, const BasicTensor<T>& a) { return add(scalar_tensor<T>(s), a); }
template <typename T> BasicTensor<T> operator-(scalar_of<T> s, const BasicTensor<T>& a) { return sub(scalar_tensor<T>(s), a); }
template <typename T> BasicTensor<T> operator*(scalar_of<T> s, const BasicTensor<T>& a) { return mul(scalar_tensor<T>(s), a); }
template <typename T> BasicTensor<T> operator/(scalar_of<T> s, const BasicTensor<T>& a) { return div(scalar_tensor<T>(s), a); }
template <typename T> BasicTensor<T> operator-(const BasicTensor<T>& a) { return neg(a); }

}  // namespace tapegrad
