// Shape ops, with PyTorch's names, semantics and messages: view/reshape, flatten/unflatten,
// transpose/permute, unsqueeze/squeeze, expand/repeat, narrow/slice/select, index_select, cat/stack,
// contiguous. Gradients flow through every one. Dimensions may be negative (counted from the
// end); one out of range is std::out_of_range with PyTorch's "Dimension out of range
// (expected to be in range of [-3, 2], but got 3)", other misuse std::invalid_argument, both
// raised before anything is allocated or recorded.
//
// Views and copies, one decision for the whole library (every tensor is contiguous, row-major):
//   - The shape-only ops (reshape, view, flatten, unflatten, squeeze, unsqueeze) return a
//     view, exactly as PyTorch's view does: a new tensor of the new shape over the SAME values,
//     with no copy. Writing through one is seen by the other (an optimizer step on a parameter
//     shows in a view of it made earlier). A contiguous tensor's values in a new shape are the
//     same values in the same order, so no stride is needed; the view is a new autograd node
//     with its own gradient, and its backward hands dy's buffer on to x when it can (no copy
//     either way). contiguous() returns x itself.
//   - The ops that reorder or pick elements (transpose, permute, narrow, slice, select, expand,
//     repeat, index_select, cat, stack) return a contiguous copy. Their views would be strided,
//     and every kernel assumes contiguous memory: a strided view would need strides in every
//     kernel (or a hidden copy in each of them), and no caller could hand a kernel a layout
//     it was not written for. The copy is one memory pass (one strided gather, parallel and
//     SIMD on its contiguous runs), small beside the op that consumes it. Writing into one
//     does not change the other, unlike PyTorch, where these are views too.
// So x.transpose(0, 1) is a new tensor whose values are x's transposed, while x.reshape(...)
// shares x's values; clone() a view before writing into it when x must stay as it is.
// view() is reshape() (PyTorch's view fails on a non-contiguous tensor; here every tensor is
// contiguous).
#pragma once

#include <climits>
#include <cstdint>
#include <vector>

#include "framework/tensor.hpp"

namespace tapegrad {

// x's values (shared, not copied) in the given shape; one extent may be -1, inferred from the others.
template <typename T> BasicTensor<T> reshape(const BasicTensor<T>& x, const Shape& shape);
// reshape (every tensor is contiguous, so view never fails for that reason as PyTorch's can).
template <typename T> BasicTensor<T> view(const BasicTensor<T>& x, const Shape& shape);
// Merges dimensions start_dim..end_dim into one, as torch.flatten (a 0-d tensor becomes (1)).
template <typename T> BasicTensor<T> flatten(const BasicTensor<T>& x, int64_t start_dim = 1, int64_t end_dim = -1);
// Splits dimension dim into `sizes` (one may be -1), as torch.unflatten.
template <typename T> BasicTensor<T> unflatten(const BasicTensor<T>& x, int64_t dim, const Shape& sizes);

// Swaps dimensions dim0 and dim1.
template <typename T> BasicTensor<T> transpose(const BasicTensor<T>& x, int64_t dim0, int64_t dim1);
// Output dimension i is input dimension dims[i]; dims is a permutation of x's dimensions.
template <typename T> BasicTensor<T> permute(const BasicTensor<T>& x, const std::vector<int64_t>& dims);

// Inserts a dimension of size 1 at dim (in [-x.dim() - 1, x.dim()]).
template <typename T> BasicTensor<T> unsqueeze(const BasicTensor<T>& x, int64_t dim);
// Removes every dimension of size 1.
template <typename T> BasicTensor<T> squeeze(const BasicTensor<T>& x);
// Removes dimension dim if its size is 1; otherwise a view of x with the same shape.
template <typename T> BasicTensor<T> squeeze(const BasicTensor<T>& x, int64_t dim);
// Repeats size-1 dimensions (and adds leading ones) to reach `shape`; -1 keeps a size. The
// gradient sums over the repeated elements.
template <typename T> BasicTensor<T> expand(const BasicTensor<T>& x, const Shape& shape);
// Tiles x `repeats[d]` times along each dimension d (x taking leading 1s when repeats is
// longer than its rank), as torch.Tensor.repeat. The gradient sums over the copies.
template <typename T> BasicTensor<T> repeat(const BasicTensor<T>& x, const Shape& repeats);

// Elements [start, start + length) of dimension dim; start may be negative (from the end).
template <typename T> BasicTensor<T> narrow(const BasicTensor<T>& x, int64_t dim, int64_t start, int64_t length);
// x[..., start:end:step, ...] along dim, as Python slicing: negative start/end count from the
// end, both are clamped to [0, size], and step >= 1.
template <typename T>
BasicTensor<T> slice(const BasicTensor<T>& x, int64_t dim, int64_t start = 0, int64_t end = INT64_MAX,
                     int64_t step = 1);
// The slice at `index` of dimension dim (removed from the shape); index may be negative.
template <typename T> BasicTensor<T> select(const BasicTensor<T>& x, int64_t dim, int64_t index);
// The slices at `indices` (each in [0, size), repeats allowed) of dimension dim, in that
// order. The gradient is index_add: a repeated index accumulates every one of its slices.
template <typename T>
BasicTensor<T> index_select(const BasicTensor<T>& x, int64_t dim, const std::vector<int64_t>& indices);
// The same with the indices in a 0-d or 1-d LongTensor.
template <typename T> BasicTensor<T> index_select(const BasicTensor<T>& x, int64_t dim, const LongTensor& indices);

// Joins tensors of equal shape except along dim; as torch.cat, a 1-d tensor of size 0 may
// stand anywhere in the list and is skipped.
template <typename T> BasicTensor<T> cat(const std::vector<BasicTensor<T>>& tensors, int64_t dim = 0);
// Joins tensors of equal shape along a new dimension dim (in [-rank - 1, rank]).
template <typename T> BasicTensor<T> stack(const std::vector<BasicTensor<T>>& tensors, int64_t dim = 0);

// x itself: every tensor is already contiguous, so, as PyTorch does for a contiguous tensor,
// contiguous() returns the same tensor (sharing values and gradient), and records nothing.
template <typename T> BasicTensor<T> contiguous(const BasicTensor<T>& x);

}  // namespace tapegrad
