// softmax and log_softmax over the rows of an (N, C) matrix, and over dimension C of any
// (outer, C, inner) block, forward and backward, with the maximum subtracted before exp so
// that large logits do not overflow; in double whatever T is. The `_reference` twins are the
// formulas one element at a time, for tests.
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

// Over dimension C of (outer, C, inner): for each (o, k), the C elements x[o, ·, k] (stride
// inner). Backwards add into dx when accumulate, else assign.
// y = exp(x − m) / Σ_c exp(x − m), m the maximum over c
template <typename T>
void softmax_forward(T* y, const T* x, int64_t outer, int64_t C, int64_t inner);
// y = x − m − log Σ_c exp(x − m)
template <typename T>
void log_softmax_forward(T* y, const T* x, int64_t outer, int64_t C, int64_t inner);
// dx = y · (dy − Σ_c dy · y), y the forward's output
template <typename T>
void softmax_backward(T* dx, const T* dy, const T* y, int64_t outer, int64_t C, int64_t inner, bool accumulate);
// dx = dy − exp(y) · Σ_c dy, y the forward's output
template <typename T>
void log_softmax_backward(T* dx, const T* dy, const T* y, int64_t outer, int64_t C, int64_t inner, bool accumulate);

// softmax (log_softmax when `log`) of (outer, C, inner), one element at a time with std::exp.
template <typename T>
void softmax_forward_reference(T* y, const T* x, int64_t outer, int64_t C, int64_t inner, bool log);

}  // namespace tapegrad::kernels
