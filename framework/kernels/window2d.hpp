// Window2d: the geometry of a 2-D sliding window over one (H, W) plane — kernel, stride,
// zero padding, dilation and the output extents they give — shared by the convolution and
// pooling kernels. Plain sizes; the ops validate them before a kernel sees them, including
// that the padded extents and the dilated kernel extents fit in int64.
#pragma once

#include <cstdint>

#include "framework/core/checked.hpp"

namespace tapegrad::kernels {

struct Window2d {
    int64_t H, W;     // input plane
    int64_t kh, kw;   // kernel
    int64_t sh, sw;   // stride (> 0)
    int64_t ph, pw;   // zero padding on each side (>= 0)
    int64_t OH, OW;   // output plane
    // Dilation (> 0): tap (i, j) of output (oh, ow) reads input (oh·sh − ph + i·dil_h,
    // ow·sw − pw + j·dil_w). Last and defaulted, so the windows without one (pooling) leave it out.
    int64_t dil_h = 1, dil_w = 1;
};

// in + 2·pad; std::length_error naming `what` (core/checked.hpp) when it does not fit in
// int64. Once it fits, so does every tap position o·stride − pad + offset a kernel computes.
template <typename What>
constexpr int64_t padded_extent(int64_t in, int64_t pad, const What& what) {
    return checked_add(in, checked_mul(2, pad, what), what);
}

// dilation·(k − 1) + 1, the input extent one window spans; std::length_error naming `what`
// when it does not fit in int64.
template <typename What>
constexpr int64_t dilated_extent(int64_t k, int64_t dilation, const What& what) {
    return checked_add(checked_mul(dilation, k - 1, what), 1, what);
}

// floor((in + 2·pad − dilation·(k − 1) − 1) / stride) + 1, or 0 when the (dilated) kernel
// does not fit the padded input. The ops check padded_extent and dilated_extent first, naming
// the shapes; these checks are the kernels' own.
constexpr int64_t window_output_extent(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation = 1) {
    const int64_t padded = padded_extent(in, pad, "sliding window: padded input extent");
    const int64_t span = dilated_extent(k, dilation, "sliding window: dilated kernel extent");
    return padded < span ? 0 : (padded - span) / stride + 1;
}

// The output positions o in [first, last) whose tap o·stride − pad + offset lands inside
// [0, in): the rest read (or write) padding. offset is the tap's place in the window,
// i·dilation for tap i.
struct TapRange {
    int64_t first, last;
};
constexpr TapRange valid_taps(int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t offset) {
    const int64_t lo_num = pad - offset;  // need o·stride >= pad − offset
    int64_t first = lo_num <= 0 ? 0 : (lo_num - 1) / stride + 1;  // ceil, without lo_num + stride wrapping
    if (first > out) first = out;
    const int64_t hi_num = in - 1 + pad - offset;  // need o·stride <= in − 1 + pad − offset
    int64_t last = hi_num < 0 ? 0 : hi_num / stride + 1;
    if (last > out) last = out;
    return {first, last < first ? first : last};
}

}  // namespace tapegrad::kernels
