// log_softmax over the rows of an (N, C) matrix, forward and backward, with the row maximum
// subtracted before exp so that large logits do not overflow; in double whatever T is. The
// `_reference` twins are the formulas one element at a time, for tests.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// y[n, j] = x[n, j] − logsumexp(x[n, ·])
template <typename T>
void log_softmax_forward(T* y, const T* x, int64_t N, int64_t C);

// dx[n, j] += dy[n, j] − exp(y[n, j])·Σ_k dy[n, k], with y the forward's output.
template <typename T>
void log_softmax_backward(T* dx, const T* dy, const T* y, int64_t N, int64_t C);

template <typename T>
void log_softmax_forward_reference(T* y, const T* x, int64_t N, int64_t C);

}  // namespace tapegrad::kernels
