// Reductions, as PyTorch's: sum, mean, var, std, amax, amin and logsumexp over one dimension,
// a list of them, or all (an empty list, as torch 1.13 reads `dim=()`), with keepdim; max/min
// along a dimension with their int64 indices, argmax/argmin; softmax and log_softmax over any
// dimension. Dimensions may be negative (counted from the end); a 0-dim tensor has the one
// dimension 0 (or -1). Errors use PyTorch's wording: a dimension out of range is
// std::out_of_range, a repeated one std::invalid_argument.
//
// Sums end in double (float terms in runs of 8 to 16 added in float lanes first, a cascade);
// var/std take two passes (the mean, then squared deviations from it).
// Results do not depend on the thread count. Reduced dimensions that are not adjacent (after
// dropping extents of 1) are first gathered into one block by a transposing copy.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "framework/tensor.hpp"

namespace tapegrad {

// The dimensions a reduction runs over: one (`sum(x, 1)`), several (`sum(x, {0, 2})`), or
// none listed (`{}`), meaning all of them.
struct Dims {
    std::vector<int64_t> values;
    Dims() = default;
    Dims(int64_t dim) : values{dim} {}  // NOLINT: implicit, so that sum(x, 1) reads as in PyTorch
    Dims(std::initializer_list<int64_t> dims) : values(dims) {}
    Dims(std::vector<int64_t> dims) : values(std::move(dims)) {}  // NOLINT
};

// The whole tensor, to a tensor of shape []. The mean of zero elements is NaN, as in PyTorch.
template <typename T> BasicTensor<T> sum(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> mean(const BasicTensor<T>& x);

// Along dims; keepdim keeps them with extent 1. A sum over an empty dimension is 0, a mean NaN.
template <typename T> BasicTensor<T> sum(const BasicTensor<T>& x, const Dims& dims, bool keepdim = false);
template <typename T> BasicTensor<T> mean(const BasicTensor<T>& x, const Dims& dims, bool keepdim = false);

// Σ (x − mean)² / max(0, N − correction) over dims (all by default), N the number of elements
// reduced: correction 1 is the unbiased estimate, 0 the population variance; N − correction
// <= 0 gives inf (NaN for N = 0), as PyTorch. std is its square root; its gradient where it is
// 0 is 0, as PyTorch's.
template <typename T>
BasicTensor<T> var(const BasicTensor<T>& x, const Dims& dims = {}, double correction = 1.0, bool keepdim = false);
template <typename T>
BasicTensor<T> std(const BasicTensor<T>& x, const Dims& dims = {}, double correction = 1.0, bool keepdim = false);

// The maximum (minimum) over dims; NaN if any element reduced is NaN. The gradient is split
// evenly among the elements equal to the result (torch.amax). A reduced dimension of extent 0
// is std::out_of_range ("amax(): Expected reduction dim 1 to have non-zero size.").
template <typename T> BasicTensor<T> amax(const BasicTensor<T>& x, const Dims& dims = {}, bool keepdim = false);
template <typename T> BasicTensor<T> amin(const BasicTensor<T>& x, const Dims& dims = {}, bool keepdim = false);

// max(x) / min(x) over the whole tensor, shape []: as torch 1.13, the gradient is split evenly
// among ties. An empty x is std::invalid_argument.
template <typename T> BasicTensor<T> max(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> min(const BasicTensor<T>& x);

// torch.max(x, dim) / torch.min(x, dim): the values and, for each, the index along dim of the
// first element equal to it (a NaN, if any, is the maximum). The gradient goes to that element
// only; indices have none.
template <typename T>
struct ValuesAndIndices {
    BasicTensor<T> values;
    LongTensor indices;
};
template <typename T> ValuesAndIndices<T> max(const BasicTensor<T>& x, int64_t dim, bool keepdim = false);
template <typename T> ValuesAndIndices<T> min(const BasicTensor<T>& x, int64_t dim, bool keepdim = false);

// The indices of max/min along dim (no gradient); without dim, the index into the flattened
// tensor, shape [].
template <typename T> LongTensor argmax(const BasicTensor<T>& x, int64_t dim, bool keepdim = false);
template <typename T> LongTensor argmin(const BasicTensor<T>& x, int64_t dim, bool keepdim = false);
template <typename T> LongTensor argmax(const BasicTensor<T>& x);
template <typename T> LongTensor argmin(const BasicTensor<T>& x);

// log Σ exp(x) over dims, stable (the maximum is subtracted first): a slice of only -inf gives
// -inf, one holding +inf gives +inf, an empty one -inf, as PyTorch.
template <typename T> BasicTensor<T> logsumexp(const BasicTensor<T>& x, const Dims& dims, bool keepdim = false);

// exp(x) / Σ exp(x) along dim, any rank, stable.
template <typename T> BasicTensor<T> softmax(const BasicTensor<T>& x, int64_t dim);

// x − logsumexp(x) along dim, any rank, stable.
template <typename T> BasicTensor<T> log_softmax(const BasicTensor<T>& x, int64_t dim);

}  // namespace tapegrad
