// Layer Normalization kernels on raw, contiguous, row-major memory — no autograd knowledge.
// Shapes: x, y, dy, dx are (rows, M), M = prod(normalized_shape), rows = the product of the
// leading extents; gamma, beta, dgamma, dbeta are (M), one value per ELEMENT of a row (not per
// channel), and may be null (elementwise_affine = false); the saved statistics mean and rstd
// are (rows), kept in double whatever T is.
//
// Each kernel has a plain scalar `_reference` twin, written for obviousness rather than
// speed; the tests hold the fast kernels to it.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// y = (x − mean) · rstd · γ_i + β_i per row; writes y, mean, rstd.
template <typename T>
void layer_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t rows,
                        int64_t M, double eps);

// Accumulates (+=) into dgamma and dbeta; into dx as well when accumulate_dx, else assigns
// dx (which may then hold garbage on entry). Any of the three may be null to skip it.
// dgamma and dbeta are the same bits at any thread count.
template <typename T>
void layer_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t rows, int64_t M, bool accumulate_dx = true);

template <typename T>
void layer_norm_forward_reference(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                                  int64_t rows, int64_t M, double eps);

template <typename T>
void layer_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t rows, int64_t M,
                                   bool accumulate_dx = true);

}  // namespace tapegrad::kernels
