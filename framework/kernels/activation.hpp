// Element-wise activation kernels on raw memory: one vectorised pass each way, in parallel
// over the OpenMP threads when the tensor is large. Each has a scalar reference twin.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// y[i] = x[i] > 0 ? x[i] : 0 (n elements; y may be x).
template <typename T>
void relu_forward(T* y, const T* x, int64_t n);

// dx[i] (+)= x[i] > 0 ? dy[i] : 0: assigned unless `accumulate`, so a fresh gradient needs no
// zero-fill. The gradient at exactly 0 is 0, as in PyTorch.
template <typename T>
void relu_backward(T* dx, const T* dy, const T* x, int64_t n, bool accumulate);

template <typename T>
void relu_forward_reference(T* y, const T* x, int64_t n);
template <typename T>
void relu_backward_reference(T* dx, const T* dy, const T* x, int64_t n, bool accumulate);

}  // namespace tapegrad::kernels
