// The storage behind BasicTensor: an xtensor container. Include this (and pay for xtensor's
// templates) only where the values are needed as an xt::xarray; the rest of tapegrad uses
// data() and shape().
#pragma once

#include <xtensor/xarray.hpp>

#include "framework/allocator.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

template <typename T> using Storage = xt::xarray<T, xt::layout_type::row_major, CachingAllocator<T>>;

template <typename T>
struct TensorImpl {
    Storage<T> values;                                   // contiguous, row-major
    Shape shape;                                         // the same extents, as int64_t
    bool requires_grad = false;
    bool is_leaf = true;                                 // false for outputs of recorded ops
    std::shared_ptr<TensorImpl> grad;                    // null until first accumulation
};

// The values of `t` as an xt::xarray (a reference: writes go to the tensor).
template <typename T>
Storage<T>& as_xarray(const BasicTensor<T>& t) {
    return t.impl().values;
}

}  // namespace tapegrad
