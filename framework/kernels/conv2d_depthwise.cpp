// Depthwise convolution, direct; see conv2d_depthwise.hpp. Each pass walks the taps (i, j) of
// the kernel and, for each, the output rows whose tap lands inside the input (valid_taps): with
// stride 1 the input (or dx) row it meets is contiguous, so the inner loop is one packed
// multiply-add per SIMD lane along the row.
#include "framework/kernels/conv2d_depthwise.hpp"

#include <algorithm>
#include <vector>

#include "framework/core/checked.hpp"
#include "framework/core/parallel.hpp"

namespace tapegrad::kernels {

bool depthwise_applies(int64_t C, int64_t O, int64_t groups) { return C > 1 && groups == C && O % C == 0; }

int depthwise_threads(int64_t N, int64_t O, const Window2d& g) {
    const int64_t planes = saturating_mul(N, O);
    const int64_t multiply_adds = saturating_mul(planes, saturating_mul(g.kh * g.kw, g.OH * g.OW));
    return parallel_threads(Work::multiply_adds, multiply_adds, planes);
}

template <typename T>
void conv2d_depthwise_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                              const Window2d& g, int threads) {
    const int64_t m = O / C, L = g.OH * g.OW, taps = g.kh * g.kw;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t p = 0; p < N * O; ++p) {  // the plane (n, o)
        const int64_t n = p / O, o = p % O;
        T* yp = y + p * L;
        const T* xp = x + (n * C + o / m) * g.H * g.W;
        std::fill(yp, yp + L, b ? b[o] : T(0));
        for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
                const T wij = w[o * taps + i * g.kw + j];
                const int64_t oi = i * g.dil_h, oj = j * g.dil_w;  // the tap's offset in the window
                const TapRange rows = valid_taps(g.H, g.OH, g.sh, g.ph, oi);
                const TapRange cols = valid_taps(g.W, g.OW, g.sw, g.pw, oj);
                const int64_t len = cols.last - cols.first;
                for (int64_t oh = rows.first; oh < rows.last; ++oh) {
                    T* yr = yp + oh * g.OW + cols.first;
                    const T* xr = xp + (oh * g.sh - g.ph + oi) * g.W + (cols.first * g.sw - g.pw + oj);
                    if (g.sw == 1) {
#pragma omp simd
                        for (int64_t k = 0; k < len; ++k) yr[k] += wij * xr[k];
                    } else {
                        for (int64_t k = 0; k < len; ++k) yr[k] += wij * xr[k * g.sw];
                    }
                }
            }
    }
}

template <typename T>
void conv2d_depthwise_backward_data(T* dx, const T* dy, const T* w, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                    int threads, bool accumulate) {
    const int64_t m = O / C, L = g.OH * g.OW, plane = g.H * g.W, taps = g.kh * g.kw;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t p = 0; p < N * C; ++p) {  // the plane (n, c): only its m output channels write it
        const int64_t n = p / C, c = p % C;
        T* dxp = dx + p * plane;
        if (!accumulate) std::fill(dxp, dxp + plane, T(0));
        for (int64_t o = c * m; o < (c + 1) * m; ++o) {
            const T* dyp = dy + (n * O + o) * L;
            for (int64_t i = 0; i < g.kh; ++i)
                for (int64_t j = 0; j < g.kw; ++j) {
                    const T wij = w[o * taps + i * g.kw + j];
                    const int64_t oi = i * g.dil_h, oj = j * g.dil_w;
                    const TapRange rows = valid_taps(g.H, g.OH, g.sh, g.ph, oi);
                    const TapRange cols = valid_taps(g.W, g.OW, g.sw, g.pw, oj);
                    const int64_t len = cols.last - cols.first;
                    for (int64_t oh = rows.first; oh < rows.last; ++oh) {
                        T* dxr = dxp + (oh * g.sh - g.ph + oi) * g.W + (cols.first * g.sw - g.pw + oj);
                        const T* dyr = dyp + oh * g.OW + cols.first;
                        if (g.sw == 1) {
#pragma omp simd
                            for (int64_t k = 0; k < len; ++k) dxr[k] += wij * dyr[k];
                        } else {
                            for (int64_t k = 0; k < len; ++k) dxr[k * g.sw] += wij * dyr[k];
                        }
                    }
                }
        }
    }
}

// Per tap, the products are summed down the columns first: acc[k] += dy·x over every sample and
// output row, in order, the columns independent (so they fill SIMD lanes, and no add waits on
// the one before); then the columns in order. A fixed order, in double, on one thread per o.
template <typename T>
void conv2d_depthwise_backward_weight(T* dw, const T* dy, const T* x, int64_t N, int64_t C, int64_t O,
                                      const Window2d& g, int threads, bool accumulate) {
    const int64_t m = O / C, L = g.OH * g.OW, plane = g.H * g.W, taps = g.kh * g.kw;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t o = 0; o < O; ++o) {
        std::vector<double> acc(static_cast<size_t>(g.OW));
        for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t oi = i * g.dil_h, oj = j * g.dil_w;
                const TapRange rows = valid_taps(g.H, g.OH, g.sh, g.ph, oi);
                const TapRange cols = valid_taps(g.W, g.OW, g.sw, g.pw, oj);
                const int64_t len = cols.last - cols.first;
                std::fill(acc.begin(), acc.end(), 0.0);
                double* a = acc.data();
                for (int64_t n = 0; n < N; ++n) {
                    const T* dyp = dy + (n * O + o) * L;
                    const T* xp = x + (n * C + o / m) * plane;
                    for (int64_t oh = rows.first; oh < rows.last; ++oh) {
                        const T* dyr = dyp + oh * g.OW + cols.first;
                        const T* xr = xp + (oh * g.sh - g.ph + oi) * g.W + (cols.first * g.sw - g.pw + oj);
                        if (g.sw == 1) {
#pragma omp simd
                            for (int64_t k = 0; k < len; ++k) a[k] += double(dyr[k]) * double(xr[k]);
                        } else {
                            for (int64_t k = 0; k < len; ++k) a[k] += double(dyr[k]) * double(xr[k * g.sw]);
                        }
                    }
                }
                double s = accumulate ? double(dw[o * taps + i * g.kw + j]) : 0.0;
                for (int64_t k = 0; k < len; ++k) s += a[k];
                dw[o * taps + i * g.kw + j] = static_cast<T>(s);
            }
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                            \
    template void conv2d_depthwise_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, \
                                              const Window2d&, int);                                       \
    template void conv2d_depthwise_backward_data<T>(T*, const T*, const T*, int64_t, int64_t, int64_t,     \
                                                    const Window2d&, int, bool);                           \
    template void conv2d_depthwise_backward_weight<T>(T*, const T*, const T*, int64_t, int64_t, int64_t,   \
                                                      const Window2d&, int, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
