// conv2d; see conv2d.hpp. Batches are split over the OpenMP threads by sample, each thread
// with its own column buffer and its own dW partial sum; the GEMMs inside run single-threaded
// on OpenBLAS's OpenMP build (it does not nest). A single sample keeps the loop serial and
// lets GEMM use the threads instead.
#include "framework/ops/conv2d.hpp"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "framework/kernels/conv2d.hpp"
#include "framework/kernels/gemm.hpp"
#include "framework/kernels/simd.hpp"
#include "framework/allocator.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

std::string shapes_of(const Shape& x, const Shape& w) {
    return "input of shape " + to_string(x) + " and weight of shape " + to_string(w);
}

// Threads that take samples: one per thread when there are several samples and enough work
// (multiply-adds) to pay for a parallel region; otherwise 1.
int sample_threads(int64_t N, int64_t work) {
    return N > 1 && work >= (int64_t{1} << 20) ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), N)) : 1;
}

}  // namespace

template <typename T>
BasicTensor<T> conv2d(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias,
                      Size2 stride, Size2 padding) {
    if (x.dim() != 4)
        throw std::invalid_argument("conv2d: expected 4-D input (N, C, H, W), but got input of shape " + to_string(x.shape()));
    if (weight.dim() != 4)
        throw std::invalid_argument("conv2d: expected 4-D weight (out_channels, in_channels, kH, kW), but got weight of shape " +
                                    to_string(weight.shape()));
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t O = weight.size(0), kh = weight.size(2), kw = weight.size(3);
    if (weight.size(1) != C)
        throw std::invalid_argument("conv2d: weight of shape " + to_string(weight.shape()) + " expects input with " +
                                    std::to_string(weight.size(1)) + " channels, but got input of shape " +
                                    to_string(x.shape()) + " (" + std::to_string(C) + " channels)");
    if (bias.defined() && bias.shape() != Shape{O})
        throw std::invalid_argument("conv2d: expected bias of shape " + to_string(Shape{O}) + " (one per output channel of weight " +
                                    to_string(weight.shape()) + "), but got bias of shape " + to_string(bias.shape()));
    if (stride.h < 1 || stride.w < 1 || padding.h < 0 || padding.w < 0)
        throw std::invalid_argument("conv2d: expected stride >= 1 and padding >= 0, but got stride=" + to_string(stride) +
                                    " and padding=" + to_string(padding));
    if (kh < 1 || kw < 1 || H + 2 * padding.h < kh || W + 2 * padding.w < kw)
        throw std::invalid_argument("conv2d: kernel size (" + std::to_string(kh) + " x " + std::to_string(kw) +
                                    ") can't be greater than the padded input size (" + std::to_string(H + 2 * padding.h) +
                                    " x " + std::to_string(W + 2 * padding.w) + "); " + shapes_of(x.shape(), weight.shape()) +
                                    ", padding=" + to_string(padding));

    const kernels::Window2d g{H, W, kh, kw, stride.h, stride.w, padding.h, padding.w,
                              kernels::window_output_extent(H, kh, stride.h, padding.h),
                              kernels::window_output_extent(W, kw, stride.w, padding.w)};
    const int64_t K = C * kh * kw;      // rows of the column matrix
    const int64_t L = g.OH * g.OW;      // its columns: output positions
    const int64_t in_size = C * H * W;  // one sample of x
    // A 1×1 kernel with stride 1 and no padding sees x[n] (C, H·W) as its column matrix already.
    const bool direct = kh == 1 && kw == 1 && stride == Size2(1) && padding == Size2(0);

    BasicTensor<T> y = empty<T>(Shape{N, O, g.OH, g.OW});  // every element is written below
    const int threads = sample_threads(N, N * O * K * L);
    const size_t col_size = direct ? 0 : static_cast<size_t>(K * L);
    ScratchBuffer<T> col(col_size * static_cast<size_t>(threads));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t n = 0; n < N; ++n) {
        T* coln = col.data() + col_size * static_cast<size_t>(omp_get_thread_num());
        T* yn = y.data() + n * O * L;  // (O, L)
        if (bias.defined())
            for (int64_t o = 0; o < O; ++o) std::fill(yn + o * L, yn + (o + 1) * L, bias.data()[o]);
        const T* xn = x.data() + n * in_size;
        if (!direct) kernels::im2col<T>(coln, xn, C, g);
        // y[n] (O, L) = W (O, K) · col (K, L) [+ y[n] holding the bias]
        kernels::gemm<T>(false, false, O, L, K, T(1), weight.data(), direct ? xn : coln, bias.defined() ? T(1) : T(0), yn);
    }

    // Per sample, with col = im2col(x[n]) (K, L) and y[n] = W·col + b:
    //   dW (O, K) += dy[n] (O, L) · colᵀ,   dcol (K, L) = Wᵀ · dy[n],   dx[n] += col2im(dcol),
    //   db[o] += Σ_l dy[n, o, l].
    const bool needs_grad = any_requires_grad(x, weight, bias);
    record_op("conv2d", y, needs_grad, [x, weight, bias, g, N, C, O, K, L, in_size, direct](const T* dy) mutable {
        // A gradient allocated just now is uninitialised (accumulate = false): its first write assigns.
        const GradBuffer<T> none{nullptr, true};
        const GradBuffer<T> dx = x.requires_grad() ? x.grad_buffer() : none;
        const GradBuffer<T> dw = weight.requires_grad() ? weight.grad_buffer() : none;
        const GradBuffer<T> db = bias.defined() && bias.requires_grad() ? bias.grad_buffer() : none;
        if (dx.data || dw.data) {
            const int threads = sample_threads(N, N * O * K * L);
            const size_t col_size = static_cast<size_t>(K * L), dw_size = static_cast<size_t>(O * K);
            ScratchBuffer<T> col(dw.data && !direct ? col_size * threads : 0);
            ScratchBuffer<T> dcol(dx.data && !direct ? col_size * threads : 0);
            // Each thread sums dW over its own samples; the partials are added in thread order.
            ScratchBuffer<T> dw_partial(dw.data ? dw_size * threads : 0);
            std::fill(dw_partial.data(), dw_partial.data() + dw_partial.size(), T(0));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
            for (int64_t n = 0; n < N; ++n) {
                const size_t t = static_cast<size_t>(omp_get_thread_num());
                const T* dyn = dy + n * O * L;
                const T* xn = x.data() + n * in_size;
                if (dw.data) {
                    T* coln = col.data() + col_size * t;
                    if (!direct) kernels::im2col<T>(coln, xn, C, g);
                    kernels::gemm<T>(false, true, O, K, L, T(1), dyn, direct ? xn : coln, T(1), dw_partial.data() + dw_size * t);
                }
                if (dx.data) {
                    T* dxn = dx.data + n * in_size;
                    if (direct) {
                        kernels::gemm<T>(true, false, K, L, O, T(1), weight.data(), dyn, dx.accumulate ? T(1) : T(0), dxn);
                    } else {
                        T* dcoln = dcol.data() + col_size * t;
                        kernels::gemm<T>(true, false, K, L, O, T(1), weight.data(), dyn, T(0), dcoln);
                        if (!dx.accumulate) std::fill(dxn, dxn + in_size, T(0));  // col2im adds
                        kernels::col2im<T>(dxn, dcoln, C, g);
                    }
                }
            }
            if (dw.data)
                for (size_t i = 0; i < dw_size; ++i) {
                    T s = dw.accumulate ? dw.data[i] : T(0);
                    for (int t = 0; t < threads; ++t) s += dw_partial[dw_size * static_cast<size_t>(t) + i];
                    dw.data[i] = s;
                }
        }
        if (db.data) {
            for (int64_t o = 0; o < O; ++o) {
                double s = 0.0;
                for (int64_t n = 0; n < N; ++n) s += kernels::simd::sum(dy + (n * O + o) * L, L);
                db.data[o] = (db.accumulate ? db.data[o] : T(0)) + static_cast<T>(s);
            }
        }
    });
    return y;
}

template BasicTensor<float> conv2d(const BasicTensor<float>&, const BasicTensor<float>&, const BasicTensor<float>&, Size2, Size2);
template BasicTensor<double> conv2d(const BasicTensor<double>&, const BasicTensor<double>&, const BasicTensor<double>&, Size2,
                                    Size2);

}  // namespace tapegrad
