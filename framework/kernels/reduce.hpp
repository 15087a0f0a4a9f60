// Reductions along a block of dimensions, forward and backward. The ops view the input as
// (outer, R, inner): R elements reduced for each (o, k), inner == 1 when the reduced block is
// the last. Outputs are (outer, inner). Sums end in double: float terms are first added in
// float lanes over short runs (a row's blocks of 512, each lane adding 16 or fewer terms under
// AVX2; or 8 rows of a column block), a cascade whose error is that of float sums of 8 to 16
// terms; double terms are added in double. The order is fixed by
// the shape alone (rows in chunks of 16384, columns in blocks of 512), so results are bit for
// bit the same at any thread count. Also the strided copy the ops use to gather non-adjacent
// reduced dimensions into one block.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// y[o, k] = scale · Σ_r x[o, r, k]
template <typename T>
void sum_dim_forward(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, double scale);

// dx[o, r, k] = scale · dy[o, k] (added when accumulate)
template <typename T>
void sum_dim_backward(T* dx, const T* dy, int64_t outer, int64_t R, int64_t inner, double scale, bool accumulate);

// y[o, k] = Σ_r (x[o, r, k] − mean[o, k])² / max(0, R − correction), or its square root when
// `take_sqrt`; mean[o, k] (double) is kept for the backward. Two passes: the mean, then the
// squared deviations from it.
template <typename T>
void variance_dim_forward(T* y, double* mean, const T* x, int64_t outer, int64_t R, int64_t inner, double correction,
                          bool take_sqrt);

// dx[o, r, k] = c[o, k] · (x[o, r, k] − mean[o, k]) (added when accumulate), with
// c = 2·dy/(R − correction) for the variance and dy/((R − correction)·y) for the standard
// deviation y (0 where y == 0, as PyTorch).
template <typename T>
void variance_dim_backward(T* dx, const T* dy, const T* y, const double* mean, const T* x, int64_t outer, int64_t R,
                           int64_t inner, double correction, bool is_std, bool accumulate);

// y[o, k] = max_r x[o, r, k] (min_r when !is_max); NaN if any element is NaN. R >= 1.
template <typename T>
void extreme_dim_forward(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, bool is_max);

// dx[o, r, k] = dy[o, k] / n[o, k] where x[o, r, k] == y[o, k], else 0 (added when
// accumulate), with n[o, k] the number of such r: the gradient split evenly among ties.
template <typename T>
void extreme_dim_backward(T* dx, const T* dy, const T* x, const T* y, int64_t outer, int64_t R, int64_t inner,
                          bool accumulate);

// index[o, k] = the first r where x[o, r, k] is the maximum (minimum when !is_max), a NaN
// counting as the maximum; values[o, k] = x there when values is not null. R >= 1.
template <typename T>
void arg_extreme_dim(T* values, int64_t* index, const T* x, int64_t outer, int64_t R, int64_t inner, bool is_max);

// dx[o, index[o, k], k] += dy[o, k]: dx must hold values (zeros or a gradient) already.
template <typename T>
void index_dim_backward(T* dx, const T* dy, const int64_t* index, int64_t outer, int64_t R, int64_t inner);

// y[o, k] = m + log Σ_r exp(x[o, r, k] − m), m the maximum (0 when it is infinite, so that a
// slice of -inf gives -inf and one holding +inf gives +inf, as PyTorch).
template <typename T>
void logsumexp_dim_forward(T* y, const T* x, int64_t outer, int64_t R, int64_t inner);

// dx[o, r, k] = dy[o, k] · exp(x[o, r, k] − y[o, k]) (added when accumulate)
template <typename T>
void logsumexp_dim_backward(T* dx, const T* dy, const T* x, const T* y, int64_t outer, int64_t R, int64_t inner,
                            bool accumulate);

// y (contiguous, of extents shape[0, rank)) = x read with strides[d] along y's dimension d
// (added when accumulate): a transpose or permutation copy, either way round.
template <typename T>
void strided_copy(T* y, const T* x, const int64_t* shape, const int64_t* strides, int64_t rank, bool accumulate);

// The scalar formulas one element at a time, for tests.
template <typename T>
void sum_dim_forward_reference(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, double scale);
template <typename T>
void variance_dim_forward_reference(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, double correction);

}  // namespace tapegrad::kernels
