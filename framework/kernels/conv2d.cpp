// im2col / col2im and the direct reference convolution; see conv2d.hpp.
// Parallelism: im2col over the rows of the column matrix, col2im over channels (each
// channel folds into its own plane of dx, so no two threads write the same element).
// Both are called between GEMMs, never inside an OpenMP region that calls BLAS.
#include "framework/kernels/conv2d.hpp"

#include <algorithm>

namespace tapegrad::kernels {

namespace {
// Below this many column elements (about 1 MB of float copies) a parallel region costs more
// than it saves: these are memory-bound copies, called once per sample.
constexpr int64_t kParallelMin = 1 << 18;
}  // namespace

namespace {

// Row r = (c, i, j) of the column matrix when the stride is 1 and the output is as wide as
// the input (a "same" convolution, e.g. 3×3 with padding 1): then output row oh reads input
// row oh − ph + i from column j − pw on, so the rows with a valid input row are one
// contiguous run of x, shifted by (i − ph)·W + (j − pw). One copy of that run (instead of a
// short copy per row) and then the columns that fall in the padding set to zero: the copy
// put the neighbouring row's first or last elements there.
template <typename T>
void im2col_same_width_row(T* out, const T* xc, const Window2d& g, int64_t i, int64_t j) {
    const int64_t W = g.W;
    const TapRange rows = valid_taps(g.H, g.OH, 1, g.ph, i);
    const TapRange cols = valid_taps(W, W, 1, g.pw, j);
    std::fill(out, out + rows.first * W, T(0));
    if (rows.last > rows.first) {
        const int64_t shift = (i - g.ph) * W + (j - g.pw);
        const int64_t begin = rows.first * W, end = rows.last * W;
        // The run's ends may fall outside x (before row 0 or after row H − 1) only in columns
        // that are padding: copy the part inside x, zero those columns below.
        const int64_t lo = std::max(begin, -shift), hi = std::min(end, g.H * W - shift);
        std::copy(xc + lo + shift, xc + hi + shift, out + lo);
        for (int64_t oh = rows.first; oh < rows.last; ++oh) {  // a pw-wide strip on each side
            T* o = out + oh * W;
            for (int64_t ow = 0; ow < cols.first; ++ow) o[ow] = T(0);
            for (int64_t ow = cols.last; ow < W; ++ow) o[ow] = T(0);
        }
    }
    std::fill(out + rows.last * W, out + g.OH * W, T(0));
}

}  // namespace

template <typename T>
void im2col(T* col, const T* x, int64_t C, const Window2d& g) {
    const int64_t L = g.OH * g.OW;
    const int64_t rows = C * g.kh * g.kw;
    const bool same_width = g.sh == 1 && g.sw == 1 && g.OW == g.W;
#pragma omp parallel for schedule(static) if (rows * L >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t j = r % g.kw, i = (r / g.kw) % g.kh, c = r / (g.kh * g.kw);
        const T* xc = x + c * g.H * g.W;   // (H, W)
        T* out = col + r * L;              // (OH, OW)
        if (same_width) {
            im2col_same_width_row(out, xc, g, i, j);
            continue;
        }
        const TapRange cols = valid_taps(g.W, g.OW, g.sw, g.pw, j);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            T* o = out + oh * g.OW;
            const int64_t ih = oh * g.sh - g.ph + i;
            if (ih < 0 || ih >= g.H) {
                std::fill(o, o + g.OW, T(0));
                continue;
            }
            std::fill(o, o + cols.first, T(0));
            const T* xr = xc + ih * g.W + (cols.first * g.sw - g.pw + j);  // the first valid tap
            const int64_t n = cols.last - cols.first;
            if (g.sw == 1) {
                std::copy(xr, xr + n, o + cols.first);
            } else {
                for (int64_t k = 0; k < n; ++k) o[cols.first + k] = xr[k * g.sw];
            }
            std::fill(o + cols.last, o + g.OW, T(0));
        }
    }
}

namespace {

// dx (H, W) += row (i, j) of the column matrix, for a stride-1 convolution whose output is as
// wide as its input (see im2col_same_width_row): the valid rows are one contiguous run of dx,
// shifted by (i − ph)·W + (j − pw), added in one loop instead of one short loop per output
// row (14 elements for a 14×14 plane, all of it a SIMD tail). The run's elements that land in
// padding columns would add into the neighbouring row, so they are zeroed in `col` first:
// adding +0 leaves every value as it was.
template <typename T>
void col2im_same_width_row(T* dxc, T* in, const Window2d& g, int64_t i, int64_t j) {
    const int64_t W = g.W;
    const TapRange rows = valid_taps(g.H, g.OH, 1, g.ph, i);
    if (rows.last <= rows.first) return;
    const TapRange cols = valid_taps(W, W, 1, g.pw, j);
    for (int64_t oh = rows.first; oh < rows.last; ++oh) {
        T* o = in + oh * W;
        for (int64_t ow = 0; ow < cols.first; ++ow) o[ow] = T(0);
        for (int64_t ow = cols.last; ow < W; ++ow) o[ow] = T(0);
    }
    const int64_t shift = (i - g.ph) * W + (j - g.pw);
    const int64_t lo = std::max(rows.first * W, -shift), hi = std::min(rows.last * W, g.H * W - shift);
#pragma omp simd
    for (int64_t k = lo; k < hi; ++k) dxc[k + shift] += in[k];
}

}  // namespace

template <typename T>
void col2im(T* dx, T* col, int64_t C, const Window2d& g) {
    const int64_t L = g.OH * g.OW;
    const bool same_width = g.sh == 1 && g.sw == 1 && g.OW == g.W;
#pragma omp parallel for schedule(static) if (C * g.kh * g.kw * L >= kParallelMin && C > 1)
    for (int64_t c = 0; c < C; ++c) {
        T* dxc = dx + c * g.H * g.W;  // (H, W)
        for (int64_t i = 0; i < g.kh; ++i) {
            for (int64_t j = 0; j < g.kw; ++j) {
                T* in = col + ((c * g.kh + i) * g.kw + j) * L;  // (OH, OW)
                if (same_width) {
                    col2im_same_width_row(dxc, in, g, i, j);
                    continue;
                }
                const TapRange cols = valid_taps(g.W, g.OW, g.sw, g.pw, j);
                const int64_t n = cols.last - cols.first;
                for (int64_t oh = 0; oh < g.OH; ++oh) {
                    const int64_t ih = oh * g.sh - g.ph + i;
                    if (ih < 0 || ih >= g.H) continue;
                    T* dr = dxc + ih * g.W + (cols.first * g.sw - g.pw + j);
                    const T* src = in + oh * g.OW + cols.first;
                    if (g.sw == 1) {
#pragma omp simd
                        for (int64_t k = 0; k < n; ++k) dr[k] += src[k];
                    } else {
                        for (int64_t k = 0; k < n; ++k) dr[k * g.sw] += src[k];
                    }
                }
            }
        }
    }
}

template <typename T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                              const Window2d& g) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oh = 0; oh < g.OH; ++oh)
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    double s = b ? static_cast<double>(b[o]) : 0.0;
                    for (int64_t c = 0; c < C; ++c)
                        for (int64_t i = 0; i < g.kh; ++i)
                            for (int64_t j = 0; j < g.kw; ++j) {
                                const int64_t ih = oh * g.sh - g.ph + i, iw = ow * g.sw - g.pw + j;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                s += static_cast<double>(x[((n * C + c) * g.H + ih) * g.W + iw]) *
                                     static_cast<double>(w[((o * C + c) * g.kh + i) * g.kw + j]);
                            }
                    y[((n * O + o) * g.OH + oh) * g.OW + ow] = static_cast<T>(s);
                }
}

// y[n,o,oh,ow] = b[o] + Σ_{c,i,j} w[o,c,i,j]·x[n,c,oh·sh−ph+i,ow·sw−pw+j], so each product
// sends dy·w to dx at the tap and dy·x to dw; db[o] = Σ dy[n,o,·,·].
template <typename T>
void conv2d_backward_reference(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C,
                               int64_t O, const Window2d& g) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oh = 0; oh < g.OH; ++oh)
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const T d = dy[((n * O + o) * g.OH + oh) * g.OW + ow];
                    if (db) db[o] += d;
                    for (int64_t c = 0; c < C; ++c)
                        for (int64_t i = 0; i < g.kh; ++i)
                            for (int64_t j = 0; j < g.kw; ++j) {
                                const int64_t ih = oh * g.sh - g.ph + i, iw = ow * g.sw - g.pw + j;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                const int64_t xi = ((n * C + c) * g.H + ih) * g.W + iw;
                                const int64_t wi = ((o * C + c) * g.kh + i) * g.kw + j;
                                if (dx) dx[xi] += d * w[wi];
                                if (dw) dw[wi] += d * x[xi];
                            }
                }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                      \
    template void im2col<T>(T*, const T*, int64_t, const Window2d&);                                                  \
    template void col2im<T>(T*, T*, int64_t, const Window2d&);                                                  \
    template void conv2d_forward_reference<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,            \
                                              const Window2d&);                                                       \
    template void conv2d_backward_reference<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,  \
                                               const Window2d&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
