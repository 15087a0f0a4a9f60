// im2col / col2im, the batch drivers over them and GEMM, and the direct reference
// convolution; see conv2d.hpp.
// Groups: im2col's rows are ordered by channel, so one column matrix of the whole sample holds
// each group's column matrix as a contiguous block of rows; the drivers run one GEMM per group
// on its block, and im2col / col2im know nothing of groups.
// Parallelism: the drivers over samples (Conv2dPlan); im2col over the rows of the column
// matrix and col2im over channels (each channel folds into its own plane of dx, so no two
// threads write the same element) when called outside the drivers' parallel loop.
#include "framework/kernels/conv2d.hpp"

#include <omp.h>

#include <algorithm>

#include "framework/core/checked.hpp"
#include "framework/core/parallel.hpp"
#include "framework/kernels/gemm.hpp"
#include "framework/kernels/reductions.hpp"

namespace tapegrad::kernels {

namespace {

// Row r = (c, i, j) of the column matrix when the stride is 1 and the output is as wide as
// the input (a "same" convolution, e.g. 3×3 with padding 1, or 3×3 dilated by 2 with padding
// 2): then output row oh reads input row oh − ph + oi from column oj − pw on, where (oi, oj) =
// (i·dil_h, j·dil_w) is the tap's offset, so the rows with a valid input row are one
// contiguous run of x, shifted by (oi − ph)·W + (oj − pw) (dilation only moves the offset;
// the run stays contiguous because the stride is 1). One copy of that run (instead of a
// short copy per row) and then the columns that fall in the padding set to zero: the copy
// put the neighbouring row's first or last elements there.
template <typename T>
void im2col_same_width_row(T* out, const T* xc, const Window2d& g, int64_t oi, int64_t oj) {
    const int64_t W = g.W;
    const TapRange rows = valid_taps(g.H, g.OH, 1, g.ph, oi);
    const TapRange cols = valid_taps(W, W, 1, g.pw, oj);
    std::fill(out, out + rows.first * W, T(0));
    if (rows.last > rows.first) {
        const int64_t shift = (oi - g.ph) * W + (oj - g.pw);
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
#pragma omp parallel for schedule(static) if (worth_parallel(Work::elements, rows * L, rows))
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t j = r % g.kw, i = (r / g.kw) % g.kh, c = r / (g.kh * g.kw);
        const int64_t oi = i * g.dil_h, oj = j * g.dil_w;  // the tap's offset in the window
        const T* xc = x + c * g.H * g.W;                   // (H, W)
        T* out = col + r * L;                              // (OH, OW)
        if (same_width) {
            im2col_same_width_row(out, xc, g, oi, oj);
            continue;
        }
        const TapRange cols = valid_taps(g.W, g.OW, g.sw, g.pw, oj);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            T* o = out + oh * g.OW;
            const int64_t ih = oh * g.sh - g.ph + oi;
            if (ih < 0 || ih >= g.H) {
                std::fill(o, o + g.OW, T(0));
                continue;
            }
            std::fill(o, o + cols.first, T(0));
            const T* xr = xc + ih * g.W + (cols.first * g.sw - g.pw + oj);  // the first valid tap
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
// shifted by (oi − ph)·W + (oj − pw), added in one loop instead of one short loop per output
// row (14 elements for a 14×14 plane, all of it a SIMD tail). The run's elements that land in
// padding columns would add into the neighbouring row, so they are zeroed in `col` first:
// adding +0 leaves every value as it was.
template <typename T>
void col2im_same_width_row(T* dxc, T* in, const Window2d& g, int64_t oi, int64_t oj) {
    const int64_t W = g.W;
    const TapRange rows = valid_taps(g.H, g.OH, 1, g.ph, oi);
    if (rows.last <= rows.first) return;
    const TapRange cols = valid_taps(W, W, 1, g.pw, oj);
    for (int64_t oh = rows.first; oh < rows.last; ++oh) {
        T* o = in + oh * W;
        for (int64_t ow = 0; ow < cols.first; ++ow) o[ow] = T(0);
        for (int64_t ow = cols.last; ow < W; ++ow) o[ow] = T(0);
    }
    const int64_t shift = (oi - g.ph) * W + (oj - g.pw);
    const int64_t lo = std::max(rows.first * W, -shift), hi = std::min(rows.last * W, g.H * W - shift);
#pragma omp simd
    for (int64_t k = lo; k < hi; ++k) dxc[k + shift] += in[k];
}

}  // namespace

template <typename T>
void col2im(T* dx, T* col, int64_t C, const Window2d& g) {
    const int64_t L = g.OH * g.OW;
    const bool same_width = g.sh == 1 && g.sw == 1 && g.OW == g.W;
#pragma omp parallel for schedule(static) if (worth_parallel(Work::elements, C * g.kh * g.kw * L, C))
    for (int64_t c = 0; c < C; ++c) {
        T* dxc = dx + c * g.H * g.W;  // (H, W)
        for (int64_t i = 0; i < g.kh; ++i) {
            for (int64_t j = 0; j < g.kw; ++j) {
                T* in = col + ((c * g.kh + i) * g.kw + j) * L;     // (OH, OW)
                const int64_t oi = i * g.dil_h, oj = j * g.dil_w;  // the tap's offset in the window
                if (same_width) {
                    col2im_same_width_row(dxc, in, g, oi, oj);
                    continue;
                }
                const TapRange cols = valid_taps(g.W, g.OW, g.sw, g.pw, oj);
                const int64_t n = cols.last - cols.first;
                for (int64_t oh = 0; oh < g.OH; ++oh) {
                    const int64_t ih = oh * g.sh - g.ph + oi;
                    if (ih < 0 || ih >= g.H) continue;
                    T* dr = dxc + ih * g.W + (cols.first * g.sw - g.pw + oj);
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


// --- the batch drivers ------------------------------------------------------------------------

namespace {

// Every size a plan holds is counted with core/checked.hpp, so a geometry whose column
// matrix or workspace does not fit in int64 is std::length_error naming it, not a wrapped
// buffer size. The work estimate only saturates: past int64 it just means "a lot".
constexpr const char* kColumns = "conv2d: im2col column matrix (C·kh·kw x OH·OW)";
constexpr const char* kWorkspace = "conv2d: workspace";

Conv2dPlan plan_for(int64_t N, int64_t C, int64_t O, int64_t groups, const Window2d& g) {
    const int64_t K = checked_mul(C, checked_mul(g.kh, g.kw, kColumns), kColumns);
    const int64_t L = checked_mul(g.OH, g.OW, kColumns);
    Conv2dPlan plan;
    // A 1×1 kernel reads no other position, so its dilation does not matter.
    plan.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
    plan.col_size = plan.direct ? 0 : checked_mul(K, L, kColumns);
    // Each output channel sees the C/groups channels of its group.
    const int64_t multiply_adds = saturating_mul(saturating_mul(N, O), saturating_mul(K / groups, L));
    plan.threads = parallel_threads(Work::multiply_adds, multiply_adds, N);
    return plan;
}

Conv2dPlan depthwise_plan(int64_t N, int64_t O, const Window2d& g) {
    Conv2dPlan plan;
    plan.depthwise = true;
    plan.threads = depthwise_threads(N, O, g);
    return plan;
}

}  // namespace

Conv2dPlan conv2d_forward_plan(int64_t N, int64_t C, int64_t O, int64_t groups, const Window2d& g) {
    if (depthwise_applies(C, O, groups)) return depthwise_plan(N, O, g);
    Conv2dPlan plan = plan_for(N, C, O, groups, g);
    if (groups == 1 && winograd_applies(C, O, g)) {
        plan.winograd = true;
        plan.forward = winograd_forward_plan(N, C, O, g);
        plan.workspace = plan.forward.workspace;
        return plan;
    }
    plan.workspace = checked_mul(plan.col_size, plan.threads, kWorkspace);
    return plan;
}

// The backward's workspace, per thread: a column matrix for dW, one for dcol, a dW partial.
Conv2dPlan conv2d_backward_plan(int64_t N, int64_t C, int64_t O, int64_t groups, const Window2d& g, bool dx, bool dw) {
    if (depthwise_applies(C, O, groups)) return depthwise_plan(N, O, g);
    Conv2dPlan plan = plan_for(N, C, O, groups, g);
    if (groups == 1 && winograd_applies(C, O, g)) {  // dW, then dx, each in the whole workspace
        plan.winograd = true;
        if (dw) plan.weight = winograd_backward_weight_plan(N, C, O, g);
        if (dx) plan.data = winograd_backward_data_plan(N, C, O, g);
        plan.workspace = std::max(plan.weight.workspace, plan.data.workspace);
        return plan;
    }
    const int64_t dw_size =
        checked_mul(O, checked_mul(C / groups, checked_mul(g.kh, g.kw, kWorkspace), kWorkspace), kWorkspace);
    const int64_t per_thread =
        checked_add(dw ? checked_add(plan.col_size, dw_size, kWorkspace) : 0, dx ? plan.col_size : 0, kWorkspace);
    plan.workspace = checked_mul(per_thread, plan.threads, kWorkspace);
    return plan;
}

// Group gi of a sample: input channels gi·Cg … (gi+1)·Cg − 1, output channels gi·Og … , weight
// rows gi·Og … (each (Cg·kh·kw) long), and rows gi·Kg … of the sample's column matrix.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O, int64_t groups,
                    const Window2d& g, const Conv2dPlan& plan, T* workspace) {
    if (plan.depthwise) {
        conv2d_depthwise_forward(y, x, w, b, N, C, O, g, plan.threads);
        return;
    }
    if (plan.winograd) {
        conv2d_winograd_forward(y, x, w, b, N, C, O, g, plan.forward, workspace);
        return;
    }
    const int64_t K = C * g.kh * g.kw, L = g.OH * g.OW, in_size = C * g.H * g.W;
    const int64_t Kg = K / groups, Og = O / groups;
#pragma omp parallel for schedule(static) num_threads(plan.threads) if (plan.threads > 1)
    for (int64_t n = 0; n < N; ++n) {
        T* coln = workspace + plan.col_size * omp_get_thread_num();
        T* yn = y + n * O * L;  // (O, L)
        if (b)
            for (int64_t o = 0; o < O; ++o) std::fill(yn + o * L, yn + (o + 1) * L, b[o]);
        const T* xn = x + n * in_size;
        if (!plan.direct) im2col<T>(coln, xn, C, g);
        const T* cols = plan.direct ? xn : coln;  // (K, L)
        // y[n] group gi (Og, L) = W_gi (Og, Kg) · col_gi (Kg, L) [+ y[n] holding the bias]
        for (int64_t gi = 0; gi < groups; ++gi)
            gemm<T>(false, false, Og, L, Kg, T(1), w + gi * Og * Kg, cols + gi * Kg * L, b ? T(1) : T(0),
                    yn + gi * Og * L);
    }
}

template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C, int64_t O,
                     int64_t groups, const Window2d& g, const Conv2dPlan& plan, T* workspace, bool accumulate_dx,
                     bool accumulate_dw, bool accumulate_db) {
    const int64_t K = C * g.kh * g.kw, L = g.OH * g.OW, in_size = C * g.H * g.W;
    const int64_t Kg = K / groups, Og = O / groups;
    if (plan.depthwise) {
        if (dw) conv2d_depthwise_backward_weight(dw, dy, x, N, C, O, g, plan.threads, accumulate_dw);
        if (dx) conv2d_depthwise_backward_data(dx, dy, w, N, C, O, g, plan.threads, accumulate_dx);
    } else if (plan.winograd) {
        if (dw) conv2d_winograd_backward_weight(dw, dy, x, N, C, O, g, plan.weight, workspace, accumulate_dw);
        if (dx) conv2d_winograd_backward_data(dx, dy, w, N, C, O, g, plan.data, workspace, accumulate_dx);
    } else if (dx || dw) {
        const int threads = plan.threads;
        const int64_t col_size = plan.col_size, dw_size = O * Kg;
        // The workspace: [col per thread (dW)] [dcol per thread (dx)] [dW partial per thread].
        T* col = workspace;
        T* dcol = col + (dw ? col_size * threads : 0);
        T* dw_partial = dcol + (dx ? col_size * threads : 0);
        if (dw) std::fill(dw_partial, dw_partial + dw_size * threads, T(0));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
        for (int64_t n = 0; n < N; ++n) {
            const int64_t t = omp_get_thread_num();
            const T* dyn = dy + n * O * L;
            const T* xn = x + n * in_size;
            if (dw) {
                T* coln = col + col_size * t;
                if (!plan.direct) im2col<T>(coln, xn, C, g);
                const T* cols = plan.direct ? xn : coln;
                T* dwt = dw_partial + dw_size * t;
                // dW_gi (Og, Kg) += dy[n] group gi (Og, L) · col_giᵀ (L, Kg)
                for (int64_t gi = 0; gi < groups; ++gi)
                    gemm<T>(false, true, Og, Kg, L, T(1), dyn + gi * Og * L, cols + gi * Kg * L, T(1),
                            dwt + gi * Og * Kg);
            }
            if (dx) {
                T* dxn = dx + n * in_size;
                // dcol_gi (Kg, L) = W_giᵀ (Kg, Og) · dy[n] group gi (Og, L); with the direct path
                // dcol is dx[n] itself.
                const bool direct = plan.direct;
                T* dcoln = direct ? dxn : dcol + col_size * t;
                const T beta = direct && accumulate_dx ? T(1) : T(0);
                for (int64_t gi = 0; gi < groups; ++gi)
                    gemm<T>(true, false, Kg, L, Og, T(1), w + gi * Og * Kg, dyn + gi * Og * L, beta,
                            dcoln + gi * Kg * L);
                if (!direct) {
                    if (!accumulate_dx) std::fill(dxn, dxn + in_size, T(0));  // col2im adds
                    col2im<T>(dxn, dcoln, C, g);
                }
            }
        }
        if (dw)
            for (int64_t i = 0; i < dw_size; ++i) {
                T s = accumulate_dw ? dw[i] : T(0);
                for (int t = 0; t < threads; ++t) s += dw_partial[dw_size * t + i];
                dw[i] = s;
            }
    }
    if (db)
        for (int64_t o = 0; o < O; ++o) {
            double s = 0.0;
            for (int64_t n = 0; n < N; ++n) s += sum(dy + (n * O + o) * L, L);
            db[o] = (accumulate_db ? db[o] : T(0)) + static_cast<T>(s);
        }
}

// --- the reference twins ----------------------------------------------------------------------

// y[n,o,oh,ow] = b[o] + Σ_{c,i,j} w[o,c,i,j]·x[n, gi·Cg + c, oh·sh − ph + i·dil_h, ow·sw − pw + j·dil_w]
// over the Cg = C/groups channels of o's group gi = o / (O/groups); so each product sends
// dy·w to dx at the tap and dy·x to dw, and db[o] = Σ dy[n,o,·,·].
template <typename T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O, int64_t groups,
                              const Window2d& g) {
    const int64_t Cg = C / groups, Og = O / groups;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oh = 0; oh < g.OH; ++oh)
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    double s = b ? static_cast<double>(b[o]) : 0.0;
                    for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t i = 0; i < g.kh; ++i)
                            for (int64_t j = 0; j < g.kw; ++j) {
                                const int64_t ih = oh * g.sh - g.ph + i * g.dil_h;
                                const int64_t iw = ow * g.sw - g.pw + j * g.dil_w;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                const int64_t xc = o / Og * Cg + c;
                                s += static_cast<double>(x[((n * C + xc) * g.H + ih) * g.W + iw]) *
                                     static_cast<double>(w[((o * Cg + c) * g.kh + i) * g.kw + j]);
                            }
                    y[((n * O + o) * g.OH + oh) * g.OW + ow] = static_cast<T>(s);
                }
}

template <typename T>
void conv2d_backward_reference(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C,
                               int64_t O, int64_t groups, const Window2d& g) {
    const int64_t Cg = C / groups, Og = O / groups;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oh = 0; oh < g.OH; ++oh)
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const T d = dy[((n * O + o) * g.OH + oh) * g.OW + ow];
                    if (db) db[o] += d;
                    for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t i = 0; i < g.kh; ++i)
                            for (int64_t j = 0; j < g.kw; ++j) {
                                const int64_t ih = oh * g.sh - g.ph + i * g.dil_h;
                                const int64_t iw = ow * g.sw - g.pw + j * g.dil_w;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                const int64_t xi = ((n * C + o / Og * Cg + c) * g.H + ih) * g.W + iw;
                                const int64_t wi = ((o * Cg + c) * g.kh + i) * g.kw + j;
                                if (dx) dx[xi] += d * w[wi];
                                if (dw) dw[wi] += d * x[xi];
                            }
                }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                     \
    template void im2col<T>(T*, const T*, int64_t, const Window2d&);                                                \
    template void col2im<T>(T*, T*, int64_t, const Window2d&);                                                      \
    template void conv2d_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t,           \
                                    const Window2d&, const Conv2dPlan&, T*);                                        \
    template void conv2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t,  \
                                     const Window2d&, const Conv2dPlan&, T*, bool, bool, bool);                     \
    template void conv2d_forward_reference<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t, \
                                              const Window2d&);                                                     \
    template void conv2d_backward_reference<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, \
                                               int64_t, const Window2d&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
