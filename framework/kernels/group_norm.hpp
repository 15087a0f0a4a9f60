// Group Normalization kernels on raw, contiguous, row-major memory — no autograd knowledge.
// Shapes: x, y, dy, dx are (N, C, inner) with inner = the product of the trailing extents;
// gamma, beta, dgamma, dbeta are (C) (gamma/beta may be null: affine = false); the saved
// statistics mean and rstd are (N, G), kept in double whatever T is, so that the backward
// pass sees them without float rounding.
//
// Each kernel has a plain scalar `_reference` twin, written for obviousness rather than
// speed; the tests hold the fast kernels to it.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// y = (x − mean) · rstd · γ[c] + β[c] per (n, group); writes y, mean, rstd.
template <typename T>
void group_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t N,
                        int64_t C, int64_t inner, int64_t G, double eps);

// Accumulates (+=) into dgamma and dbeta; into dx as well when accumulate_dx, else assigns
// dx (which may then hold garbage on entry). Any of the three may be null to skip it.
template <typename T>
void group_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G, bool accumulate_dx = true);

template <typename T>
void group_norm_forward_reference(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                                  int64_t N, int64_t C, int64_t inner, int64_t G, double eps);

template <typename T>
void group_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G,
                                   bool accumulate_dx = true);

}  // namespace tapegrad::kernels
