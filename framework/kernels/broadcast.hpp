// Broadcast element-wise kernels on raw memory, after ATen's TensorIterator: operands are
// described by a BroadcastPlan (the output's extents coalesced into the fewest dims, each input
// contiguous or stretched with stride 0 along each), the outer dims are walked with counters
// and the innermost run is one SIMD loop. sum_to_shape is the reverse: the gradient of a
// broadcast operand, a sum over its stretched dims.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tapegrad::kernels {

// The binary functions of the broadcast kernels. The comparisons give 1 or 0; where_true and
// where_false are where()'s gradient terms: f(dy, mask) = mask != 0 ? dy : 0 and the reverse.
enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, where_true, where_false };

// The iteration space of an op on up to three inputs broadcast to one output shape: `sizes`
// are the output's extents with size-1 dims dropped and adjacent dims merged where every input
// is laid out alike over both (contiguous across them, or stretched over both), outermost
// first; strides[k][d] is input k's stride along dim d in elements (0 where it is stretched).
// A one-element output has sizes {1}.
struct BroadcastPlan {
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides[3];
    int inputs = 0;
    int64_t numel = 0;
};

// The plan of `inputs` (each of rank <= out's, right-aligned, each extent equal to out's or 1)
// broadcast to `out`. The caller has checked that the shapes broadcast.
BroadcastPlan plan_broadcast(std::span<const int64_t> out, std::span<const std::span<const int64_t>> inputs);

// out[i] (+)= f(a[.], b[.]) over a two-input plan: assigned unless `accumulate`.
template <typename T>
void binary_forward(T* out, const T* a, const T* b, const BroadcastPlan& plan, BinaryOp op, bool accumulate);

// The gradient terms of a binary op at every output element, for op in add ... minimum:
// da[i] = dy[i] · ∂f/∂a and db[i] = dy[i] · ∂f/∂b at (a[.], b[.]), where dy is contiguous in
// the output's shape and a, b are read through the two-input plan. Either output may be null.
template <typename T>
void binary_backward_terms(T* da, T* db, const T* dy, const T* a, const T* b, const BroadcastPlan& plan, BinaryOp op);

// out[i] = mask[.] != 0 ? a[.] : b[.] over a three-input plan (mask, a, b).
template <typename T>
void where_forward(T* out, const T* mask, const T* a, const T* b, const BroadcastPlan& plan);

// out (+)= scale · Σ x (or Σ x·y when y is not null) over the dims where `out_shape` is 1 and
// `in_shape` is not: x and y are contiguous of in_shape, out_shape right-aligned with it and
// each extent equal to in_shape's or 1 (missing leading dims count as 1). Sums run in double;
// the order of the terms of each output is fixed, so results do not depend on the threads.
template <typename T>
void sum_to_shape(T* out, const T* x, const T* y, std::span<const int64_t> in_shape, std::span<const int64_t> out_shape,
                  double scale, bool accumulate);

// Scalar twins for the tests: the same results by the plain index arithmetic of the shapes.
template <typename T>
void binary_forward_reference(T* out, const T* a, const T* b, std::span<const int64_t> out_shape,
                              std::span<const int64_t> a_shape, std::span<const int64_t> b_shape, BinaryOp op);
template <typename T>
void sum_to_shape_reference(T* out, const T* x, std::span<const int64_t> in_shape, std::span<const int64_t> out_shape);

}  // namespace tapegrad::kernels
