// Strided copies: the one kernel behind every shape op (transpose, permute, narrow, slice,
// select, expand, cat, stack), and the index gathers (index_select and its index_add).
// An element is addressed as base + Σ idx_d·stride_d over a shape `sizes` (row-major index
// order); strides are in elements and never negative. Each call merges adjacent dimensions
// whose strides allow it on both sides, and runs the innermost dimension as a contiguous copy
// (or SIMD add) when both its strides are 1, else as a strided loop, advancing counters
// instead of dividing per element; a run strided on one side only (a transpose) is walked in
// tiles with a dimension that is contiguous on that side. Parallel over the outer runs
// (parallel.hpp's policy), except an add whose destinations repeat (stride 0), which is serial.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// dst[Σ idx·dst_strides] = src[Σ idx·src_strides] for every index of `sizes` (rank dims).
// Destination positions must be distinct (a source stride of 0 repeats a value: expand).
template <typename T>
void strided_copy(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides, const int64_t* sizes,
                  int64_t rank);

// dst[Σ idx·dst_strides] += src[Σ idx·src_strides]. A destination position may be hit
// several times (a destination stride of 0: the backward of expand); the terms for one position
// are then added serially, those along the innermost dimension summed first in double.
template <typename T>
void strided_add(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides, const int64_t* sizes,
                 int64_t rank);

// The gather of a strided view: out (sizes, contiguous) [i] = x[offset + Σ idx_d·strides_d].
template <typename T>
void strided_gather(T* out, const T* x, const int64_t* sizes, const int64_t* strides, int64_t rank, int64_t offset);

// Its backward, the matching scatter-add: dx[offset + Σ idx_d·strides_d] += dy[i], dy of
// shape `sizes`, contiguous.
template <typename T>
void strided_scatter_add(T* dx, const T* dy, const int64_t* sizes, const int64_t* strides, int64_t rank,
                         int64_t offset);

// Scalar twins of strided_copy and strided_add for the tests: one flat loop over the index
// space, each index decomposed by division.
template <typename T>
void strided_copy_reference(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides,
                            const int64_t* sizes, int64_t rank);
template <typename T>
void strided_add_reference(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides,
                           const int64_t* sizes, int64_t rank);

// out (outer, n_index, inner) [o, k, :] = x (outer, dim_size, inner) [o, index[k], :].
// Every index must lie in [0, dim_size) (the op checks).
template <typename T>
void index_select_forward(T* out, const T* x, const int64_t* index, int64_t outer, int64_t n_index, int64_t dim_size,
                          int64_t inner);

// dx (outer, dim_size, inner) [o, index[k], :] += dy (outer, n_index, inner) [o, k, :]: a
// repeated index adds each of its rows, in the order of k.
template <typename T>
void index_add(T* dx, const T* dy, const int64_t* index, int64_t outer, int64_t n_index, int64_t dim_size,
               int64_t inner);

}  // namespace tapegrad::kernels
