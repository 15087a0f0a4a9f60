// Pooling kernels; see pooling.hpp. OpenMP over the NC planes, which are independent in
// both directions (the backward of overlapping windows adds within one plane, one thread).
// Sums are accumulated in double.
#include "framework/kernels/pooling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tapegrad::kernels {

namespace {

constexpr int64_t kParallelMin = 1 << 16;  // elements touched; below it one thread is faster

// Adaptive window bounds, as PyTorch's start_index / end_index.
constexpr int64_t window_start(int64_t a, int64_t out, int64_t in) { return (a * in) / out; }
constexpr int64_t window_end(int64_t a, int64_t out, int64_t in) { return ((a + 1) * in + out - 1) / out; }

// The clipped input window [h0, h1) × [w0, w1) that one output position reads.
struct Bounds {
    int64_t h0, h1, w0, w1;
};

Bounds sliding_window(const Window2d& g, int64_t oh, int64_t ow) {
    return {std::max<int64_t>(oh * g.sh - g.ph, 0), std::min(oh * g.sh - g.ph + g.kh, g.H),
            std::max<int64_t>(ow * g.sw - g.pw, 0), std::min(ow * g.sw - g.pw + g.kw, g.W)};
}

Bounds adaptive_window(int64_t a, int64_t b, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    return {window_start(a, OH, H), window_end(a, OH, H), window_start(b, OW, W), window_end(b, OW, W)};
}

// visit(p, o, bounds) for every plane p and output position o = oh·OW + ow, in parallel over
// the planes when `elements` (touched per plane) times NC is worth it.
template <typename BoundsOf, typename Visit>
void for_each_window(int64_t NC, int64_t OH, int64_t OW, int64_t elements, BoundsOf&& bounds_of, Visit&& visit) {
#pragma omp parallel for schedule(static) if (NC * elements >= kParallelMin)
    for (int64_t p = 0; p < NC; ++p)
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) visit(p, oh * OW + ow, bounds_of(oh, ow));
}

// The common 2×2, stride 2, unpadded window, unrolled; the same rule as the general loop.
template <typename T>
void max_pool2d_forward_2x2(T* y, int64_t* argmax, const T* x, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (NC * (plane + out_plane) >= kParallelMin)
    for (int64_t p = 0; p < NC; ++p) {
        const T* xp = x + p * plane;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            T* yrow = y + p * out_plane + oh * g.OW;
            int64_t* arow = argmax + p * out_plane + oh * g.OW;
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                const int64_t i = 2 * oh * g.W + 2 * ow;
                T best = xp[i];
                int64_t at = i;
                for (int64_t j : {i + 1, i + g.W, i + g.W + 1}) {
                    const T v = xp[j];
                    if (v > best || std::isnan(v)) {
                        best = v;
                        at = j;
                    }
                }
                yrow[ow] = best;
                arow[ow] = at;
            }
        }
    }
}

}  // namespace

template <typename T>
void max_pool2d_forward(T* y, int64_t* argmax, const T* x, int64_t NC, const Window2d& g) {
    if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0)
        return max_pool2d_forward_2x2(y, argmax, x, NC, g);
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    for_each_window(NC, g.OH, g.OW, plane + out_plane, [&](int64_t oh, int64_t ow) { return sliding_window(g, oh, ow); },
                    [&](int64_t p, int64_t o, const Bounds& b) {
                        const T* xp = x + p * plane;
                        int64_t best_at = b.h0 * g.W + b.w0;
                        T best = -std::numeric_limits<T>::infinity();
                        for (int64_t h = b.h0; h < b.h1; ++h)
                            for (int64_t w = b.w0; w < b.w1; ++w) {
                                const T v = xp[h * g.W + w];
                                // Strictly greater keeps the first maximum on ties; a NaN always
                                // wins (the last one), exactly PyTorch's CPU rule.
                                if (v > best || std::isnan(v)) {
                                    best = v;
                                    best_at = h * g.W + w;
                                }
                            }
                        y[p * out_plane + o] = best;
                        argmax[p * out_plane + o] = best_at;
                    });
}

template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const int64_t* argmax, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (NC * out_plane >= kParallelMin)
    for (int64_t p = 0; p < NC; ++p) {
        T* dxp = dx + p * plane;
        for (int64_t k = 0; k < out_plane; ++k) dxp[argmax[p * out_plane + k]] += dy[p * out_plane + k];
    }
}

template <typename T>
void avg_pool2d_forward(T* y, const T* x, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const double inv = 1.0 / static_cast<double>(g.kh * g.kw);  // padding counts (count_include_pad)
    for_each_window(NC, g.OH, g.OW, plane + out_plane, [&](int64_t oh, int64_t ow) { return sliding_window(g, oh, ow); },
                    [&](int64_t p, int64_t o, const Bounds& b) {
                        const T* xp = x + p * plane;
                        double s = 0.0;
                        for (int64_t h = b.h0; h < b.h1; ++h)
                            for (int64_t w = b.w0; w < b.w1; ++w) s += static_cast<double>(xp[h * g.W + w]);
                        y[p * out_plane + o] = static_cast<T>(s * inv);
                    });
}

template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const double inv = 1.0 / static_cast<double>(g.kh * g.kw);
    for_each_window(NC, g.OH, g.OW, plane + out_plane, [&](int64_t oh, int64_t ow) { return sliding_window(g, oh, ow); },
                    [&](int64_t p, int64_t o, const Bounds& b) {
                        T* dxp = dx + p * plane;
                        const T d = static_cast<T>(static_cast<double>(dy[p * out_plane + o]) * inv);
                        for (int64_t h = b.h0; h < b.h1; ++h)
                            for (int64_t w = b.w0; w < b.w1; ++w) dxp[h * g.W + w] += d;
                    });
}

template <typename T>
void adaptive_avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int64_t plane = H * W, out_plane = OH * OW;
    for_each_window(NC, OH, OW, plane + out_plane, [&](int64_t a, int64_t b) { return adaptive_window(a, b, H, W, OH, OW); },
                    [&](int64_t p, int64_t o, const Bounds& b) {
                        double s = 0.0;
                        for (int64_t h = b.h0; h < b.h1; ++h) {
                            const T* row = x + p * plane + h * W;
#pragma omp simd reduction(+ : s)
                            for (int64_t w = b.w0; w < b.w1; ++w) s += static_cast<double>(row[w]);
                        }
                        y[p * out_plane + o] = static_cast<T>(s / static_cast<double>((b.h1 - b.h0) * (b.w1 - b.w0)));
                    });
}

template <typename T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int64_t plane = H * W, out_plane = OH * OW;
    for_each_window(NC, OH, OW, plane + out_plane, [&](int64_t a, int64_t b) { return adaptive_window(a, b, H, W, OH, OW); },
                    [&](int64_t p, int64_t o, const Bounds& b) {
                        const T d = static_cast<T>(static_cast<double>(dy[p * out_plane + o]) /
                                                   static_cast<double>((b.h1 - b.h0) * (b.w1 - b.w0)));
                        for (int64_t h = b.h0; h < b.h1; ++h) {
                            T* row = dx + p * plane + h * W;
#pragma omp simd
                            for (int64_t w = b.w0; w < b.w1; ++w) row[w] += d;
                        }
                    });
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                \
    template void max_pool2d_forward<T>(T*, int64_t*, const T*, int64_t, const Window2d&);                      \
    template void max_pool2d_backward<T>(T*, const T*, const int64_t*, int64_t, const Window2d&);               \
    template void avg_pool2d_forward<T>(T*, const T*, int64_t, const Window2d&);                                \
    template void avg_pool2d_backward<T>(T*, const T*, int64_t, const Window2d&);                               \
    template void adaptive_avg_pool2d_forward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);    \
    template void adaptive_avg_pool2d_backward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
