// Nearest-neighbour upsampling; see upsample.hpp.
#include "framework/kernels/upsample.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "framework/core/checked.hpp"
#include "framework/core/parallel.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// y[w·s + b] = x[w] for one row of W inputs. (Not with xsimd 8.1's zip_lo/zip_hi: on AVX
// and AVX-512 they interleave within each 128-bit lane, not the lower and upper halves.)
template <typename T>
void widen_row(T* y, const T* x, int64_t W, int64_t s) {
    if (s == 2) {
        for (int64_t w = 0; w < W; ++w) y[2 * w] = y[2 * w + 1] = x[w];
        return;
    }
    for (int64_t w = 0; w < W; ++w) std::fill(y + w * s, y + (w + 1) * s, x[w]);
}

// acc[j] += row[j] for j < n.
template <typename T>
void add_row(T* acc, const T* row, int64_t n) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    int64_t j = 0;
    for (; j + lanes <= n; j += lanes)
        (B::load_unaligned(acc + j) + B::load_unaligned(row + j)).store_unaligned(acc + j);
    for (; j < n; ++j) acc[j] += row[j];
}

bool worth_it(int64_t NC, int64_t H, int64_t W, int64_t s) {
    return worth_parallel(Work::elements, saturating_mul(saturating_mul(NC * H, W), s * s), NC * H);
}

}  // namespace

template <typename T>
void upsample_nearest2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t s) {
    const int64_t OW = W * s;
    for_range(NC * H, worth_it(NC, H, W, s), [&](int64_t r) {
        // Input row r (plane r / H, row r % H) is output rows r·s .. r·s + s - 1.
        T* first = y + r * s * OW;
        widen_row(first, x + r * W, W, s);
        for (int64_t a = 1; a < s; ++a) std::memcpy(first + a * OW, first, static_cast<size_t>(OW) * sizeof(T));
    });
}

template <typename T>
void upsample_nearest2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t s, bool accumulate) {
    const int64_t OW = W * s;
    for_thread_ranges(
        NC * H, worth_it(NC, H, W, s),
        [&](int64_t begin, int64_t end) {
            std::vector<T> rows(static_cast<size_t>(OW));  // the s output rows of a block, added
            for (int64_t r = begin; r < end; ++r) {
                const T* block = dy + r * s * OW;
                std::memcpy(rows.data(), block, static_cast<size_t>(OW) * sizeof(T));
                for (int64_t a = 1; a < s; ++a) add_row(rows.data(), block + a * OW, OW);
                T* out = dx + r * W;
                for (int64_t w = 0; w < W; ++w) {
                    T g = rows[static_cast<size_t>(w * s)];
                    for (int64_t b = 1; b < s; ++b) g += rows[static_cast<size_t>(w * s + b)];
                    out[w] = accumulate ? out[w] + g : g;
                }
            }
        },
        [] {});
}

template <typename T>
void upsample_nearest2d_forward_reference(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t s) {
    const int64_t OH = H * s, OW = W * s;
    for (int64_t p = 0; p < NC; ++p)
        for (int64_t i = 0; i < OH; ++i)
            for (int64_t j = 0; j < OW; ++j) y[(p * OH + i) * OW + j] = x[(p * H + i / s) * W + j / s];
}

template <typename T>
void upsample_nearest2d_backward_reference(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t s,
                                           bool accumulate) {
    const int64_t OH = H * s, OW = W * s;
    for (int64_t p = 0; p < NC; ++p)
        for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) {
                T g = 0;
                for (int64_t a = 0; a < s; ++a)
                    for (int64_t b = 0; b < s; ++b) g += dy[(p * OH + h * s + a) * OW + w * s + b];
                T& d = dx[(p * H + h) * W + w];
                d = accumulate ? d + g : g;
            }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                   \
    template void upsample_nearest2d_forward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);                \
    template void upsample_nearest2d_backward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, bool);         \
    template void upsample_nearest2d_forward_reference<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);      \
    template void upsample_nearest2d_backward_reference<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
